/**
 * The OpenAPI 3.1 description of authd's whole HTTP surface, served at /openapi.json.
 * test/http/openapi.test.ts checks that every route the app serves is described here and the
 * other way round.
 */
import { API_ERROR_CODES } from '../errors';

type Schema = Record<string, unknown>;

const str = (description?: string): Schema => ({ type: 'string', ...(description && { description }) });
const nullableStr = (): Schema => ({ type: ['string', 'null'] });
const arr = (items: Schema): Schema => ({ type: 'array', items });
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  properties,
  ...(required.length && { required }),
});
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema) => ({ content: { 'application/json': { schema } } });
const form = (schema: Schema) => ({
  content: { 'application/x-www-form-urlencoded': { schema }, 'application/json': { schema } },
});
const error = (description: string) => ({ description, ...json(ref('Error')) });
const ok = (description: string, schema?: Schema) => ({ description, ...(schema && json(schema)) });

const bearer = [{ bearer: [] }];
const client = [{ clientBasic: [] }, { clientPost: [] }, {}];
const idParam = [{ name: 'id', in: 'path', required: true, schema: str() }];
const kidParam = [{ name: 'kid', in: 'path', required: true, schema: str() }];

function op(summary: string, tag: string, extra: Record<string, unknown> = {}) {
  return { summary, tags: [tag], ...extra };
}

/**
 * The bearer-authenticated operations (/admin, /account) answer their own errors as ApiError,
 * with a stable code; a refused bearer token keeps RFC 6750's shape (401, and the admin API's 403).
 */
function withApiErrors<T extends { paths: object }>(document: T, bearerRefusals: ReadonlySet<unknown>): T {
  type Operation = { security?: unknown; responses?: object };
  for (const operations of Object.values(document.paths) as Array<Record<string, Operation>>) {
    for (const operation of Object.values(operations)) {
      if (operation.security !== bearer || !operation.responses) continue;
      const responses = operation.responses as Record<string, { description: string; content?: unknown }>;
      for (const [status, response] of Object.entries(responses)) {
        if (status === '401' || bearerRefusals.has(response) || Number(status) < 400) continue;
        responses[status] = { description: response.description, ...json(ref('ApiError')) };
      }
    }
  }
  return document;
}

export function openApiDocument(issuer: string) {
  const adminResponses = { 401: error('No or invalid bearer token'), 403: error('The token lacks the admin scope') };
  return withApiErrors(buildDocument(issuer, adminResponses), new Set(Object.values(adminResponses)));
}

