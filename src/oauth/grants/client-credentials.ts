import { invalidScope } from '../../errors';
import { formatScope, missingFrom, parseScope } from '../scope';
import { lifetimesFor, type GrantHandler } from './grant';

/** RFC 6749 §4.4: a machine client acting for itself; sub is the client id, no refresh token. */
export const clientCredentialsGrant = {
  grantType: 'client_credentials',
  parameters: new Set(['scope']),

  async handle({ params, client }, deps) {
    let scopes = client.defaultScopes;
    if (params.scope !== undefined) {
      scopes = parseScope(params.scope);
      const missing = missingFrom(scopes, client.scopes);
      if (missing.length) throw invalidScope('The client may not request this scope.', { detail: `client lacks ${missing.join(' ')}` });
    }
    const access = await deps.tokens.issueAccessToken({
      subject: client.id,
      clientId: client.id,
      audience: client.audience,
      scopes,
      roles: [],
      ttlSeconds: lifetimesFor(client, deps.lifetimes).accessTokenTtl,
    });
    return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, scope: formatScope(scopes) };
  },
} satisfies GrantHandler;
