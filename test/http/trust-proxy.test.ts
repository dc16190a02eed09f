import { backends, openStack, type TestStack } from '../support/backends';
import { decodeJwt, PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/**
 * Behind one trusted proxy (AUTHD_TRUST_PROXY=1) the client address comes from X-Forwarded-For;
 * what it yields is used only when it is an IP address, and IPv4 counts as itself in any IPv6 dress.
 */
describe.each(backends())('client addresses behind a proxy on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;

  const login = (forwardedFor: string, password: string, requestId: string) =>
    token(
      f.app,
      { grant_type: 'password', client_id: 'web', username: 'alice@example.com', password },
      { 'X-Forwarded-For': forwardedFor, 'X-Request-Id': requestId },
    );

  beforeAll(async () => {
    stack = await openStack(backend, { AUTHD_TRUST_PROXY: '1', AUTHD_ARGON2_QUEUE_TIMEOUT_MS: '60000' });
    f = await seed(stack);
  }, 180_000); // a loaded machine can take half a minute to start PGlite
  beforeEach(() => stack.clock.advance(16 * 60_000));
  afterAll(() => stack.close());

  it('records the socket address, not a forwarded value that is no IP, in the session and the audit trail', async () => {
    const res = await login('<script>not-an-ip</script>', PASSWORD, 'junk-xff');
    expect(res.status).toBe(200);
    const sid = String(decodeJwt(res.body.access_token).payload.sid);
    const session = (await stack.services.sessions.listForUser(f.alice.id, new Date(stack.clock.now()))).find(
      (s) => s.id === sid,
    );
    expect(session?.ip).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    const [event] = (await stack.services.audit.query({ types: ['login_succeeded'] })).filter(
      (e) => e.requestId === 'junk-xff',
    );
    expect(event.ip).toBe(session?.ip);
  });

  it('counts rotating junk forwarded values as one address, so they do not escape the lock', async () => {
    for (let i = 0; i < 5; i++) expect((await login(`junk-${i}`, 'wrong password', `junk-${i}`)).status).toBe(400);
    expect((await login('junk-5', PASSWORD, 'junk-5')).status).toBe(429);
  });

  it('counts one IPv4 client written as IPv4, IPv4-mapped (both forms) and NAT64 as one address', async () => {
    const forms = [
      '203.0.113.7',
      '::ffff:203.0.113.7',
      '::ffff:cb00:7107',
      '64:ff9b::cb00:7107',
      '64:ff9b::203.0.113.7',
    ];
    for (const [i, form] of forms.entries()) expect((await login(form, 'wrong password', `v4-${i}`)).status).toBe(400);
    expect((await login('2002:cb00:7107::1', PASSWORD, 'v4-6to4')).status).toBe(429);
    // Another IPv4 address in NAT64 is another client.
    expect((await login('64:ff9b::198.51.100.9', PASSWORD, 'v4-other')).status).toBe(200);
  });
});
