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

/**
 * The stable, machine-readable `code` of every error body of authd's own APIs (/admin, /account),
 * beside the human `error_description`, which may be reworded. New codes may be added; a code's
 * meaning never changes. The first group are the OAuth codes an API error falls back to.
 */
export const API_ERROR_CODES = [
  'invalid_request',
  'access_denied',
  'server_error',
  'temporarily_unavailable',
  'too_many_attempts',
  'unsupported_media_type',
  'not_found',
  'conflict',
  'user_not_found',
  'username_taken',
  'username_confusable',
  'email_taken',
  'invalid_username',
  'invalid_email',
  'invalid_metadata',
  'invalid_name',
  'weak_password',
  'wrong_password',
  'password_changed_concurrently',
  'client_not_found',
  'client_exists',
  'invalid_client_settings',
  'public_client_has_no_secret',
  'key_not_found',
  'key_already_revoked',
  'key_already_retired',
  'only_active_key',
  'immediate_rotation_required',
  'session_not_found',
  'unknown_event_type',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

type DomainErrorKind = 'invalid' | 'conflict' | 'not_found';
const KIND_CODE: Record<DomainErrorKind, ApiErrorCode> = {
  invalid: 'invalid_request',
  conflict: 'conflict',
  not_found: 'not_found',
};

/** A rule of the domain was broken (bad input, a duplicate, a missing record); the message is safe to show. */
export class DomainError extends Error {
  /** Stable across releases (the API's `code`); the message is not. */
  readonly code: ApiErrorCode;

  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    code?: ApiErrorCode,
  ) {
    super(message);
    this.name = 'DomainError';
    this.code = code ?? KIND_CODE[kind];
  }
}
