/**
 * Schema building blocks shared by the route schemas: text that PostgreSQL can store, id path
 * parameters, and the reusable response shapes. Kept apart so every route validates these the same way.
 */
import { z } from 'zod';

/**
 * A string of at most `max` characters without NUL: PostgreSQL's text and jsonb cannot hold U+0000,
 * so a NUL must be a 400 here rather than a database error later.
 */
export function plainText(max: number, label = 'The value'): z.ZodString {
  return z
    .string()
    .max(max, `${label} must be at most ${max} characters.`)
    .refine((s) => !s.includes('\u0000'), `${label} must not contain NUL characters.`);
}

/** A path parameter holding a UUID; anything else is a 400 before any lookup. */
export function uuidParam(what: string): z.ZodUUID {
  return z.uuid({ message: `Invalid ${what} id.` });
}

/** `{ id }` path parameters for a resource. */
export function idParams(what: string): z.ZodObject<{ id: z.ZodUUID }> {
  return z.object({ id: uuidParam(what).describe(`The ${what} id.`) });
}

/** An ISO-8601 timestamp in responses. */
export const timestamp = z.iso.datetime({ offset: true });

/**
 * True when A and B are the same type: `sameType<z.infer<typeof schema>, Dto>(true)` fails to compile
 * when a response schema and the service's DTO drift apart.
 */
export type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export const sameType = <A, B>(proof: Same<A, B>): Same<A, B> => proof;
