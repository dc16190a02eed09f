import http from 'node:http';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEvent, AuditLog } from './audit/audit-log';
import type { ConcurrencyLimiter } from './users/hash-limiter';

/** The labels of one HTTP request, known once its answer is sent. */
export interface RequestLabels {
  route: string;
  grant: string;
  status: number;
  /** The OAuth error code the answer carried, if any. */
  oauthError?: string;
}

/** Prometheus metrics, each registry owned by one app instance (tests build several). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'authd_' });
  const requests = new Counter({
    name: 'authd_http_requests_total',
    help: 'HTTP requests by route, grant and status',
    labelNames: ['route', 'grant', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'authd_http_request_duration_seconds',
    help: 'HTTP request latency by route and grant',
    labelNames: ['route', 'grant'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'authd_tokens_issued_total',
    help: 'Tokens issued, by grant',
    labelNames: ['grant'],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'authd_oauth_errors_total',
    help: 'OAuth error answers, by route and error code',
    labelNames: ['route', 'error'],
    registers: [registry],
  });
  const events = new Counter({
    name: 'authd_auth_events_total',
    help: 'Audit events by type (reuse detections, lockouts, logins…)',
    labelNames: ['type'],
    registers: [registry],
  });
  let limiter: ConcurrencyLimiter | undefined;
  new Gauge({
    name: 'authd_argon2_active',
    help: 'Argon2 computations running',
    registers: [registry],
    collect() {
      this.set(limiter?.stats().active ?? 0);
    },
  });
  new Gauge({
    name: 'authd_argon2_queue_depth',
    help: 'Argon2 computations waiting for a slot',
    registers: [registry],
    collect() {
      this.set(limiter?.stats().queued ?? 0);
    },
  });

  let audit: Pick<AuditLog, 'backlog'> | undefined;
  const backlog = () => audit?.backlog() ?? { pending: 0, oldestPendingMs: 0, writeFailures: 0, dropped: 0 };
  new Gauge({
    name: 'authd_audit_pending_events',
    help: 'Audit events not yet written to the database',
    registers: [registry],
    collect() {
      this.set(backlog().pending);
    },
  });
  new Gauge({
    name: 'authd_audit_oldest_pending_seconds',
    help: 'Age of the oldest audit event not yet written',
    registers: [registry],
    collect() {
      this.set(backlog().oldestPendingMs / 1000);
    },
  });
  // Totals kept by the audit log itself; reported as counters.
  new Counter({
    name: 'authd_audit_write_failures_total',
    help: 'Audit batch writes that failed and were retried',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(backlog().writeFailures);
    },
  });
  new Counter({
    name: 'authd_audit_events_dropped_total',
    help: 'Audit events dropped: refused by the database as bad data, or past the buffer bound',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(backlog().dropped);
    },
  });

  return {
    registry,
    /** Starts timing one HTTP request; the returned function counts it when its answer is sent. */
    startRequest(): (labels: RequestLabels) => void {
      const stop = latency.startTimer();
      return ({ route, grant, status, oauthError }) => {
        stop({ route, grant });
        requests.inc({ route, grant, status: String(status) });
        if (oauthError) failures.inc({ route, error: oauthError });
        if (status === 200 && route === '/oauth/token') tokens.inc({ grant });
      };
    },
    onAuditEvent(event: AuditEvent) {
      events.inc({ type: event.type });
    },
    watchAudit(watched: Pick<AuditLog, 'backlog'>) {
      audit = watched;
    },
    watchLimiter(watched: ConcurrencyLimiter) {
      limiter = watched;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** In a cluster worker: answer the primary's requests for this worker's metrics. */
export function reportMetricsToPrimary(metrics: Metrics): void {
  AggregatorRegistry.setRegistries([metrics.registry]);
  new AggregatorRegistry(); // registers the worker's message listener
}

interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

/** The primary of a cluster: every worker's metrics, summed. */
export function clusterMetricsSource(): MetricsSource {
  const aggregator = new AggregatorRegistry();
  return { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() };
}

/** GET /metrics on its own port, so it is never exposed with the public API. */
export function startMetricsServer(metrics: Metrics | MetricsSource, port: number, host: string): Promise<http.Server> {
  const source: MetricsSource = 'registry' in metrics ? metrics.registry : metrics;
  const server = http.createServer(async (req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    try {
      res.writeHead(200, { 'Content-Type': source.contentType }).end(await source.metrics());
    } catch {
      res.writeHead(503).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
