import crypto from 'node:crypto';
import type { AuditLog } from '../audit/audit-log';
import type { Clock } from '../clock';
import { DomainError } from '../errors';
import { isScopeToken, missingFrom } from '../oauth/scope';
import { generateClientSecret, type ClientSecretDigester } from './client-secret';
import { GRANT_TYPES, publicClient, type Client, type ClientRepository, type GrantType } from './client-repository';

export interface NewClientInput {
  id?: string;
  name: string;
  confidential: boolean;
  firstParty?: boolean;
  canIntrospect?: boolean;
  grantTypes: string[];
  scopes?: string[];
  defaultScopes?: string[];
  audience?: string;
  accessTokenTtl?: number;
  refreshIdleTtl?: number;
  refreshAbsoluteTtl?: number;
}

/** Server-wide lifetimes: a client may shorten them, never lengthen them (keys are kept that long). */
export interface LifetimeLimits {
  accessTokenTtl: number;
  refreshIdleTtl: number;
  refreshAbsoluteTtl: number;
}

const CLIENT_ID = /^[\w.:-]{3,64}$/;

function validate(input: NewClientInput, limits: LifetimeLimits, defaultAudience: string): Omit<Client, 'createdAt' | 'updatedAt' | 'confidential' | 'id'> {
  const problems: string[] = [];
  if (!input.name.trim() || input.name.length > 200) problems.push('name must be 1 to 200 characters');
  const grantTypes = [...new Set(input.grantTypes)];
  if (grantTypes.length === 0 && !input.canIntrospect) problems.push('at least one grant type is needed (or --introspect for a resource server)');
  if (input.canIntrospect && !input.confidential) problems.push('introspection needs a confidential client');
  const unknown = grantTypes.filter((g) => !(GRANT_TYPES as readonly string[]).includes(g));
  if (unknown.length) problems.push(`unknown grant type: ${unknown.join(', ')} (known: ${GRANT_TYPES.join(', ')})`);
  // RFC 9700 §2.4: the password grant only for first-party clients.
  if (grantTypes.includes('password') && !input.firstParty) problems.push('the password grant is only for first-party clients (--first-party)');
  // RFC 6749 §4.4: client_credentials only for confidential clients.
  if (grantTypes.includes('client_credentials') && !input.confidential) problems.push('client_credentials needs a confidential client');
  if (grantTypes.includes('refresh_token') && !grantTypes.includes('password')) problems.push('refresh_token is issued only with the password grant');
  const scopes = [...new Set(input.scopes ?? [])];
  const badScope = scopes.find((s) => !isScopeToken(s));
  if (badScope !== undefined) problems.push(`invalid scope name "${badScope}"`);
  const defaultScopes = [...new Set(input.defaultScopes ?? [])];
  const strayDefaults = missingFrom(defaultScopes, scopes);
  if (strayDefaults.length) problems.push(`default scopes must be allowed scopes: ${strayDefaults.join(', ')}`);
  const audience = input.audience ?? defaultAudience;
  if (!audience || audience.length > 500) problems.push('audience must be 1 to 500 characters');
  for (const [name, value, max] of [
    ['access token lifetime', input.accessTokenTtl, limits.accessTokenTtl],
    ['refresh idle lifetime', input.refreshIdleTtl, limits.refreshIdleTtl],
    ['refresh absolute lifetime', input.refreshAbsoluteTtl, limits.refreshAbsoluteTtl],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 30 || value > max)) {
      problems.push(`${name} must be between 30 and ${max} seconds (the server's setting)`);
    }
  }
  if (problems.length) throw new DomainError('invalid', `Invalid client: ${problems.join('; ')}.`);
  return {
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
  clients: ClientRepository;
  digester: ClientSecretDigester;
  clock: Clock;
  limits: LifetimeLimits;
  defaultAudience: string;
  audit?: AuditLog;
}) {
  return {
    /** Creates a client; a confidential client's secret is returned here and never again. */
    async create(input: NewClientInput): Promise<{ client: Client; secret?: string }> {
      const fields = validate(input, deps.limits, deps.defaultAudience);
      const id = input.id ?? `c_${crypto.randomBytes(12).toString('base64url')}`;
      if (!CLIENT_ID.test(id)) throw new DomainError('invalid', 'Invalid client: id must be 3 to 64 letters, digits or _.:-.');
      const secret = input.confidential ? generateClientSecret() : undefined;
      const inserted = await deps.clients.insert({
        id,
        ...fields,
        secretDigest: secret === undefined ? null : deps.digester.digest(secret),
        now: new Date(deps.clock.now()),
      });
      if (!inserted) throw new DomainError('conflict', `A client with id "${id}" exists.`);
      deps.audit?.record({ type: 'client_created', clientId: id, details: { grant_types: inserted.grantTypes, confidential: inserted.confidential } });
      return { client: publicClient(inserted), ...(secret !== undefined && { secret }) };
    },

    async list(): Promise<Client[]> {
      return (await deps.clients.list()).map(publicClient);
    },
  };
}

export type ClientService = ReturnType<typeof createClientService>;
