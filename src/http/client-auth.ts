import type { Request, Response } from 'express';
import type { AuditLog } from '../audit/audit-log';
import { publicClient, type ClientStore, type ClientWithDigest } from '../clients/client-store';
import type { ClientSecretDigester } from '../clients/client-secret';
import { CLIENT_ID } from '../clients/client-service';
import { OAuthError, invalidClient, invalidRequest } from '../errors';
import type { GrantClient } from '../oauth/grants/grant';
import { requestContext } from './request-context';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';
export const CLIENT_AUTH_METHODS: ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'none'];

interface PresentedCredentials {
  method: ClientAuthMethod;
  clientId: string;
  secret?: string;
}

/** RFC 6749 §2.3.1: Basic carries the form-urlencoded id and secret. */
function parseBasic(header: string): { clientId: string; secret: string } {
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidClient(true, 'Basic credentials without a colon');
  try {
    const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw invalidClient(true, 'Basic credentials are not form-urlencoded');
  }
}

function presentedCredentials(req: Request, params: Record<string, string>): PresentedCredentials {
  const authorization = req.headers.authorization;
  if (authorization && /^basic /i.test(authorization)) {
    // RFC 6749 §2.3: one authentication method per request.
    if (params.client_secret !== undefined) throw invalidRequest('Use one client authentication method, not two.');
    const basic = parseBasic(authorization);
    if (params.client_id !== undefined && params.client_id !== basic.clientId)
      throw invalidRequest('The client_id parameter does not match the credentials.');
    return { method: 'client_secret_basic', clientId: basic.clientId, secret: basic.secret };
  }
  if (params.client_id === undefined) throw invalidClient(false, 'no client authentication');
  if (params.client_secret !== undefined)
    return { method: 'client_secret_post', clientId: params.client_id, secret: params.client_secret };
  return { method: 'none', clientId: params.client_id };
}

/** Authenticates the client of a token-endpoint request; every failure is invalid_client. */
export async function authenticateClient(
  req: Request,
  params: Record<string, string>,
  clients: Pick<ClientStore, 'findById'>,
  digester: ClientSecretDigester,
): Promise<{ client: ClientWithDigest; method: ClientAuthMethod }> {
  const presented = presentedCredentials(req, params);
  const usedBasic = presented.method === 'client_secret_basic';
  const client = CLIENT_ID.test(presented.clientId) ? await clients.findById(presented.clientId) : undefined;
  if (presented.secret !== undefined) {
    // Always compare, even for an unknown or public client, so timing reveals nothing.
    const matches = digester.matches(presented.secret, client?.secretDigest ?? null);
    if (!client || !matches) throw invalidClient(usedBasic, client ? 'wrong client secret' : 'unknown client');
    return { client, method: presented.method };
  }
  if (!client) throw invalidClient(usedBasic, 'unknown client');
  if (client.confidential) throw invalidClient(usedBasic, 'confidential client sent no secret');
  return { client, method: 'none' };
}

/** Resolves to the authenticated client, its secret digest left behind. */
export type ClientAuthenticator = (req: Request, res: Response, params: Record<string, string>) => Promise<GrantClient>;

/** Client authentication for the token, revocation and introspection endpoints; failures are audited. */
export function createClientAuthenticator(deps: {
  clients: Pick<ClientStore, 'findById'>;
  digester: ClientSecretDigester;
  audit: AuditLog;
}): ClientAuthenticator {
  return async (req, res, params) => {
    try {
      return publicClient((await authenticateClient(req, params, deps.clients, deps.digester)).client);
    } catch (error) {
      if (error instanceof OAuthError && error.code === 'invalid_client') {
        let clientId = params.client_id;
        try {
          clientId = presentedCredentials(req, params).clientId;
        } catch {
          // unreadable Basic credentials: keep what the body said, if anything
        }
        // An id no client can have is never stored: it is attacker-chosen bytes, not a client.
        const wellFormed = clientId !== undefined && CLIENT_ID.test(clientId);
        deps.audit.record({
          type: 'client_authentication_failed',
          clientId: wellFormed ? clientId : null,
          context: requestContext(req, res),
          details: { reason: error.detail, ...(clientId !== undefined && !wellFormed && { client_id: 'malformed' }) },
        });
      }
      throw error;
    }
  };
}
