// Validates an OpenAPI document with @scalar/openapi-parser (the OpenAPI 3.2 JSON Schema, references
// resolved), run as a child process because the package is ESM-only. Usage: node validate-openapi.mjs
// < document.json. Prints `{valid, version, errors}` as one JSON line.
/* global process */
import { validate } from '@scalar/openapi-parser';

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const result = await validate(JSON.parse(input));
process.stdout.write(
  `${JSON.stringify({ valid: result.valid, version: result.version, errors: result.errors ?? [] })}\n`,
);
