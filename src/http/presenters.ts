import type { AuditRecord } from '../audit/audit-log';
import type { Client } from '../clients/client-store';
import type { MfaStatus } from '../mfa/mfa-service';
import type { SessionSummary } from '../sessions/session-store';
import type { KeySummary } from '../tokens/key-management';
import type { User } from '../users/user-store';
import { describeDevice } from './device-name';

/** The wire shapes (snake_case) of the admin and account APIs. */
export const presentUser = (u: User) => ({
  id: u.id,
  username: u.username,
  email: u.email,
  email_verified: u.emailVerified,
  roles: u.roles,
  scopes: u.scopes,
  metadata: u.metadata,
  disabled: u.disabledAt !== null,
  created_at: u.createdAt.toISOString(),
  updated_at: u.updatedAt.toISOString(),
});

export const presentMfaStatus = (m: MfaStatus) => ({
  enabled: m.enabled,
  enrolled_at: m.enrolledAt?.toISOString() ?? null,
  recovery_codes_left: m.recoveryCodesLeft,
});

export const presentClient = (c: Client) => ({
  client_id: c.id,
  name: c.name,
  type: c.confidential ? 'confidential' : 'public',
  first_party: c.firstParty,
  introspection: c.canIntrospect,
  grant_types: c.grantTypes,
  scopes: c.scopes,
  default_scopes: c.defaultScopes,
  audience: c.audience,
  access_token_ttl: c.accessTokenTtl,
  refresh_idle_ttl: c.refreshIdleTtl,
  refresh_absolute_ttl: c.refreshAbsoluteTtl,
  cookie_mode: c.cookieMode,
  allowed_origins: c.allowedOrigins,
  redirect_uris: c.redirectUris,
  user_claims: c.userClaims,
  metadata_claims: c.metadataClaims,
  require_mfa: c.requireMfa,
  created_at: c.createdAt.toISOString(),
  updated_at: c.updatedAt.toISOString(),
});

export const presentSession = (s: SessionSummary, currentSid?: string) => ({
  id: s.id,
  client_id: s.clientId,
  scopes: s.scopes,
  created_at: s.createdAt.toISOString(),
  last_used_at: s.lastUsedAt.toISOString(),
  expires_at: s.expiresAt.toISOString(),
  ip: s.ip,
  user_agent: s.userAgent,
  device: describeDevice(s.userAgent),
  ...(s.revokedAt && { revoked_at: s.revokedAt.toISOString(), revoked_reason: s.revokedReason }),
  ...(currentSid !== undefined && { current: s.id === currentSid }),
});

export const presentKey = (k: KeySummary) => ({
  kid: k.kid,
  state: k.state,
  created_at: k.createdAt.toISOString(),
  activates_at: k.activatesAt.toISOString(),
  retires_at: k.retiresAt?.toISOString() ?? null,
  revoked_at: k.revokedAt?.toISOString() ?? null,
  private_key: k.hasPrivateKey,
});

export const presentAudit = (r: AuditRecord) => ({
  id: r.id,
  occurred_at: r.occurredAt.toISOString(),
  type: r.type,
  user_id: r.userId,
  client_id: r.clientId,
  ip: r.ip,
  user_agent: r.userAgent,
  request_id: r.requestId,
  details: r.details,
});
