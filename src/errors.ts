/**
 * One error shape for the OAuth endpoints (RFC 6749 §5.2). The description is fixed and public;
 * the detail is for the log only and is never sent.
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'unsupported_token_type'
  | 'access_denied'
  | 'mfa_required'
  | 'server_error'
  | 'temporarily_unavailable';

const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  unsupported_token_type: 400,
  access_denied: 403,
  mfa_required: 403,
  server_error: 500,
  temporarily_unavailable: 503,
};

export interface OAuthErrorOptions {
  /** Logged, never sent. */
  detail?: string;
  cause?: unknown;
  /** Override the default status, e.g. 413 for an oversized body. */
  status?: number;
  headers?: Record<string, string>;
  /** Further members of the error body (the mfa_token of mfa_required). */
  fields?: Record<string, string | number>;
}

export class OAuthError extends Error {
  readonly status: number;
  readonly detail: string | undefined;
  readonly headers: Record<string, string>;
  readonly fields: Record<string, string | number>;

  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    options: OAuthErrorOptions = {},
  ) {
    super(`${code}: ${description}`, { cause: options.cause });
    this.name = 'OAuthError';
    this.status = options.status ?? STATUS[code];
    this.detail = options.detail;
    this.headers = options.headers ?? {};
    this.fields = options.fields ?? {};
  }

  toJSON(): { error: OAuthErrorCode; error_description: string; [field: string]: string | number } {
    return { ...this.fields, error: this.code, error_description: this.description };
  }
}

export const invalidRequest = (description: string, options?: OAuthErrorOptions) =>
  new OAuthError('invalid_request', description, options);
export const invalidGrant = (description: string, options?: OAuthErrorOptions) =>
  new OAuthError('invalid_grant', description, options);
export const invalidScope = (description: string, options?: OAuthErrorOptions) =>
  new OAuthError('invalid_scope', description, options);
export const unauthorizedClient = (description: string, options?: OAuthErrorOptions) =>
  new OAuthError('unauthorized_client', description, options);

/** A client that failed to authenticate. Basic tells us to send a matching challenge (RFC 6749 §5.2). */
export function invalidClient(usedBasic: boolean, detail?: string): OAuthError {
  return new OAuthError('invalid_client', 'Client authentication failed.', {
    detail,
    headers: usedBasic ? { 'WWW-Authenticate': 'Basic realm="authd", charset="UTF-8"' } : {},
  });
}

/** Raised by a store when its backend cannot answer in time; becomes 503 at the edge. */
export class UnavailableError extends Error {
  constructor(
    readonly dependency: string,
    options?: { cause?: unknown },
  ) {
    super(`${dependency} is unavailable`, options);
    this.name = 'UnavailableError';
  }
}

/** A rule of the domain was broken (bad input, a duplicate, a missing record); the message is safe to show. */
export class DomainError extends Error {
  constructor(
    readonly kind: 'invalid' | 'conflict' | 'not_found',
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
