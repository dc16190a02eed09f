import crypto from 'node:crypto';
import { normalizeUsername } from './users/username';
import type { Services } from './services';

export const DEMO_CLIENT_ID = 'demo-cli';
export const DEMO_USERNAME = 'demo';
/** The demo tokens are for an API of yours (examples/protected-api), never for authd's own APIs. */
export const DEMO_AUDIENCE = 'http://localhost:4000';

export interface DemoAccount {
  clientId: string;
  username: string;
  password: string;
}

/**
 * Development only, on an empty embedded database: a first-party public client and a user, so a
 * newcomer has a token within a minute. The password is random, shown once, stored only hashed.
 */
export async function createDemoAccount(services: Services): Promise<DemoAccount | undefined> {
  if ((await services.userRepository.count()) > 0) return undefined;
  const password = crypto.randomBytes(12).toString('base64url');
  await services.clientService
    .create({
      id: DEMO_CLIENT_ID,
      name: 'Demo first-party CLI',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['profile', 'read', 'write'],
      defaultScopes: ['profile', 'read'],
      audience: DEMO_AUDIENCE,
    })
    .catch((error) => {
      if ((error as { kind?: string }).kind !== 'conflict') throw error; // kept from an earlier run is fine
    });
  await services.users.create({
    username: DEMO_USERNAME,
    password,
    roles: ['user'],
    scopes: ['profile', 'read', 'write'],
  });
  return { clientId: DEMO_CLIENT_ID, username: DEMO_USERNAME, password };
}

export function demoInstructions(issuer: string, demo: DemoAccount): string {
  return [
    '',
    'Development mode: created a demo client and user (shown once; the password is stored only as a hash).',
    `  client_id: ${demo.clientId}   username: ${demo.username}   password: ${demo.password}`,
    'Get a token:',
    `  curl -s ${issuer}/oauth/token -d grant_type=password -d client_id=${demo.clientId} \\`,
    `       -d username=${demo.username} -d password='${demo.password}'`,
    '',
  ].join('\n');
}

/**
 * A restart finds the demo user already there, and its password was shown only once: the banner
 * says how to set a new one. The embedded database belongs to one process, hence the Ctrl-C.
 */
export async function demoPasswordReminder(services: Services): Promise<string | undefined> {
  if (!(await services.userRepository.findByNormalizedUsername(normalizeUsername(DEMO_USERNAME)))) return undefined;
  const embedded = services.db.kind === 'embedded';
  return [
    '',
    `Development mode: the demo user "${DEMO_USERNAME}" (client_id ${DEMO_CLIENT_ID}) exists; its password was shown at the first start only.`,
    `To set a new one${embedded ? ', stop this server (Ctrl-C) and run' : ', run'}:`,
    `  node dist/src/cli/main.js users set-password ${DEMO_USERNAME} --generate-password`,
    '',
  ].join('\n');
}
