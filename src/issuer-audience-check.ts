import { foreignScopes, ownApi } from './clients/authd-clients';
import type { Services } from './services';

/**
 * Clients created before audiences were required may still have the issuer as audience next to
 * other scopes. They keep issuing tokens, but authd's own APIs refuse those tokens (bearer-auth);
 * say so once at start, so an operator gives them their API's audience.
 */
export async function warnAboutIssuerAudienceClients(services: Services): Promise<void> {
  const api = ownApi(services.config.issuer, services.config.adminScope);
  for (const client of await services.clients.list()) {
    const foreign = client.audience === api.issuer ? foreignScopes(client, api) : [];
    if (foreign.length === 0) continue;
    services.logger.warn(
      { client_id: client.id, scopes: foreign },
      `client ${client.id} has the issuer as audience and non-authd scopes: /account and /admin refuse its tokens; give it its API's audience (PATCH /admin/clients/${client.id} {"audience": …})`,
    );
  }
}