function buildDocument(issuer: string, adminResponses: Record<number, ReturnType<typeof error>>) {
  return {
    openapi: '3.1.0',
    info: { title: 'authd', version: '0.1.0', description: 'A standalone OAuth2 token issuer.' },
    servers: [{ url: issuer }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        clientBasic: { type: 'http', scheme: 'basic', description: 'client_secret_basic' },
        clientPost: {
          type: 'apiKey',
          in: 'query',
          name: 'client_secret',
          description: 'client_secret_post: client_id and client_secret in the body',
        },
      },
      schemas: {
        ApiError: obj(
          {
            error: str('The OAuth-style code (invalid_request, access_denied, temporarily_unavailable, …)'),
            code: {
              type: 'string',
              enum: [...API_ERROR_CODES],
              description:
                "authd's own APIs: a stable machine-readable code to branch on (the description may be reworded). New codes may be added.",
            },
            error_description: str(),
          },
          ['error', 'code'],
        ),
        Error: obj(
          {
            error: str('RFC 6749 §5.2 code, or mfa_required'),
            error_description: str(),
            mfa_token: str('with mfa_required: for the mfa-otp grant'),
            expires_in: { type: 'integer' },
          },
          ['error'],
        ),
        MfaStatus: obj({
          enabled: { type: 'boolean' },
          enrolled_at: nullableStr(),
          recovery_codes_left: { type: 'integer' },
        }),
        TokenResponse: obj(
          {
            access_token: str(),
            token_type: { const: 'Bearer' },
            expires_in: { type: 'integer' },
            refresh_token: str('absent for client_credentials and cookie-mode clients'),
            scope: str(),
          },
          ['access_token', 'token_type', 'expires_in', 'scope'],
        ),
        User: obj({
          id: str(),
          username: str(),
          email: nullableStr(),
          email_verified: { type: 'boolean' },
          roles: arr(str()),
          scopes: arr(str()),
          metadata: { type: 'object', description: 'a JSON object of at most 1024 bytes' },
          disabled: { type: 'boolean' },
          created_at: str(),
          updated_at: str(),
        }),
        Client: obj({
          client_id: str(),
          name: str(),
          type: { enum: ['confidential', 'public'] },
          first_party: { type: 'boolean' },
          introspection: { type: 'boolean' },
          grant_types: arr(str()),
          scopes: arr(str()),
          default_scopes: arr(str()),
          audience: str(),
          access_token_ttl: { type: ['integer', 'null'] },
          refresh_idle_ttl: { type: ['integer', 'null'] },
          refresh_absolute_ttl: { type: ['integer', 'null'] },
          cookie_mode: { type: 'boolean' },
          allowed_origins: arr(str()),
          redirect_uris: arr(str()),
          user_claims: arr(str()),
          metadata_claims: arr(str()),
          require_mfa: { type: 'boolean' },
          created_at: str(),
          updated_at: str(),
        }),
        Session: obj({
          id: str(),
          client_id: str(),
          scopes: arr(str()),
          created_at: str(),
          last_used_at: str(),
          expires_at: str(),
          ip: nullableStr(),
          user_agent: nullableStr(),
          device: nullableStr(),
          current: { type: 'boolean' },
          revoked_at: str('with ?all=true, for ended sessions'),
          revoked_reason: nullableStr(),
        }),
        Key: obj({
          kid: str(),
          state: { enum: ['standby', 'active', 'retired', 'expired', 'revoked'] },
          created_at: str(),
          activates_at: str(),
          retires_at: nullableStr(),
          revoked_at: nullableStr(),
          private_key: { type: 'boolean' },
        }),
        AuditEvent: obj({
          id: str(),
          occurred_at: str(),
          type: str(),
          user_id: nullableStr(),
          client_id: nullableStr(),
          ip: nullableStr(),
          user_agent: nullableStr(),
          request_id: nullableStr(),
          details: { type: 'object' },
        }),
        ClientSettings: obj({
          name: str(),
          first_party: { type: 'boolean' },
          introspection: { type: 'boolean' },
          grant_types: arr({ enum: ['password', 'refresh_token', 'client_credentials'] }),
          scopes: arr(str()),
          default_scopes: arr(str()),
          audience: str(),
          access_token_ttl: { type: ['integer', 'null'] },
          refresh_idle_ttl: { type: ['integer', 'null'] },
          refresh_absolute_ttl: { type: ['integer', 'null'] },
          cookie_mode: { type: 'boolean' },
          allowed_origins: arr(str()),
          redirect_uris: arr(str()),
          user_claims: arr({ enum: ['preferred_username', 'email', 'email_verified'] }),
          metadata_claims: arr(str("a key of the user's metadata, copied into access tokens")),
          require_mfa: {
            type: 'boolean',
            description: 'only users with a second factor get tokens (needs the password grant)',
          },
        }),
      },
    },
    paths: {
      '/oauth/token': {
        post: op(
          'Token endpoint (RFC 6749): password, refresh_token, client_credentials, and urn:authd:params:oauth:grant-type:mfa-otp (the second step of a password sign-in)',
          'OAuth',
          {
            security: client,
            requestBody: form(
              obj(
                {
                  grant_type: str(),
                  username: str(),
                  password: str(),
                  refresh_token: str(),
                  scope: str(),
                  client_id: str(),
                  client_secret: str(),
                  mfa_token: str(),
                  otp: str(),
                  recovery_code: str(),
                },
                ['grant_type'],
              ),
            ),
            responses: {
              200: ok('Tokens', ref('TokenResponse')),
              403: error('mfa_required: the password was right; complete with the mfa-otp grant and the mfa_token'),
              400: error('invalid_request, invalid_grant, invalid_scope, unauthorized_client, unsupported_grant_type'),
              401: error('invalid_client'),
              413: error('Body too large'),
              415: error('Wrong content type'),
              429: error('Too many failed logins'),
              503: error('temporarily_unavailable'),
            },
          },
        ),
      },
      '/oauth/revoke': {
        post: op('Revocation (RFC 7009)', 'OAuth', {
          security: client,
          requestBody: form(
            obj({
              token: str('optional for cookie-mode clients: the refresh cookie is used'),
              token_type_hint: { enum: ['access_token', 'refresh_token'] },
            }),
          ),
          responses: {
            200: ok('Revoked, or nothing to revoke'),
            400: error('invalid_request or unauthorized_client'),
            401: error('invalid_client'),
          },
        }),
      },
      '/oauth/introspect': {
        post: op('Introspection (RFC 7662), for clients allowed to introspect', 'OAuth', {
          security: client.slice(0, 2),
          requestBody: form(obj({ token: str(), token_type_hint: str() }, ['token'])),
          responses: {
            200: ok(
              'Token state',
              obj(
                {
                  active: { type: 'boolean' },
                  scope: str(),
                  client_id: str(),
                  sub: str(),
                  aud: str(),
                  iss: str(),
                  exp: { type: 'integer' },
                  iat: { type: 'integer' },
                  jti: str(),
                  token_type: str(),
                  sid: str(),
                  roles: arr(str()),
                  amr: arr(str()),
                  acr: str(),
                  auth_time: { type: 'integer' },
                },
                ['active'],
              ),
            ),
            401: error('invalid_client'),
            403: error('The client may not introspect'),
          },
        }),
      },
      '/register': {
        post: op('Self-registration (only when AUTHD_REGISTRATION=true)', 'Users', {
          requestBody: form(obj({ username: str(), password: str(), email: str() }, ['username', 'password'])),
          responses: {
            202: ok(
              'Received: the same answer whether the username was free (the account now exists) or taken',
              obj({ username: str(), message: str() }),
            ),
            400: error('Invalid username or password'),
            404: error('Registration is off'),
            429: error('Too many registrations from this address'),
            503: error('Hashing at capacity'),
          },
        }),
      },
      '/account/password-reset': {
        post: op('Mail a password reset link (only while mail is on); one answer for every input', 'Account recovery', {
          requestBody: form(obj({ username: str(), email: str() })),
          responses: {
            202: ok('Received: a link is mailed if the account exists and has an address', obj({ message: str() })),
            400: error('No username or email'),
            429: error('Too many requests for this name or from this address'),
          },
        }),
      },
      '/account/password-reset/confirm': {
        post: op('Set a new password with the mailed token; ends every session', 'Account recovery', {
          requestBody: form(obj({ token: str(), new_password: str() }, ['token', 'new_password'])),
          responses: {
            200: ok('Password changed', obj({ message: str() })),
            400: error(
              'invalid_grant: the link is invalid, expired or used; invalid_request: the password breaks the policy',
            ),
            503: error('Hashing at capacity'),
          },
        }),
      },
      '/account/email-verification': {
        post: op(
          'Mail a new verification link (only while mail is on); one answer for every input',
          'Account recovery',
          {
            requestBody: form(obj({ username: str(), email: str() })),
            responses: {
              202: ok('Received', obj({ message: str() })),
              400: error('No username or email'),
              429: error('Too many requests'),
            },
          },
        ),
      },
      '/account/email-verification/confirm': {
        post: op('Verify the address with the mailed token', 'Account recovery', {
          requestBody: form(obj({ token: str() }, ['token'])),
          responses: {
            200: ok('Verified', obj({ email_verified: { type: 'boolean' }, message: str() })),
            400: error('invalid_grant: the link is invalid, expired or used'),
          },
        }),
      },
      '/reset': {
        get: op('Hosted password reset page (HTML; only while mail is on)', 'Pages', {
          responses: { 200: { description: 'HTML', content: { 'text/html': {} } } },
        }),
      },
      '/verify-email': {
        get: op('Hosted email verification page (HTML; only while mail is on)', 'Pages', {
          responses: { 200: { description: 'HTML', content: { 'text/html': {} } } },
        }),
      },
      '/.well-known/oauth-authorization-server': {
        get: op('Authorization server metadata (RFC 8414)', 'Discovery', {
          responses: { 200: ok('Metadata', { type: 'object' }) },
        }),
      },
      '/.well-known/openid-configuration': {
        get: op('The same metadata, where most libraries look first', 'Discovery', {
          responses: { 200: ok('Metadata', { type: 'object' }) },
        }),
      },
      '/.well-known/jwks.json': {
        get: op('Public signing keys (RFC 7517), cacheable, with an ETag', 'Discovery', {
          responses: { 200: ok('JWK set', obj({ keys: arr({ type: 'object' }) })), 304: ok('Not modified') },
        }),
      },
      '/openapi.json': {
        get: op('This document', 'Discovery', { responses: { 200: ok('OpenAPI 3.1', { type: 'object' }) } }),
      },
      '/health/live': { get: op('Liveness', 'Operations', { responses: { 200: ok('Alive') } }) },
      '/health/ready': {
        get: op('Readiness: database, Redis, signing key', 'Operations', {
          responses: { 200: ok('Ready'), 503: ok('Not ready') },
        }),
      },
      '/login': {
        get: op('Hosted sign-in page (HTML)', 'Pages', {
          responses: { 200: { description: 'HTML', content: { 'text/html': {} } } },
        }),
      },
      '/favicon.ico': {
        get: op('No icon (204), so browsers stop asking', 'Pages', { responses: { 204: ok('No content') } }),
      },
      '/pages/brand.css': {
        get: op('Branding stylesheet of the hosted pages', 'Pages', {
          responses: { 200: { description: 'CSS', content: { 'text/css': {} } } },
        }),
      },
      '/pages/{file}': {
        get: op('Static assets of the hosted pages', 'Pages', {
          parameters: [
            {
              name: 'file',
              in: 'path',
              required: true,
              schema: {
                enum: [
                  'pages.css',
                  'login.js',
                  'account.js',
                  'reset.js',
                  'verify-email.js',
                  'login-mfa.js',
                  'account-mfa.js',
                ],
              },
            },
          ],
          responses: { 200: ok('Asset'), 404: error('No such asset') },
        }),
      },
      '/account': {
        get: op(
          "The token's own user: needs authd:account from one of authd's own clients (a browser navigation without a token gets the HTML account page)",
          'Account',
          {
            security: bearer,
            responses: {
              200: ok('Profile', ref('User')),
              401: error('No or invalid token'),
              403: error('Not a user token'),
            },
          },
        ),
      },
      '/account/password': {
        post: op('Change password (needs the current one; revokes every other session)', 'Account', {
          security: bearer,
          requestBody: json(
            obj({ current_password: str(), new_password: str() }, ['current_password', 'new_password']),
          ),
          responses: {
            200: ok('Changed', obj({ revoked_sessions: { type: 'integer' } })),
            400: error('Wrong current password or weak new password'),
            429: error('Too many failed attempts'),
          },
        }),
      },
      '/account/email': {
        put: op(
          'Set or remove the own email address (needs the current password); a changed one is unverified and mailed a verification link, and the previous address a notice',
          'Account',
          {
            security: bearer,
            requestBody: json(
              obj({ email: { type: ['string', 'null'] }, current_password: str() }, ['email', 'current_password']),
            ),
            responses: {
              200: ok('Profile', ref('User')),
              400: error('Not an address, or a wrong current password'),
              409: error('The address belongs to another user'),
              429: error('Too many failed attempts'),
            },
          },
        ),
      },
      '/account/mfa': {
        get: op('Own second factor: on or off, recovery codes left', 'Account', {
          security: bearer,
          responses: { 200: ok('Status', ref('MfaStatus')) },
        }),
      },
      '/account/mfa/totp': {
        post: op(
          'Start enrolling an authenticator app (needs the password): the secret, its otpauth URI and a QR code (SVG), shown once',
          'Account',
          {
            security: bearer,
            requestBody: json(obj({ password: str() }, ['password'])),
            responses: {
              200: ok('Pending secret', obj({ secret: str('base32'), otpauth_uri: str(), qr_svg: str() })),
              400: error('Wrong password'),
              409: error('Already enrolled'),
              429: error('Too many failed attempts'),
            },
          },
        ),
      },
      '/account/mfa/totp/confirm': {
        post: op(
          'Turn the pending authenticator on with a first valid code; returns ten single-use recovery codes, shown once',
          'Account',
          {
            security: bearer,
            requestBody: json(obj({ code: str() }, ['code'])),
            responses: {
              200: ok('Enrolled', obj({ recovery_codes: arr(str()) })),
              400: error('Wrong code'),
              409: error('Nothing pending, or already enrolled'),
            },
          },
        ),
      },
      '/account/mfa/recovery-codes': {
        post: op(
          'Ten new recovery codes, shown once; the old ones stop working at once (needs the password and a current code)',
          'Account',
          {
            security: bearer,
            requestBody: json(obj({ password: str(), otp: str() }, ['password', 'otp'])),
            responses: {
              200: ok('The new codes', obj({ recovery_codes: arr(str()) })),
              400: error('Wrong password or code'),
              409: error('No second factor is set up'),
              429: error('Too many failed attempts'),
            },
          },
        ),
      },
      '/account/mfa/disable': {
        post: op('Turn the second factor off (needs the password and a current code or a recovery code)', 'Account', {
          security: bearer,
          requestBody: json(obj({ password: str(), otp: str(), recovery_code: str() }, ['password'])),
          responses: { 204: ok('Off'), 400: error('Wrong password or code'), 429: error('Too many failed attempts') },
        }),
      },
      '/account/sessions': {
        get: op('Own sessions; the current one marked', 'Account', {
          security: bearer,
          responses: { 200: ok('Sessions', obj({ sessions: arr(ref('Session')) })) },
        }),
      },
      '/account/sessions/{id}': {
        delete: op('Revoke one own session', 'Account', {
          security: bearer,
          parameters: idParam,
          responses: { 204: ok('Revoked'), 404: error('No such session') },
        }),
      },
      '/account/logout-all': {
        post: op('Sign out everywhere', 'Account', {
          security: bearer,
          responses: { 200: ok('Revoked', obj({ revoked_sessions: { type: 'integer' } })) },
        }),
      },
      '/admin/users': {
        get: op('List users (keyset pagination, search)', 'Admin', {
          security: bearer,
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', maximum: 200 } },
            { name: 'cursor', in: 'query', schema: str() },
            { name: 'search', in: 'query', schema: str() },
          ],
          responses: {
            200: ok('A page', obj({ users: arr(ref('User')), next_cursor: { type: ['string', 'null'] } })),
            ...adminResponses,
          },
        }),
        post: op('Create a user', 'Admin', {
          security: bearer,
          requestBody: json(
            obj({ username: str(), password: str(), roles: arr(str()), scopes: arr(str()) }, ['username', 'password']),
          ),
          responses: {
            201: ok('Created', ref('User')),
            400: error('Invalid'),
            409: error('Username taken'),
            ...adminResponses,
          },
        }),
      },
      '/admin/users/import': {
        post: op(
          'Import up to 1000 users with their existing password hashes (bcrypt, argon2, scrypt, pbkdf2-sha256)',
          'Admin',
          {
            security: bearer,
            requestBody: json(
              obj(
                {
                  on_conflict: { enum: ['skip', 'update'] },
                  users: arr(
                    obj(
                      {
                        id: str(),
                        username: str(),
                        email: str(),
                        email_verified: { type: 'boolean' },
                        password_hash: str(),
                        roles: arr(str()),
                        scopes: arr(str()),
                        metadata: { type: 'object' },
                        disabled: { type: 'boolean' },
                      },
                      ['username'],
                    ),
                  ),
                },
                ['users'],
              ),
            ),
            responses: {
              200: ok(
                'Counts, and each refused row (1-based) with the reason',
                obj({
                  created: { type: 'integer' },
                  updated: { type: 'integer' },
                  skipped: { type: 'integer' },
                  failed: arr(obj({ row: { type: 'integer' }, error: str() })),
                }),
              ),
              400: error('Invalid batch'),
              413: error('Body over 2 MB'),
              ...adminResponses,
            },
          },
        ),
      },
      '/admin/users/{id}': {
        get: op('Get a user, with the state of their second factor', 'Admin', {
          security: bearer,
          parameters: idParam,
          responses: {
            200: ok('User', { allOf: [ref('User'), obj({ mfa: ref('MfaStatus') })] }),
            404: error('No such user'),
            ...adminResponses,
          },
        }),
        patch: op(
          'Update roles, scopes, disabled, metadata, email (a new address is unverified unless email_verified says so)',
          'Admin',
          {
            security: bearer,
            parameters: idParam,
            requestBody: json(
              obj({
                roles: arr(str()),
                scopes: arr(str()),
                disabled: { type: 'boolean' },
                metadata: { type: 'object' },
                email: nullableStr(),
                email_verified: { type: 'boolean' },
              }),
            ),
            responses: { 200: ok('Updated', ref('User')), ...adminResponses },
          },
        ),
        delete: op('Delete a user (sessions and personal data; audit rows keep the id)', 'Admin', {
          security: bearer,
          parameters: idParam,
          responses: { 204: ok('Deleted'), 404: error('No such user'), ...adminResponses },
        }),
      },
      '/admin/users/{id}/password': {
        post: op('Reset a password (ends every session)', 'Admin', {
          security: bearer,
          parameters: idParam,
          requestBody: json(obj({ password: str() }, ['password'])),
          responses: { 204: ok('Reset'), ...adminResponses },
        }),
      },
      '/admin/users/{id}/mfa/reset': {
        post: op("Remove a user's second factor and recovery codes (a lost device); audited as mfa_reset", 'Admin', {
          security: bearer,
          parameters: idParam,
          responses: {
            200: ok('Whether there was one', obj({ removed: { type: 'boolean' } })),
            404: error('No such user'),
            ...adminResponses,
          },
        }),
      },
      '/admin/users/{id}/sessions': {
        get: op("A user's sessions", 'Admin', {
          security: bearer,
          parameters: [...idParam, { name: 'all', in: 'query', schema: { enum: ['true', 'false'] } }],
          responses: { 200: ok('Sessions', obj({ sessions: arr(ref('Session')) })), ...adminResponses },
        }),
      },
      '/admin/users/{id}/unlock': {
        post: op(
          'Clear the failed-login counters and lockouts of a user (like `authd users unlock`); audited as user_unlocked',
          'Admin',
          {
            security: bearer,
            parameters: idParam,
            responses: { 204: ok('Unlocked'), 404: error('No such user'), ...adminResponses },
          },
        ),
      },
      '/admin/users/{id}/revoke-sessions': {
        post: op('Revoke every session and token of a user', 'Admin', {
          security: bearer,
          parameters: idParam,
          responses: { 200: ok('Revoked', obj({ revoked_sessions: { type: 'integer' } })), ...adminResponses },
        }),
      },
      '/admin/clients': {
        get: op('List clients', 'Admin', {
          security: bearer,
          responses: { 200: ok('Clients', obj({ clients: arr(ref('Client')) })), ...adminResponses },
        }),
        post: op("Create a client (a confidential client's secret is shown once)", 'Admin', {
          security: bearer,
          requestBody: json({
            allOf: [
              ref('ClientSettings'),
              obj({ client_id: str(), type: { enum: ['confidential', 'public'] } }, [
                'name',
                'type',
                'grant_types',
                'audience',
              ]),
            ],
          }),
          responses: {
            201: ok('Created', { allOf: [ref('Client'), obj({ client_secret: str() })] }),
            409: error('Id taken'),
            ...adminResponses,
          },
        }),
      },
      '/admin/clients/{id}': {
        get: op('Get a client', 'Admin', {
          security: bearer,
          parameters: idParam,
          responses: { 200: ok('Client', ref('Client')), 404: error('No such client'), ...adminResponses },
        }),
        patch: op('Update grants, scopes, audience, redirects, origins, cookie mode, lifetimes', 'Admin', {
          security: bearer,
          parameters: idParam,
          requestBody: json(ref('ClientSettings')),
          responses: { 200: ok('Updated', ref('Client')), ...adminResponses },
        }),
        delete: op('Delete a client (its sessions end)', 'Admin', {
          security: bearer,
          parameters: idParam,
          responses: { 204: ok('Deleted'), ...adminResponses },
        }),
      },
      '/admin/clients/{id}/rotate-secret': {
        post: op('A new secret, shown once', 'Admin', {
          security: bearer,
          parameters: idParam,
          responses: { 200: ok('New secret', obj({ client_id: str(), client_secret: str() })), ...adminResponses },
        }),
      },
      '/admin/keys': {
        get: op('Signing keys and their states', 'Admin', {
          security: bearer,
          responses: { 200: ok('Keys', obj({ keys: arr(ref('Key')) })), ...adminResponses },
        }),
      },
      '/admin/keys/rotate': {
        post: op('Add a standby key (immediate: sign with it now; revoke_old: and revoke every other key)', 'Admin', {
          security: bearer,
          requestBody: json(obj({ immediate: { type: 'boolean' }, revoke_old: { type: 'boolean' } })),
          responses: {
            201: ok('New key', obj({ kid: str(), activates_at: str(), revoked: arr(str()) })),
            ...adminResponses,
          },
        }),
      },
      '/admin/keys/{kid}/retire': {
        post: op('Retire a key', 'Admin', {
          security: bearer,
          parameters: kidParam,
          requestBody: json(obj({ force: { type: 'boolean' } })),
          responses: { 204: ok('Retired'), ...adminResponses },
        }),
      },
      '/admin/keys/{kid}/revoke': {
        post: op(
          'Revoke a compromised key: it stops signing, verifying and being published at once, and every token it signed is refused',
          'Admin',
          {
            security: bearer,
            parameters: kidParam,
            responses: {
              200: ok(
                'Revoked',
                obj({
                  kid: str(),
                  live_refresh_tokens: {
                    type: 'integer',
                    description:
                      'refresh tokens it signed that may still rotate (their sessions move to the current key)',
                  },
                }),
              ),
              404: error('No such key'),
              ...adminResponses,
            },
          },
        ),
      },
      '/admin/audit': {
        get: op('Query the audit trail', 'Admin', {
          security: bearer,
          parameters: ['user_id', 'type', 'since', 'until', 'limit', 'before'].map((name) => ({
            name,
            in: 'query',
            schema: str(),
          })),
          responses: {
            200: ok(
              'Events, newest first',
              obj({ events: arr(ref('AuditEvent')), next_before: { type: ['string', 'null'] } }),
            ),
            ...adminResponses,
          },
        }),
      },
    },
  };
}
