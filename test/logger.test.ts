import { createLogger } from '../src/logger';

/**
 * Credentials and tokens never reach the log. createLogger gives no way to pass a destination,
 * so the test replaces process.stdout.write *before* creating the logger: pino then writes
 * through process.stdout (it only bypasses it for its own fast path when stdout is untouched).
 */

describe('log redaction', () => {
  let written: string[];
  let spy: jest.SpyInstance;

  beforeEach(() => {
    written = [];
    spy = jest.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof process.stdout.write);
  });
  afterEach(() => spy.mockRestore());

  /** Logs through a fresh createLogger('info') and returns the one JSON line it wrote. */
  function logOnce(
    fields: Record<string, unknown>,
    message = 'redaction probe',
  ): { line: string; entry: Record<string, unknown> } {
    const logger = createLogger('info');
    logger.info(fields, message);
    logger.flush();
    const lines = written.join('').split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    return { line: lines[0], entry: JSON.parse(lines[0]) };
  }

  it('redacts password, client_secret, refresh_token and headers.authorization', () => {
    const { line, entry } = logOnce({
      password: 'p',
      client_secret: 's',
      refresh_token: 't',
      headers: { authorization: 'Basic x' },
    });
    // The line was written at all (through the spy), so the absences below mean something.
    expect(entry).toMatchObject({ level: 30, service: 'authd', msg: 'redaction probe' });
    expect(entry).toMatchObject({
      password: '[redacted]',
      client_secret: '[redacted]',
      refresh_token: '[redacted]',
      headers: { authorization: '[redacted]' },
    });
    expect(line).not.toContain('Basic x');
    for (const value of ['"p"', '"s"', '"t"']) expect(line).not.toContain(value);
  });

  it('redacts every credential and token field it knows, at the top level', () => {
    const values = {
      password: 'hunter2-PLAINTEXT',
      client_secret: 'cs-SECRET-1234567890',
      secret: 'generic-SECRET-value',
      refresh_token: 'eyJhbGciOiJSUzI1NiJ9.refresh.SIGNATURE',
      access_token: 'eyJhbGciOiJSUzI1NiJ9.access.SIGNATURE',
      token: 'opaque-TOKEN-under-revocation',
      password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g',
      passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNo',
    };
    const { line, entry } = logOnce({
      ...values,
      headers: { authorization: 'Bearer eyJ.bearer.TOKEN', cookie: 'authd_rt=COOKIE-VALUE' },
      req: { headers: { authorization: 'Basic dXNlcjpwYXNz', cookie: 'sid=REQ-COOKIE' } },
    });
    expect(entry.msg).toBe('redaction probe');
    for (const value of [
      ...Object.values(values),
      'Bearer eyJ.bearer.TOKEN',
      'COOKIE-VALUE',
      'dXNlcjpwYXNz',
      'REQ-COOKIE',
    ])
      expect(line).not.toContain(value);
    for (const key of Object.keys(values)) expect(entry[key]).toBe('[redacted]');
  });

  it('redacts them one level down, as in a logged request body or a user record', () => {
    const { line } = logOnce({
      body: {
        password: 'nested-PLAINTEXT',
        client_secret: 'nested-CLIENT-SECRET',
        refresh_token: 'nested.refresh.TOKEN',
        token: 'nested-TOKEN',
      },
      user: { passwordHash: '$argon2id$v=19$nested$HASH' },
      client: { secret: 'nested-GENERIC-SECRET' },
    });
    for (const value of [
      'nested-PLAINTEXT',
      'nested-CLIENT-SECRET',
      'nested.refresh.TOKEN',
      'nested-TOKEN',
      '$argon2id$v=19$nested$HASH',
      'nested-GENERIC-SECRET',
    ]) {
      expect(line).not.toContain(value);
    }
  });

  it('leaves everything else as it was', () => {
    const { entry } = logOnce({ username: 'alice@example.com', client_id: 'web', request_id: 'req-1', status: 400 });
    expect(entry).toMatchObject({ username: 'alice@example.com', client_id: 'web', request_id: 'req-1', status: 400 });
  });

  it('does not write below its level', () => {
    const logger = createLogger('info');
    logger.debug({ password: 'debug-PLAINTEXT' }, 'hidden');
    logger.flush();
    expect(written.join('')).toBe('');
  });
});
