import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app';
import { expressServerOptions } from './http/lean-path';
import type { Config } from './config';
import { createDemoAccount, demoInstructions, demoPasswordReminder } from './dev-bootstrap';
import { ensureHostedPagesClient } from './hosted-pages-client';
import { warnAboutIssuerAudienceClients } from './issuer-audience-check';
import { reportMetricsToPrimary, startMetricsServer } from './metrics';
import { openServices, type OpenOptions, type Services } from './services';
import { describeMail } from './mail/mail';
import { backfillUsernameSkeletons } from './users/skeleton-backfill';

export interface RunningServer {
  services: Services;
  server: http.Server;
  url: string;
  metricsUrl: string | undefined;
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), closes the stores. */
  stop(): Promise<void>;
}

function urlOf(server: http.Server): string {
  const address = server.address() as AddressInfo;
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

/**
 * Stops accepting, answers what is in flight with `Connection: close`, closes each connection as
 * soon as it is idle, and cuts whatever is left after the timeout.
 */
function closeServer(server: http.Server, timeoutMs: number, inFlight: Set<http.ServerResponse>): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), timeoutMs);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
    server.on('request', (_req, res: http.ServerResponse) => {
      res.shouldKeepAlive = false;
    });
    server.closeIdleConnections();
  });
}

/** The responses not yet finished, so a shutdown can tell them to close their connections. */
function trackInFlight(server: http.Server): Set<http.ServerResponse> {
  const inFlight = new Set<http.ServerResponse>();
  server.on('request', (_req, res: http.ServerResponse) => {
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      if (!server.listening) server.closeIdleConnections();
    });
  });
  return inFlight;
}

export interface StartOptions extends OpenOptions {
  /** A cluster worker: the primary serves the (aggregated) metrics, so the worker does not. */
  clusterWorker?: boolean;
}

/** Opens the stores, loads the key ring, listens. */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const services = await openServices(config, { background: true, ...options });
  const { logger } = services;
  let draining = false;
  let server: http.Server;
  try {
    if (config.devBootstrap) {
      const demo = await createDemoAccount(services);
      const banner = demo ? demoInstructions(config.issuer, demo) : await demoPasswordReminder(services);
      if (banner) process.stdout.write(banner + '\n');
    }
    await ensureHostedPagesClient(config, services);
    await warnAboutIssuerAudienceClients(services);
    const { lookAlikes } = await backfillUsernameSkeletons(services.userRepository);
    if (lookAlikes.length)
      logger.warn(
        { user_ids: lookAlikes },
        "users whose names look like an older user's (created before look-alikes were refused): rename them",
      );
    // Draining before the listener closes: a load balancer health-checking /health/ready stops
    // sending new requests, so none reaches a closed port (a rolling restart drops nothing).
    if (config.shutdownDelayMs > 0) {
      services.readinessChecks.push({
        name: 'shutdown',
        check: () => {
          if (draining) throw new Error('shutting down');
        },
      });
    }
    const app = createApp(config, services);
    server = await new Promise<http.Server>((resolve, reject) => {
      const s = http.createServer(expressServerOptions(app), app);
      s.once('error', reject);
      s.listen(config.port, config.host, () => {
        s.off('error', reject);
        resolve(s);
      });
    });
  } catch (error) {
    // A start that fails (a missing file, a port in use) must not leave the stores open behind it.
    await services.close().catch(() => {});
    throw error;
  }
  const inFlight = trackInFlight(server);
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  if (options.clusterWorker) reportMetricsToPrimary(services.metrics);
  const metricsServer =
    config.metrics && !options.clusterWorker
      ? await startMetricsServer(services.metrics, config.metrics.port, config.metrics.host)
      : undefined;
  const url = urlOf(server);
  const metricsUrl = metricsServer && `${urlOf(metricsServer)}/metrics`;
  logger.info(
    {
      url,
      metrics: metricsUrl,
      issuer: config.issuer,
      database: services.db.kind === 'embedded' ? `embedded (${config.dataDir})` : 'postgres',
      revocations: services.redis ? 'redis' : 'database',
      argon2_concurrency: config.argon2Capacity.concurrency,
    },
    'authd listening',
  );
  const mailLine = describeMail(config);
  logger[mailLine.level](mailLine.message);
  // Mail queued while no instance was running (or by a CLI command) goes out now.
  services.mail?.worker.start();

  let stopping: Promise<void> | undefined;
  return {
    services,
    server,
    url,
    metricsUrl,
    stop() {
      stopping ??= (async () => {
        if (config.shutdownDelayMs > 0) {
          draining = true;
          await new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs));
        }
        await Promise.all([
          closeServer(server, config.shutdownTimeoutMs, inFlight),
          metricsServer && closeServer(metricsServer, 1000, new Set()),
        ]);
        await services.close();
      })();
      return stopping;
    },
  };
}
