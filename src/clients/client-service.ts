import crypto from 'node:crypto';
import type { AuditLog } from '../audit/audit-log';
import type { Clock } from '../clock';
import { DomainError } from '../errors';
import { isScopeToken, missingFrom } from '../scopes/scope';
import { claimSettingProblems } from '../tokens/user-claims';
import { foreignScopes, type OwnApi } from './authd-clients';
import { generateClientSecret, type ClientSecretDigester } from './client-secret';
import {
  GRANT_TYPES,
  publicClient,
  type Client,
  type ClientStore,
  type ClientSettings,
  type ClientWithDigest,
  type GrantType,
} from './client-store';

/** What an operator may set on a client; on update, omitted fields keep their value. */
export interface ClientSettingsInput {
  name?: string;
  firstParty?: boolean;
  canIntrospect?: boolean;
  grantTypes?: string[];
  scopes?: string[];
  defaultScopes?: string[];
  audience?: string;
  accessTokenTtl?: number | null;
  refreshIdleTtl?: number | null;
  refreshAbsoluteTtl?: number | null;
  cookieMode?: boolean;
  allowedOrigins?: string[];
  redirectUris?: string[];
  userClaims?: string[];
  metadataClaims?: string[];
  requireMfa?: boolean;
}

export interface NewClientInput extends ClientSettingsInput {
  id?: string;
  name: string;
  confidential: boolean;
  grantTypes: string[];
}

/** Server-wide lifetimes: a client may shorten them, never lengthen them (keys are kept that long). */
export interface LifetimeLimits {
  accessTokenTtl: number;
  refreshIdleTtl: number;
  refreshAbsoluteTtl: number;
}

/** What a client_id may look like; anything else is no client of ours (and never reaches the database). */
export const CLIENT_ID = /^[\w.:-]{3,64}$/;

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
  } catch {
    return false;
  }
}

function isAbsoluteUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hash === '' && value.length <= 2000;
  } catch {
    return false;
  }
}

function validate(
  input: ClientSettingsInput & { name: string; grantTypes: string[]; confidential: boolean },
  limits: LifetimeLimits,
  api: OwnApi,
): ClientSettings {
  const problems: string[] = [];
  if (!input.name.trim() || input.name.length > 200) problems.push('name must be 1 to 200 characters');
  const grantTypes = [...new Set(input.grantTypes)];
  if (grantTypes.length === 0 && !input.canIntrospect)
    problems.push('at least one grant type is needed (or --introspect for a resource server)');
  if (input.canIntrospect && !input.confidential) problems.push('introspection needs a confidential client');
  const unknown = grantTypes.filter((g) => !(GRANT_TYPES as readonly string[]).includes(g));
  if (unknown.length) problems.push(`unknown grant type: ${unknown.join(', ')} (known: ${GRANT_TYPES.join(', ')})`);
  // RFC 9700 §2.4: the password grant only for first-party clients.
  if (grantTypes.includes('password') && !input.firstParty)
    problems.push('the password grant is only for first-party clients (--first-party)');
  // RFC 6749 §4.4: client_credentials only for confidential clients.
  if (grantTypes.includes('client_credentials') && !input.confidential)
    problems.push('client_credentials needs a confidential client');
  if (grantTypes.includes('refresh_token') && !grantTypes.includes('password'))
    problems.push('refresh_token is issued only with the password grant');
  const scopes = [...new Set(input.scopes ?? [])];
  const badScope = scopes.find((s) => !isScopeToken(s));
  if (badScope !== undefined) problems.push(`invalid scope name "${badScope}"`);
  const defaultScopes = [...new Set(input.defaultScopes ?? [])];
  const strayDefaults = missingFrom(defaultScopes, scopes);
  if (strayDefaults.length) problems.push(`default scopes must be allowed scopes: ${strayDefaults.join(', ')}`);
  const audience = input.audience ?? '';
  if (!audience)
    problems.push('an audience is required (--audience: the identifier the API that takes its tokens checks in aud)');
  else if (audience.length > 500) problems.push('audience must be 1 to 500 characters');
  if (audience === api.issuer && foreignScopes({ scopes }, api).length) {
    problems.push(
      `the issuer is the audience of authd's own clients only, which may carry only the scopes ${api.scopes.join(', ')}: give the API its own audience`,
    );
  }
  if (audience.endsWith('/oauth/token'))
    problems.push('the token endpoint is the audience of refresh tokens, not of access tokens');
  for (const [name, value, max] of [
    ['access token lifetime', input.accessTokenTtl, limits.accessTokenTtl],
    ['refresh idle lifetime', input.refreshIdleTtl, limits.refreshIdleTtl],
    ['refresh absolute lifetime', input.refreshAbsoluteTtl, limits.refreshAbsoluteTtl],
  ] as const) {
    if (value !== undefined && value !== null && (!Number.isInteger(value) || value < 5 || value > max)) {
      problems.push(`${name} must be between 5 and ${max} seconds (the server's setting)`);
    }
  }
  const allowedOrigins = [...new Set(input.allowedOrigins ?? [])];
  const badOrigin = allowedOrigins.find((o) => !isOrigin(o));
  if (badOrigin !== undefined) problems.push(`"${badOrigin}" is not an origin (scheme://host[:port])`);
  const redirectUris = [...new Set(input.redirectUris ?? [])];
  const badUri = redirectUris.find((u) => !isAbsoluteUrl(u));
  if (badUri !== undefined) problems.push(`"${badUri}" is not an absolute http(s) URL without a fragment`);
  if (input.cookieMode && !grantTypes.includes('refresh_token'))
    problems.push('cookie mode carries the refresh token: it needs the refresh_token grant');
  if (input.requireMfa && !grantTypes.includes('password'))
    problems.push('require MFA applies to user sign-ins: it needs the password grant');
  if (input.cookieMode && allowedOrigins.length === 0)
    problems.push('cookie mode needs the allowed origins of the web app (CSRF defence)');
  const claims = {
    userClaims: [...new Set(input.userClaims ?? [])],
    metadataClaims: [...new Set(input.metadataClaims ?? [])],
  };
  problems.push(...claimSettingProblems(claims));
  if (problems.length)
    throw new DomainError('invalid', `Invalid client: ${problems.join('; ')}.`, 'invalid_client_settings');
  return {
    cookieMode: input.cookieMode ?? false,
    requireMfa: input.requireMfa ?? false,
    allowedOrigins,
    redirectUris,
    ...claims,
    name: input.name.trim(),
    firstParty: input.firstParty ?? false,
    canIntrospect: input.canIntrospect ?? false,
    grantTypes: grantTypes as GrantType[],
    scopes,
    defaultScopes,
    audience,
    accessTokenTtl: input.accessTokenTtl ?? null,
    refreshIdleTtl: input.refreshIdleTtl ?? null,
    refreshAbsoluteTtl: input.refreshAbsoluteTtl ?? null,
  };
}

