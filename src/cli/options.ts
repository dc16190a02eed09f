import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../config';
import { DomainError } from '../errors';

/** Option parsers shared by the command groups. */

/** "a,b c" and repeated options: one list. */
export const list = (value: string, previous: string[] = []) => [...previous, ...value.split(/[\s,]+/).filter(Boolean)];

export const seconds = (value: string) => {
  const parsed = parseDuration(value);
  if (parsed === undefined) throw new InvalidArgumentError(`not a duration: "${value}" (use 900, 15m, 12h or 14d)`);
  return parsed;
};

/** "2026-01-01T00:00:00Z" or a duration ago ("24h"). */
export function parseWhen(value: string, now: number): Date {
  const ago = parseDuration(value);
  if (ago !== undefined) return new Date(now - ago * 1000);
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new DomainError('invalid', `Not a time: "${value}" (use an ISO date or a duration like 24h).`);
  return date;
}
