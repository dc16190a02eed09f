import crypto from 'node:crypto';
import { invalidGrant, invalidRequest, invalidScope } from '../../errors';
import { formatScope, intersect, missingFrom, parseScope } from '../scope';
import { lifetimesFor, type GrantHandler } from './grant';

/** RFC 6749 §4.3, for first-party clients only (RFC 9700 §2.4). */
export const passwordGrant = {
  grantType: 'password',
  parameters: new Set(['username', 'password', 'scope']),

  async handle({ params, client, ip, userAgent }, deps) {
    const { username, password } = params;
    if (!username) throw invalidRequest('The username parameter is missing.');
    if (!password) throw invalidRequest('The password parameter is missing.');
    const requested = params.scope !== undefined ? parseScope(params.scope) : undefined;
    if (requested) {
      const notForClient = missingFrom(requested, client.scopes);
      if (notForClient.length) throw invalidScope('The client may not request this scope.', { detail: `client lacks ${notForClient.join(' ')}` });
    }

    const login = await deps.users.verifyLogin(username, password);
    if (!login.ok) {
      deps.log('login_failed', { client_id: client.id, reason: login.reason });
      // One answer for unknown user, wrong password and disabled user: no account enumeration.
      throw invalidGrant('Invalid username or password.', { detail: login.reason });
    }
    const { user } = login;
    // Checked only after the password, so the answer reveals nothing about unknown accounts.
    let scopes: string[];
    if (requested) {
      const notForUser = missingFrom(requested, user.scopes);
      if (notForUser.length) throw invalidScope('The user may not be granted this scope.', { detail: `user lacks ${notForUser.join(' ')}` });
      scopes = requested;
    } else {
      scopes = intersect(client.defaultScopes, user.scopes);
    }

    const lifetimes = lifetimesFor(client, deps.lifetimes);
    const now = deps.clock.now();
    const sessionId = crypto.randomUUID();
    const issueRefresh = client.grantTypes.includes('refresh_token');
    const refreshRecord = {
      jti: crypto.randomUUID(),
      kid: deps.tokens.currentKid(),
      issuedAt: new Date(now),
      expiresAt: new Date(now + Math.min(lifetimes.refreshIdleTtl, lifetimes.refreshAbsoluteTtl) * 1000),
    };
    if (issueRefresh) {
      await deps.sessions.create({
        id: sessionId,
        userId: user.id,
        clientId: client.id,
        scopes,
        createdAt: new Date(now),
        expiresAt: new Date(now + lifetimes.refreshAbsoluteTtl * 1000),
        ip,
        userAgent,
        firstToken: refreshRecord,
      });
    }
    const [access, refreshToken] = await Promise.all([
      deps.tokens.issueAccessToken({
        subject: user.id,
        clientId: client.id,
        audience: client.audience,
        scopes,
        roles: user.roles,
        ...(issueRefresh && { sessionId }),
        ttlSeconds: lifetimes.accessTokenTtl,
      }),
      issueRefresh ? deps.tokens.signRefreshToken(refreshRecord, { userId: user.id, clientId: client.id, sessionId }) : undefined,
    ]);
    deps.log('login_succeeded', { client_id: client.id, user_id: user.id, sid: issueRefresh ? sessionId : undefined });
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      ...(refreshToken !== undefined && { refresh_token: refreshToken }),
      scope: formatScope(scopes),
    };
  },
} satisfies GrantHandler;