export function createClientService(deps: {
  clients: ClientStore;
  digester: ClientSecretDigester;
  clock: Clock;
  limits: LifetimeLimits;
  /** The issuer as audience is reserved for authd's own clients. */
  ownApi: OwnApi;
  audit?: AuditLog;
  /** Ends every session of a client before it is deleted, so its tokens stop working at once. */
  revokeClientSessions?: (clientId: string) => Promise<void>;
  /** Told after any change to a client (to drop cached copies). */
  onChanged?: (clientId: string) => void;
}) {
  async function require(id: string): Promise<ClientWithDigest> {
    const client = await deps.clients.findById(id);
    if (!client) throw new DomainError('not_found', `No client with id "${id}".`, 'client_not_found');
    return client;
  }

  return {
    async get(id: string): Promise<Client> {
      return publicClient(await require(id));
    },

    /** Changes some settings; the result must pass the same rules as a new client. */
    async update(id: string, changes: ClientSettingsInput): Promise<Client> {
      const current = await require(id);
      const merged = { ...current, ...Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) };
      const settings = validate(
        {
          ...merged,
          accessTokenTtl: merged.accessTokenTtl ?? undefined,
          refreshIdleTtl: merged.refreshIdleTtl ?? undefined,
          refreshAbsoluteTtl: merged.refreshAbsoluteTtl ?? undefined,
        },
        deps.limits,
        deps.ownApi,
      );
      const updated = await deps.clients.update(id, settings, new Date(deps.clock.now()));
      if (!updated) throw new DomainError('not_found', `No client with id "${id}".`, 'client_not_found');
      deps.onChanged?.(id);
      deps.audit?.record({ type: 'client_updated', clientId: id, details: { changed: Object.keys(changes) } });
      return publicClient(updated);
    },

    /** A new secret for a confidential client, returned once; the old one stops working at once. */
    async rotateSecret(id: string): Promise<string> {
      const client = await require(id);
      if (!client.confidential)
        throw new DomainError('invalid', 'A public client has no secret.', 'public_client_has_no_secret');
      const secret = generateClientSecret();
      await deps.clients.replaceSecretDigest(id, deps.digester.digest(secret), new Date(deps.clock.now()));
      deps.onChanged?.(id);
      deps.audit?.record({ type: 'client_secret_rotated', clientId: id });
      return secret;
    },

    async delete(id: string): Promise<void> {
      await require(id);
      await deps.revokeClientSessions?.(id);
      if (!(await deps.clients.delete(id)))
        throw new DomainError('not_found', `No client with id "${id}".`, 'client_not_found');
      deps.onChanged?.(id);
      deps.audit?.record({ type: 'client_deleted', clientId: id });
    },

    /** Creates a client; a confidential client's secret is returned here and never again. */
    async create(input: NewClientInput): Promise<{ client: Client; secret?: string }> {
      const fields = validate(input, deps.limits, deps.ownApi);
      const id = input.id ?? `c_${crypto.randomBytes(12).toString('base64url')}`;
      if (!CLIENT_ID.test(id))
        throw new DomainError(
          'invalid',
          'Invalid client: id must be 3 to 64 letters, digits or _.:-.',
          'invalid_client_settings',
        );
      const secret = input.confidential ? generateClientSecret() : undefined;
      const inserted = await deps.clients.insert({
        id,
        ...fields,
        secretDigest: secret === undefined ? null : deps.digester.digest(secret),
        now: new Date(deps.clock.now()),
      });
      if (!inserted) throw new DomainError('conflict', `A client with id "${id}" exists.`, 'client_exists');
      deps.onChanged?.(id);
      deps.audit?.record({
        type: 'client_created',
        clientId: id,
        details: { grant_types: inserted.grantTypes, confidential: inserted.confidential },
      });
      return { client: publicClient(inserted), ...(secret !== undefined && { secret }) };
    },

    async list(): Promise<Client[]> {
      return (await deps.clients.list()).map(publicClient);
    },
  };
}

export type ClientService = ReturnType<typeof createClientService>;
