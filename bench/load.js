'use strict';
// Load generation over loopback with autocannon, bounded in time and connections.
const autocannon = require('autocannon');

/**
 * Runs one scenario. `next(context)` returns the next request ({ method, path, headers, body });
 * `onResponse(status, body, context)` may feed an answer back (the refresh chain).
 * Latencies of successful and refused (503) answers are also kept apart, for the overload run.
 */
async function load({ url, connections, seconds, next, onResponse }) {
  const okLatencies = [];
  const refusedLatencies = [];
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    pipelining: 1,
    timeout: 10,
    requests: [{
      setupRequest(request, context) {
        context.sentAt = process.hrtime.bigint();
        return { ...request, ...next(context) };
      },
      onResponse(status, body, context) {
        const ms = Number(process.hrtime.bigint() - context.sentAt) / 1e6;
        (status === 503 ? refusedLatencies : status < 400 ? okLatencies : []).push(ms);
        onResponse?.(status, body, context);
      },
    }],
  });
  const percentile = (values, p) => {
    if (values.length === 0) return null;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  };
  const statusCounts = result.statusCodeStats ?? {};
  const ok = Object.entries(statusCounts).filter(([code]) => Number(code) < 400).reduce((n, [, v]) => n + v.count, 0);
  return {
    rps: ok / result.duration,
    offeredRps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + (result.requests.total - ok),
    statusCounts: Object.fromEntries(Object.entries(statusCounts).map(([code, v]) => [code, v.count])),
    okP99: percentile(okLatencies, 99),
    refusedP99: percentile(refusedLatencies, 99),
  };
}

module.exports = { load };
