import type { Request } from 'express';
import { z } from 'zod';
import { invalidRequest } from '../errors';

/** Validates a JSON body (admin and account APIs) with a strict schema: unknown fields are refused. */
export function readJson<T>(req: Request, schema: z.ZodType<T>): T {
  if (req.body !== undefined && !req.is('application/json'))
    throw invalidRequest('The request body must be application/json.', { status: 415 });
  const result = schema.safeParse(req.body ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw invalidRequest(`${where}${issue?.message ?? 'invalid body'}`);
  }
  return result.data;
}

/** Validates the query string the same way. */
export function readQuery<T>(req: Request, schema: z.ZodType<T>): T {
  const result = schema.safeParse(req.query);
  if (!result.success)
    throw invalidRequest(
      `${result.error.issues[0]?.path.join('.') ?? 'query'}: ${result.error.issues[0]?.message ?? 'invalid'}`,
    );
  return result.data;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
export const text = (max: number) => z.string().max(max).regex(NO_CONTROL, 'must not contain control characters');
export const names = (max = 50) => z.array(text(128)).max(max);
export const seconds = z.number().int().min(5).nullable();
