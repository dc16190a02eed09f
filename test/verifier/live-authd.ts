import { once } from 'node:events';
import { createApp } from '../../src/app';
import { openStack, type Backend, type TestStack } from '../support/backends';
import type { TestClock } from '../support/clock';
import { PASSWORD } from '../support/fixtures';
import { freePort } from '../support/processes';

export interface LiveAuthd {
  stack: TestStack;
  /** http://127.0.0.1:<port>: the issuer, so discovery and the JWKS are the real thing. */
  issuer: string;
  close(): Promise<void>;
}

/** A whole authd on a fresh stack of the backend, listening on a real port, as services meet it. */
export async function startLiveAuthd(
  backend: Backend,
  env: Record<string, string> = {},
  clock?: TestClock,
): Promise<LiveAuthd> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const stack = await openStack(backend, { AUTHD_ISSUER: issuer, ...env }, clock);
  const server = createApp(stack.config, stack.services).listen(port, '127.0.0.1');
  try {
    await once(server, 'listening');
  } catch (error) {
    await stack.close();
    throw error;
  }
  return {
    stack,
    issuer,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await stack.close();
    },
  };
}

/** A password login at authd over HTTP; throws unless authd answers 200. */
export async function loginAt(
  issuer: string,
  params: { clientId: string; username: string; scope?: string },
): Promise<{ access: string; refresh: string }> {
  const response = await fetch(`${issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: params.clientId,
      username: params.username,
      password: PASSWORD,
      ...(params.scope && { scope: params.scope }),
    }).toString(),
  });
  const body = (await response.json()) as { access_token: string; refresh_token: string };
  if (response.status !== 200) throw new Error(`login failed with ${response.status}: ${JSON.stringify(body)}`);
  return { access: body.access_token, refresh: body.refresh_token };
}
