/** Why a bearer token was not accepted, in RFC 6750 terms. */
export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

export class BearerError extends Error {
  constructor(
    /** Undefined when the request carried no token at all (RFC 6750 §3.1: then no error code). */
    readonly code: BearerErrorCode | undefined,
    readonly description: string,
    readonly status: number,
    readonly scope?: string,
  ) {
    super(description);
    this.name = 'BearerError';
  }
}

/** The revocation check could not be made and the verifier is set to fail closed. */
export class VerifierUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VerifierUnavailableError';
  }
}

export const missingToken = () => new BearerError(undefined, 'Authentication required.', 401);
export const invalidToken = (description: string) => new BearerError('invalid_token', description, 401);
export const insufficientScope = (scopes: readonly string[]) =>
  new BearerError('insufficient_scope', 'The token lacks the scope this resource needs.', 403, scopes.join(' '));
