import { ACCOUNT_SCOPE } from './clients/authd-clients';
import type { Config } from './config';
import type { Services } from './services';

/**
 * The hosted pages sign in through a built-in first-party client in cookie mode. It is created
 * on start when missing (like Keycloak's account-console client) and only ever used from the
 * issuer's own origin. One of authd's own clients: the issuer is its audience, and its one scope
 * is the account scope /account requires (added on start to a client made by an older version).
 */
export async function ensureHostedPagesClient(config: Config, services: Services): Promise<void> {
  if (!config.hostedPages) return;
  const id = config.hostedPages.clientId;
  const existing = await services.clients.findById(id);
  if (existing) {
    if (!existing.scopes.includes(ACCOUNT_SCOPE)) {
      await services.clientService.update(id, {
        scopes: [...existing.scopes, ACCOUNT_SCOPE],
        defaultScopes: [...existing.defaultScopes, ACCOUNT_SCOPE],
      });
    }
    return;
  }
  await services.clientService
    .create({
      id,
      name: `${config.hostedPages.brandName} account pages`,
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: [ACCOUNT_SCOPE],
      defaultScopes: [ACCOUNT_SCOPE],
      audience: config.issuer,
      cookieMode: true,
      allowedOrigins: [new URL(config.issuer).origin],
    })
    .catch((error) => {
      // Another instance created it at the same moment: fine.
      if ((error as { kind?: string }).kind !== 'conflict') throw error;
    });
}
