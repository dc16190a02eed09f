import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { createApp } from './app';
import type { Config } from './config';
import { createDemoAccount, demoInstructions } from './dev-bootstrap';
import { openServices, type OpenOptions, type Services } from './services';

export interface RunningServer {
  services: Services;
  server: http.Server;
  url: string;
  stop(): Promise<void>;
}

/** Opens the stores, loads the key ring, listens; stop() drains requests and closes everything. */
export async function startServer(config: Config, options: OpenOptions = {}): Promise<RunningServer> {
  const services = await openServices(config, { background: true, ...options });
  const { logger } = services;
  if (config.devBootstrap) {
    const demo = await createDemoAccount(services);
    if (demo) process.stdout.write(demoInstructions(config.issuer, demo) + '\n');
  }
  const app = createApp(config, services);
  const server = await new Promise<http.Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  logger.info({
    url,
    issuer: config.issuer,
    database: services.db.kind === 'embedded' ? `embedded (${config.dataDir})` : 'postgres',
    revocations: services.redis ? 'redis' : 'database',
  }, 'authd listening');

  let stopping: Promise<void> | undefined;
  return {
    services,
    server,
    url,
    stop() {
      stopping ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await services.close();
      })();
      return stopping;
    },
  };
}
