import { METADATA_KEY } from '../users/user-metadata';

/**
 * Claims about the user that a client may ask for in its access tokens, beyond sub and roles:
 * the standard ones, each only when the token's scope asks for it (OpenID Connect Core §5.4:
 * `profile` → preferred_username, `email` → email and email_verified), and keys of the user's
 * metadata as top-level claims. No configured claim may replace one that verifiers rely on.
 */
const STANDARD_USER_CLAIMS = ['preferred_username', 'email', 'email_verified'] as const;
export type StandardUserClaim = (typeof STANDARD_USER_CLAIMS)[number];

const SCOPE_OF: Record<StandardUserClaim, string> = {
  preferred_username: 'profile',
  email: 'email',
  email_verified: 'email',
};

/**
 * RFC 7519 §4.1, RFC 9068 §2.2 (and the identity claims of §2.2.3.1 it borrows), RFC 8693 §4,
 * RFC 7800, OpenID Connect's ID-token and standard claims, and authd's own.
 */
const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'typ',
  'cty',
  'client_id',
  'scope',
  'auth_time',
  'acr',
  'amr',
  'groups',
  'roles',
  'entitlements',
  'act',
  'may_act',
  'cnf',
  'azp',
  'nonce',
  'at_hash',
  'c_hash',
  'sid',
  'token_type',
  'active',
  'username',
  'name',
  'given_name',
  'family_name',
  'middle_name',
  'nickname',
  'profile',
  'picture',
  'website',
  'gender',
  'birthdate',
  'zoneinfo',
  'locale',
  'updated_at',
  'phone_number',
  'phone_number_verified',
  'address',
  ...STANDARD_USER_CLAIMS,
]);

/** At most this many metadata keys per client: with metadata ≤ 1 KiB, the token stays well under 8 KiB. */
const MAX_METADATA_CLAIMS = 20;

export interface ClaimSettings {
  userClaims: string[];
  metadataClaims: string[];
}

/** The problems with a client's claim settings, in words (empty when fine). */
export function claimSettingProblems({ userClaims, metadataClaims }: ClaimSettings): string[] {
  const problems: string[] = [];
  const unknown = userClaims.filter((c) => !(STANDARD_USER_CLAIMS as readonly string[]).includes(c));
  if (unknown.length)
    problems.push(`unknown user claim: ${unknown.join(', ')} (known: ${STANDARD_USER_CLAIMS.join(', ')})`);
  if (metadataClaims.length > MAX_METADATA_CLAIMS) problems.push(`at most ${MAX_METADATA_CLAIMS} metadata claims`);
  const badKey = metadataClaims.find((k) => !METADATA_KEY.test(k));
  if (badKey !== undefined) problems.push(`"${badKey.slice(0, 70)}" is not a metadata key`);
  const reserved = metadataClaims.filter((k) => RESERVED_CLAIMS.has(k));
  if (reserved.length) problems.push(`reserved claim names cannot come from metadata: ${reserved.join(', ')}`);
  return problems;
}

export interface ClaimUser {
  username: string;
  email: string | null;
  emailVerified: boolean;
  metadata: Record<string, unknown>;
}

/** The extra claims of one access token for this client, user and granted scope. */
export function userClaimsFor(
  settings: ClaimSettings,
  user: ClaimUser,
  scopes: readonly string[],
): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  for (const key of settings.metadataClaims) {
    if (!RESERVED_CLAIMS.has(key) && Object.hasOwn(user.metadata, key)) claims[key] = user.metadata[key];
  }
  const wanted = (claim: StandardUserClaim) => settings.userClaims.includes(claim) && scopes.includes(SCOPE_OF[claim]);
  if (wanted('preferred_username')) claims.preferred_username = user.username;
  if (user.email !== null) {
    if (wanted('email')) claims.email = user.email;
    if (wanted('email_verified')) claims.email_verified = user.emailVerified;
  }
  return claims;
}

/** The claims of a verified access token beyond the core ones: what introspection passes on. */
export function extraClaimsOf(payload: Record<string, unknown>, core: ReadonlySet<string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(payload).filter(([key]) => !core.has(key)));
}
