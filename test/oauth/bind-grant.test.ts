import { publicClient } from '../../src/clients/client-store';
import { clientCredentialsGrant, type ClientCredentialsDeps } from '../../src/oauth/grants/client-credentials';
import { bindGrant, type GrantClient, type GrantHandler } from '../../src/oauth/grants/grant';
import { passwordGrant, type PasswordGrantDeps } from '../../src/oauth/grants/password';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD, seed } from '../support/fixtures';

const context = { ip: '192.0.2.7', userAgent: 'bind-grant test', requestId: 'r1' };

/** The deps object, recording every member the grant reads. */
function watched<T extends object>(deps: T): { deps: T; read: Set<string> } {
  const read = new Set<string>();
  const proxy = new Proxy(deps, {
    get(target, key, receiver) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(target, key, receiver);
    },
  });
  return { deps: proxy, read };
}

describe('bindGrant', () => {
  it('binds the deps once: the bound grant takes the request alone and passes both through', async () => {
    const calls: unknown[][] = [];
    const handler: GrantHandler<{ x?: string }, { n: number }> = {
      grantType: 'urn:test',
      schema: clientCredentialsGrant.schema as never,
      async handle(request, deps) {
        calls.push([request.params, deps]);
        return { access_token: 't', token_type: 'Bearer', expires_in: deps.n, scope: '' };
      },
    };
    const deps = { n: 7 };
    const bound = bindGrant(handler, deps);
    expect(bound.grantType).toBe('urn:test');
    expect(bound.schema).toBe(handler.schema);
    const request = { params: { x: 'y' }, client: {} as GrantClient, context };
    await expect(bound.handle(request)).resolves.toMatchObject({ expires_in: 7 });
    expect(calls).toEqual([[{ x: 'y' }, deps]]);
    expect(calls[0]![1]).toBe(deps);
  });

  it('refuses, at compile time, deps that lack what the grant declares and calls with deps', () => {
    const audit = { record: () => {} };
    const lifetimes = { accessTokenTtl: 60, refreshIdleTtl: 60, refreshAbsoluteTtl: 60, refreshReuseGrace: 0 };
    // @ts-expect-error client_credentials cannot be bound without its token issuer
    expect(() => bindGrant(clientCredentialsGrant, { audit, lifetimes })).not.toThrow();
    const bound = bindGrant(clientCredentialsGrant, {
      tokens: { issueAccessToken: async () => ({ token: 't', jti: 'j', expiresIn: 1 }) },
      audit,
      lifetimes,
    });
    const request = { params: {}, client: {} as GrantClient, context };
    // @ts-expect-error the bound grant has its deps: the token endpoint passes the request alone
    void (() => bound.handle(request, {}));
    // The narrow contracts name no users, sessions or throttle for a machine client.
    type Declared = keyof ClientCredentialsDeps;
    const declared: Record<Declared, true> = { tokens: true, lifetimes: true, audit: true };
    expect(Object.keys(declared).sort()).toEqual(['audit', 'lifetimes', 'tokens']);
    // @ts-expect-error ClientCredentialsDeps has no users
    const noUsers: ClientCredentialsDeps['users'] = undefined;
    // @ts-expect-error ClientCredentialsDeps has no throttle
    const noThrottle: ClientCredentialsDeps['throttle'] = undefined;
    expect([noUsers, noThrottle]).toEqual([undefined, undefined]);
  });
});

describe.each(backends())('grants bound to their own deps on $name', (backend) => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await openStack(backend);
    await seed(stack);
  });
  afterAll(() => stack.close());

  const clientOf = async (id: string): Promise<GrantClient> =>
    publicClient((await stack.services.clients.findById(id))!) as GrantClient;

  it('client_credentials issues a token reading only the token issuer, the lifetimes and the audit log', async () => {
    const { tokens, lifetimes, audit } = stack.services;
    const { deps, read } = watched<ClientCredentialsDeps>({ tokens, lifetimes, audit });
    const grant = bindGrant(clientCredentialsGrant, deps);
    const answer = await grant.handle({ params: {}, client: await clientOf('machine'), context });
    expect(answer).toMatchObject({ token_type: 'Bearer', scope: 'invoices:read' });
    await expect(tokens.verifyAccessToken(answer.access_token)).resolves.toMatchObject({ sub: 'machine' });
    expect([...read].sort()).toEqual(['audit', 'lifetimes', 'tokens']);
  });

  it('password reads what PasswordGrantDeps declares and nothing else', async () => {
    const { users, sessions, tokens, clock, throttle, audit, mfa, lifetimes } = stack.services;
    const all: PasswordGrantDeps = {
      users,
      sessions,
      tokens,
      clock,
      throttle,
      audit,
      mfa,
      lifetimes,
      requireVerifiedEmail: false,
    };
    const { deps, read } = watched(all);
    const grant = bindGrant(passwordGrant, deps);
    const answer = await grant.handle({
      params: { username: 'alice@example.com', password: PASSWORD },
      client: await clientOf('backend'),
      context,
    });
    expect(answer.refresh_token).toEqual(expect.any(String));
    // Every member it reads is declared, and every declared member is used by a plain sign-in.
    expect([...read].sort()).toEqual(Object.keys(all).sort());
  });
});
