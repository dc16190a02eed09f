import { z } from 'zod';
import { invalidScope } from '../../errors';
import { SCOPE } from '../param-schemas';
import { formatScope, missingFrom, parseScope } from '../../scopes/scope';
import type { TokenIssuer } from '../../tokens/token-issuer';
import { lifetimesFor, type GrantAudit, type GrantHandler, type GrantRequest, type Lifetimes } from './grant';

const schema = z.object({ scope: SCOPE });
type Params = z.infer<typeof schema>;

/** A machine client acting for itself: no users, sessions or throttle. */
export interface ClientCredentialsDeps {
  tokens: Pick<TokenIssuer, 'issueAccessToken'>;
  lifetimes: Lifetimes;
  audit: GrantAudit;
}

/** RFC 6749 §4.4: a machine client acting for itself; sub is the client id, no refresh token. */
export const clientCredentialsGrant = {
  grantType: 'client_credentials',
  schema,

  async handle({ params, client, context }: GrantRequest & { params: Params }, deps: ClientCredentialsDeps) {
    let scopes = client.defaultScopes;
    if (params.scope !== undefined) {
      scopes = parseScope(params.scope);
      const missing = missingFrom(scopes, client.scopes);
      if (missing.length)
        throw invalidScope('The client may not request this scope.', { detail: `client lacks ${missing.join(' ')}` });
    }
    const access = await deps.tokens.issueAccessToken({
      subject: client.id,
      clientId: client.id,
      audience: client.audience,
      scopes,
      roles: [],
      ttlSeconds: lifetimesFor(client, deps.lifetimes).accessTokenTtl,
    });
    deps.audit.record({
      type: 'client_credentials_granted',
      clientId: client.id,
      context,
      details: { scope: formatScope(scopes), jti: access.jti },
    });
    return {
      access_token: access.token,
      token_type: 'Bearer' as const,
      expires_in: access.expiresIn,
      scope: formatScope(scopes),
    };
  },
} satisfies GrantHandler<Params, ClientCredentialsDeps>;
