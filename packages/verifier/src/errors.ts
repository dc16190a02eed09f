import type { VerifierReason } from './rules';

/** Why a bearer token was not accepted, in RFC 6750 terms. */
export type BearerErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'insufficient_user_authentication';

/** RFC 9470 §3: what a step-up challenge asks for. */
export interface StepUpChallenge {
  /** The acceptable acr values, space-separated in the challenge. */
  acrValues: readonly string[];
  /** Seconds since the last interactive authentication the resource accepts. */
  maxAge?: number;
}

/**
 * A refusal. `code`, `description` and `scope` make the RFC 6750 answer; `reason` says which rule
 * refused the token, for the service's logs only (it is never sent).
 */
export class BearerError extends Error {
  constructor(
    /** Undefined when the request carried no token at all (RFC 6750 §3.1: then no error code). */
    readonly code: BearerErrorCode | undefined,
    readonly description: string,
    readonly status: number,
    readonly reason: VerifierReason,
    readonly scope?: string,
    readonly stepUp?: StepUpChallenge,
  ) {
    super(description);
    this.name = 'BearerError';
  }
}

/** The revocation check or the JWKS fetch could not be made and the verifier is set to fail closed. */
export class VerifierUnavailableError extends Error {
  readonly reason = 'unavailable' satisfies VerifierReason;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VerifierUnavailableError';
  }
}

export const missingToken = () => new BearerError(undefined, 'Authentication required.', 401, 'missing_token');
export const malformedHeader = () =>
  new BearerError('invalid_request', 'The Authorization header must be "Bearer <token>".', 400, 'malformed_header');
export const invalidToken = (reason: VerifierReason, description: string) =>
  new BearerError('invalid_token', description, 401, reason);
export const insufficientScope = (scopes: readonly string[]) =>
  new BearerError(
    'insufficient_scope',
    'The token lacks the scope this resource needs.',
    403,
    'insufficient_scope',
    scopes.join(' '),
  );
/** RFC 9470 §3: 401 insufficient_user_authentication, naming the acr values (and max_age) that would do. */
export function insufficientUserAuthentication(
  reason: 'insufficient_acr' | 'stale_authentication',
  challenge: StepUpChallenge,
): BearerError {
  const description =
    reason === 'insufficient_acr'
      ? 'A different authentication level is required.'
      : 'More recent authentication is required.';
  return new BearerError('insufficient_user_authentication', description, 401, reason, undefined, challenge);
}
export const insufficientRole = (roles: readonly string[]) =>
  new BearerError('insufficient_scope', `The caller lacks the role: ${roles.join(' ')}.`, 403, 'insufficient_role');
