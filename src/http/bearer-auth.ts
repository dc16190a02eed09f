import {
  BearerError,
  bearerToken,
  insufficientScope,
  invalidToken,
  malformedHeader,
  missingToken,
  sendBearerError,
} from '@authd/verifier';
import type { RequestHandler, Response } from 'express';
import { auditScope } from '../audit/audit-log';
import { isOwnClient, type OwnApi } from '../clients/authd-clients';
import type { Client } from '../clients/client-store';
import { revocationIdentity } from '../oauth/introspection';
import type { RevocationStore } from '../revocation/revocation-store';
import { InvalidTokenError } from '../tokens/jwt';
import type { AccessTokenClaims, TokenIssuer } from '../tokens/token-issuer';

declare module 'express-serve-static-core' {
  interface Locals {
    /** The verified access token of an /admin or /account request. */
    token?: AccessTokenClaims;
  }
}

/** The token bearerAuth verified for this request; a route mounted without bearerAuth is a bug. */
export function verifiedToken(res: Response): AccessTokenClaims {
  const { token } = res.locals;
  if (!token) throw new Error('no verified bearer token: bearerAuth must run before this route');
  return token;
}

export interface BearerAuthDeps {
  tokens: TokenIssuer;
  revocations: RevocationStore;
  /** authd's own APIs accept only tokens whose audience is authd itself. */
  issuer: string;
  /** ...and only from authd's own clients, which excludes clients made before that rule with the issuer as audience and other scopes. */
  ownApi: OwnApi;
  clients: { findById(id: string): Promise<Client | undefined> };
}

/**
 * Bearer authentication for authd's own APIs (/admin, /account): an access token of ours, for
 * our audience, not revoked, optionally with a scope and a subject that still exists. RFC 6750 errors.
 */
export function bearerAuth(
  deps: BearerAuthDeps,
  requiredScope?: string,
  isLiveSubject?: (claims: AccessTokenClaims) => Promise<boolean>,
): RequestHandler {
  return async (req, res, next) => {
    const realm = deps.issuer;
    try {
      const header = req.headers.authorization;
      if (!header) throw missingToken();
      // Stricter than a kit: authd's own APIs take no other scheme, so Basic here is a mistake (400).
      const token = bearerToken(header);
      if (token === undefined) throw malformedHeader();
      let claims: AccessTokenClaims;
      try {
        claims = await deps.tokens.verifyAccessToken(token);
      } catch (error) {
        // The rule's code rides on the BearerError (reason); the answer stays as vague as before.
        if (error instanceof InvalidTokenError) throw invalidToken(error.code, 'The token is invalid or expired.');
        throw error;
      }
      const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!audiences.includes(deps.issuer)) throw invalidToken('audience', 'The token is not meant for authd.');
      if (await deps.revocations.isRevoked(revocationIdentity(token, claims))) {
        throw invalidToken('revoked', 'The token has been revoked.');
      }
      const client = await deps.clients.findById(claims.client_id);
      if (!client || !isOwnClient(client, deps.ownApi))
        throw invalidToken('audience', "The token was not issued to one of authd's own clients.");
      if (requiredScope && !claims.scope.split(' ').includes(requiredScope)) throw insufficientScope([requiredScope]);
      // A token minted with a leaked key names whatever subject it likes; so does one that outlived its user.
      if (isLiveSubject && !(await isLiveSubject(claims)))
        throw invalidToken('revoked', "The token's subject is unknown or disabled.");
      res.locals.token = claims;
      const scope = auditScope.getStore();
      if (scope) scope.actor = claims.sub;
      res.set('Cache-Control', 'no-store');
      next();
    } catch (error) {
      if (error instanceof BearerError) return sendBearerError(res, error, realm);
      next(error);
    }
  };
}
