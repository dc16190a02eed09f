import { OAuthError } from '../errors';
import type { LoginThrottle, ThrottleDecision } from './login-throttle';

/** Who is trying, as the login throttle counts them. */
export interface Attempter {
  /** The normalised username (or, for junk, the raw one lower-cased). */
  username: string;
  ip: string | null | undefined;
  /** A device cookie vouches for the username (password sign-ins from a known browser). */
  trustedDevice?: boolean;
}

export interface LoginAttemptOptions {
  /** How the 429 names what failed too often: "login attempts" (the grants) or "attempts". */
  noun?: string;
  /** Told of a refusal before the 429 is thrown (the grants audit it). */
  onRefused?(decision: Extract<ThrottleDecision, { allowed: false }>): void;
}

/** One counted attempt: what the caller does with it once the secret has been checked. */
export interface LoginAttempt {
  /**
   * Runs the check of the secret. If it throws an error that is not a failure of the attempt
   * (hashing at capacity, a store down, a wrong-parameter answer), the attempt is given back; a
   * failure stays counted. `isFailure` decides; by default no thrown error is a failure (a wrong
   * secret is then a returned value the caller turns into its answer).
   */
  check<T>(run: () => Promise<T>, isFailure?: (error: unknown) => boolean): Promise<T>;
  /** The sign-in completed: clears the user+IP counter (see LoginThrottle.succeeded). */
  succeeded(): Promise<void>;
  /** Neither a success nor a failure (a password right but a second factor still to come). */
  release(): Promise<void>;
}

/** The answer to a refused attempt, with the seconds until the next one may be made. */
export function tooManyAttempts(decision: Extract<ThrottleDecision, { allowed: false }>, noun = 'attempts') {
  return new OAuthError(
    'temporarily_unavailable',
    `Too many failed ${noun}; try again in ${decision.retryAfterSeconds} seconds.`,
    {
      status: 429,
      headers: { 'Retry-After': String(decision.retryAfterSeconds) },
      detail: decision.reason,
    },
  );
}

/**
 * Counts an attempt at a user's secret (a password, a second-factor code) in the login throttle
 * before any checking work: refused at once, with the 429 and its Retry-After, while the user+IP
 * is locked or a ceiling is reached. Every place that checks a secret goes through here.
 */
export async function beginLoginAttempt(
  throttle: Pick<LoginThrottle, 'begin' | 'succeeded' | 'release'>,
  who: Attempter,
  options: LoginAttemptOptions = {},
): Promise<LoginAttempt> {
  const ip = who.ip ?? 'unknown';
  const decision = await throttle.begin(who.username, ip, { trustedDevice: who.trustedDevice === true });
  if (!decision.allowed) {
    options.onRefused?.(decision);
    throw tooManyAttempts(decision, options.noun);
  }
  const release = () => throttle.release(who.username, ip, decision);
  return {
    async check(run, isFailure = () => false) {
      try {
        return await run();
      } catch (error) {
        if (!isFailure(error)) await release().catch(() => {});
        throw error;
      }
    },
    succeeded: () => throttle.succeeded(who.username, ip),
    release,
  };
}

/** An attempt whose check either succeeds (and completes the sign-in) or throws. */
export async function checkThrottled<T>(
  throttle: Pick<LoginThrottle, 'begin' | 'succeeded' | 'release'>,
  who: Attempter,
  run: () => Promise<T>,
  isFailure: (error: unknown) => boolean,
): Promise<T> {
  const attempt = await beginLoginAttempt(throttle, who);
  const result = await attempt.check(run, isFailure);
  await attempt.succeeded();
  return result;
}
