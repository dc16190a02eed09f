import { z } from 'zod';
import { invalidRequest } from '../errors';

// C0 controls and DEL: never meaningful in a username, scope, token or id.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A string parameter with a length bound and no control characters; `required` names it when absent. */
export function param(name: string, maxLength: number) {
  return z
    .string({
      error: (issue) =>
        issue.input === undefined ? `The ${name} parameter is missing.` : `The ${name} parameter must be a string.`,
    })
    .max(maxLength, `The ${name} parameter is too long.`)
    .refine((v) => !CONTROL.test(v), `The ${name} parameter contains control characters.`);
}

/** Passwords may hold any printable character, spaces included; only the length is bounded here. */
export function passwordParam(name = 'password') {
  return (
    z
      .string({
        error: (issue) =>
          issue.input === undefined ? `The ${name} parameter is missing.` : `The ${name} parameter must be a string.`,
      })
      .max(1024, `The ${name} parameter is too long.`)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: matching NUL is the point
      .refine((v) => !/\u0000/.test(v), `The ${name} parameter contains a NUL character.`)
  );
}

export const SCOPE = param('scope', 2048).optional();

/** Validates parameters against a schema; the first problem becomes invalid_request. */
export function validateParams<T>(schema: z.ZodType<T>, params: unknown): T {
  const result = schema.safeParse(params);
  if (!result.success) throw invalidRequest(result.error.issues[0]?.message ?? 'The request is malformed.');
  return result.data;
}

/** The keys a z.object schema declares. */
export function declaredParameters(schema: z.ZodType): string[] {
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}
