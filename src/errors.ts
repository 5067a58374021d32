/**
 * Domain errors with stable machine codes. The HTTP error handler turns them into the
 * `{error: {code, message, details?}}` envelope; anything that is not an AppError becomes a 500
 * whose message is never shown. Codes are public API: add new ones, never rename.
 */

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  constructor(message: string, details?: unknown, code = 'validation_failed') {
    super(400, code, message, details);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'A valid API token is required.') {
    super(401, 'unauthorized', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'This action requires the admin role.') {
    super(403, 'forbidden', message);
  }
}

export class NotFoundError extends AppError {
  constructor(what: string, code = `${what}_not_found`) {
    super(404, code, `${what.charAt(0).toUpperCase()}${what.slice(1).replace(/_/g, ' ')} not found.`);
  }
}

export class ConflictError extends AppError {
  constructor(code: string, message: string, details?: unknown) {
    super(409, code, message, details);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message: string) {
    super(413, 'payload_too_large', message);
  }
}

export class RateLimitedError extends AppError {
  constructor(code: string, message: string, details?: unknown) {
    super(429, code, message, details);
  }
}

export class DependencyUnavailableError extends AppError {
  constructor(what: string) {
    super(503, 'dependency_unavailable', `${what} is unavailable; try again shortly.`);
  }
}

/** A server chatd depends on for this request (an OAuth authorization server, an MCP server) failed. */
export class UpstreamError extends AppError {
  constructor(code: string, message: string, details?: unknown) {
    super(502, code, message, details);
  }
}
