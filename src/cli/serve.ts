import cluster, { type Worker } from 'node:cluster';
import type http from 'node:http';
import type { Config } from '../config';
import { createLogger } from '../logger';
import { clusterMetricsSource, startMetricsServer } from '../metrics';
import { startServer } from '../server';

/** One process serving HTTP; SIGTERM or SIGINT drains it and exits 0. */
async function serveOne(config: Config): Promise<void> {
  const running = await startServer(config, { clusterWorker: cluster.isWorker });
  const shutdown = (signal: string) => {
    running.services.logger.info({ signal }, 'shutting down');
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/**
 * AUTHD_WORKERS > 1: a primary forks that many HTTP workers sharing the port (node:cluster), so
 * JavaScript runs on every core; it serves their summed metrics, restarts a worker that dies,
 * and on SIGTERM lets every worker drain before it exits.
 */
async function servePrimary(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  let stopping = false;
  let metricsServer: http.Server | undefined;
  const fork = () => cluster.fork();
  const listened = new Set<Worker>();
  cluster.on('listening', (worker: Worker) => listened.add(worker));
  cluster.on('exit', (worker: Worker, code, signal) => {
    if (stopping) return;
    if (!listened.has(worker)) {
      // It failed to start (it said why on stderr): another would fail the same way, forever.
      logger.error({ pid: worker.process.pid, code, signal }, 'worker failed to start; stopping');
      stopping = true;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      metricsServer?.close();
      process.exitCode = 1;
      return;
    }
    listened.delete(worker);
    logger.error({ pid: worker.process.pid, code, signal }, 'worker died; starting another');
    setTimeout(fork, 1000).unref();
  });
  for (let i = 0; i < config.workers; i++) fork();
  if (config.metrics)
    metricsServer = await startMetricsServer(clusterMetricsSource(), config.metrics.port, config.metrics.host);
  logger.info({ workers: config.workers }, 'authd primary started');

  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    metricsServer?.close();
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    let left = workers.length;
    if (left === 0) process.exit(0);
    for (const worker of workers) {
      worker.once('exit', () => {
        if (--left === 0) process.exit(0);
      });
      worker.process.kill('SIGTERM');
    }
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

export function serve(config: Config): Promise<void> {
  return config.workers > 1 && cluster.isPrimary ? servePrimary(config) : serveOne(config);
}
