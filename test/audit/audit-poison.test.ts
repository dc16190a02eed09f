import express from 'express';
import request from 'supertest';
import { createAuditLog } from '../../src/audit/audit-log';
import { healthRouter } from '../../src/http/health';
import type { Logger } from '../../src/logger';
import { createMetrics } from '../../src/metrics';
import type { Queryable } from '../../src/store/database';
import { backends, openStack, type TestStack } from '../support/backends';
import { createTestClock } from '../support/clock';
import { basic, PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/**
 * One hostile request must not stop the audit trail: the NUL client_id that PostgreSQL refuses,
 * control characters in any audited string, a row the database refuses as bad data, and the
 * backlog that shows in the metrics and in readiness while events cannot be written.
 */

/** A logger that keeps what was logged at error level. */
function capturingLogger(): Logger & { errors: Array<{ fields: Record<string, unknown>; message: string }> } {
  const errors: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const noop = () => {};
  const logger = {
    errors,
    error: (fields: Record<string, unknown>, message: string) => void errors.push({ fields, message }),
    warn: noop,
    info: noop,
    debug: noop,
    trace: noop,
    fatal: noop,
  };
  return logger as unknown as Logger & { errors: typeof errors };
}

describe.each(backends())('a poisoned audit trail on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
  }, 180_000); // a loaded machine can take half a minute to start PGlite
  afterAll(() => stack.close());

  const eventsOf = async (requestId: string) =>
    (await stack.services.audit.query({ limit: 1000 })).filter((e) => e.requestId === requestId);

  describe('over HTTP', () => {
    it.each([
      ['client_id=%00x in the body', { client_id: '\u0000x' }, {}],
      ['a NUL client id in Basic', {}, { Authorization: basic('\u0000x', 'whatever-secret') }],
      ['a NUL inside an otherwise good-looking client id', { client_id: 'web\u0000' }, {}],
    ])(
      'refuses %s as invalid_client, audits it without the id, and events after it still land',
      async (label, params, headers) => {
        const tag = label.replace(/\W+/g, '-').slice(0, 40);
        const attack = await token(
          f.app,
          { grant_type: 'password', username: 'alice@example.com', password: PASSWORD, ...params },
          { ...headers, 'X-Request-Id': `nul-${tag}` },
        );
        expect(attack.status).toBe(401);
        expect(attack.body.error).toBe('invalid_client');

        const after = await token(
          f.app,
          { grant_type: 'password', client_id: 'web', username: 'alice@example.com', password: PASSWORD },
          { 'X-Request-Id': `after-${tag}` },
        );
        expect(after.status).toBe(200);

        expect(await eventsOf(`after-${tag}`)).toEqual([
          expect.objectContaining({ type: 'login_succeeded', userId: f.alice.id, clientId: 'web' }),
        ]);
        expect(await eventsOf(`nul-${tag}`)).toEqual([
          expect.objectContaining({
            type: 'client_authentication_failed',
            clientId: null,
            details: { reason: 'unknown client', client_id: 'malformed' },
          }),
        ]);
        expect(stack.services.audit.backlog()).toMatchObject({ pending: 0, dropped: 0 });
      },
    );

    it('never looks a malformed client id up in the database', async () => {
      const findById = jest.spyOn(stack.services.clients, 'findById');
      const res = await token(f.app, {
        grant_type: 'client_credentials',
        client_id: '\u0000machine',
        client_secret: 'x',
      });
      expect(res.status).toBe(401);
      expect(findById).not.toHaveBeenCalled();
      findById.mockRestore();
    });
  });

  describe('the audit log', () => {
    it('escapes C0 control characters and DEL in every audited string, and mends lone surrogates', async () => {
      stack.services.audit.record({
        type: 'user_unlocked',
        clientId: 'c\u0000id',
        context: {
          ip: '127.0.0.1\u0000',
          userAgent: 'agent\u001b[31m\r\nforged: line\u007f',
          requestId: 'ctrl-escape',
        },
        details: { reason: 'nul\u0000here', nested: { list: ['tab\tin', 'lone \ud800 surrogate'] }, 'key\u0000': 1 },
      });
      const [event] = await eventsOf('ctrl-escape');
      expect(event).toMatchObject({
        clientId: 'c\\x00id',
        ip: '127.0.0.1\\x00',
        userAgent: 'agent\\x1b[31m\\x0d\\x0aforged: line\\x7f',
        details: { reason: 'nul\\x00here', nested: { list: ['tab\\x09in', 'lone \ufffd surrogate'] }, 'key\\x00': 1 },
      });
    });

    it('writes a batch the database refuses as bad data row by row, dropping and logging only the bad row', async () => {
      const logger = capturingLogger();
      const log = createAuditLog({ db: stack.services.db, clock: stack.clock, logger, flushIntervalMs: 60_000 });
      const context = (requestId: string) => ({ ip: null, userAgent: null, requestId });
      log.record({ type: 'user_unlocked', context: context('row-good-1') });
      // Not a uuid: SQLSTATE 22P02, a data exception no retry can cure.
      log.record({ type: 'user_unlocked', userId: 'not-a-uuid', context: context('row-bad') });
      log.record({ type: 'user_unlocked', context: context('row-good-2') });
      await log.flush();
      expect(log.backlog()).toEqual({ pending: 0, oldestPendingMs: 0, writeFailures: 0, dropped: 1 });
      expect((await eventsOf('row-good-1')).length).toBe(1);
      expect((await eventsOf('row-good-2')).length).toBe(1);
      expect(await eventsOf('row-bad')).toEqual([]);
      expect(logger.errors).toEqual([
        {
          message: 'audit event refused by the database as bad data; dropped',
          fields: expect.objectContaining({ audit: 'user_unlocked', user_id: 'not-a-uuid', request_id: 'row-bad' }),
        },
      ]);
      // The log goes on working.
      log.record({ type: 'user_unlocked', context: context('row-later') });
      await log.flush();
      expect((await eventsOf('row-later')).length).toBe(1);
      await log.close();
    });

    it('keeps the events for the next flush when the database is unreachable (no data error), and writes them once it is back', async () => {
      let down = true;
      const flaky: Queryable = {
        query: (sql: string, params?: readonly unknown[]) => {
          if (down && sql.includes('INSERT INTO audit_events'))
            return Promise.reject(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }));
          return stack.services.db.query(sql, params);
        },
      } as Queryable;
      const clock = createTestClock(stack.clock.now());
      const logger = capturingLogger();
      const log = createAuditLog({
        db: flaky,
        clock,
        logger,
        flushIntervalMs: 60_000,
        backlogLimits: { events: 3, ageMs: 30_000 },
      });
      const metrics = createMetrics();
      metrics.watchAudit(log);
      const app = express().use(healthRouter([{ name: 'audit', check: () => log.checkBacklog(), degradesOnly: true }]));
      const ready = async () => (await request(app).get('/health/ready')).body;
      const metric = async (name: string) =>
        Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await metrics.registry.metrics())?.[1]);

      log.record({ type: 'user_unlocked', context: { ip: null, userAgent: null, requestId: 'kept-1' } });
      await log.flush();
      expect(log.backlog()).toMatchObject({ pending: 1, writeFailures: 1, dropped: 0 });
      expect(await ready()).toEqual({ status: 'ok', checks: { audit: 'ok' } });

      // Past the age limit: degraded, still 200, and the metrics say why.
      clock.advance(31_000);
      const res = await request(app).get('/health/ready');
      expect({ status: res.status, body: res.body }).toEqual({
        status: 200,
        body: { status: 'degraded', checks: { audit: 'degraded' } },
      });
      expect(await metric('authd_audit_pending_events')).toBe(1);
      expect(await metric('authd_audit_oldest_pending_seconds')).toBe(31);
      expect(await metric('authd_audit_write_failures_total')).toBe(1);

      // Past the count limit too.
      clock.advance(-31_000);
      for (const i of [2, 3])
        log.record({ type: 'user_unlocked', context: { ip: null, userAgent: null, requestId: `kept-${i}` } });
      expect((await ready()).status).toBe('degraded');

      down = false;
      await log.flush();
      expect(log.backlog()).toEqual({ pending: 0, oldestPendingMs: 0, writeFailures: 1, dropped: 0 });
      for (const i of [1, 2, 3]) expect((await eventsOf(`kept-${i}`)).length).toBe(1);
      expect(await ready()).toEqual({ status: 'ok', checks: { audit: 'ok' } });
      expect(await metric('authd_audit_pending_events')).toBe(0);
      await log.close();
    });
  });
});
