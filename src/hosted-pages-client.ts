import type { Config } from './config';
import type { Services } from './services';

/**
 * The hosted pages sign in through a built-in first-party client in cookie mode. It is created
 * on start when missing (like Keycloak's account-console client) and only ever used from the
 * issuer's own origin.
 */
export async function ensureHostedPagesClient(config: Config, services: Services): Promise<void> {
  if (!config.hostedPages) return;
  const existing = await services.clients.findById(config.hostedPages.clientId);
  if (existing) return;
  await services.clientService.create({
    id: config.hostedPages.clientId,
    name: `${config.hostedPages.brandName} account pages`,
    confidential: false,
    firstParty: true,
    grantTypes: ['password', 'refresh_token'],
    audience: config.issuer,
    cookieMode: true,
    allowedOrigins: [new URL(config.issuer).origin],
  }).catch((error) => {
    // Another instance created it at the same moment: fine.
    if ((error as { kind?: string }).kind !== 'conflict') throw error;
  });
}
