import type { NewClientInput } from '../../src/clients/client-service';
import { domainError } from '../support/domain-error';
import { backends, openStack, type TestStack } from '../support/backends';

describe.each(backends())('client service on $name', (backend) => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await openStack(backend);
  });
  afterAll(() => stack.close());

  const now = () => new Date(stack.clock.now());

  it('creates a confidential client and returns its secret once', async () => {
    const result = await stack.services.clientService.create({
      id: 'billing',
      name: '  Billing job  ',
      confidential: true,
      grantTypes: ['client_credentials', 'client_credentials'],
      scopes: ['invoices:read', 'invoices:write', 'invoices:read'],
      defaultScopes: ['invoices:read'],
      audience: 'https://billing.test',
      accessTokenTtl: 300,
    });
    expect(result).toEqual({
      client: {
        id: 'billing',
        name: 'Billing job',
        confidential: true,
        firstParty: false,
        canIntrospect: false,
        grantTypes: ['client_credentials'],
        scopes: ['invoices:read', 'invoices:write'],
        defaultScopes: ['invoices:read'],
        audience: 'https://billing.test',
        accessTokenTtl: 300,
        refreshIdleTtl: null,
        refreshAbsoluteTtl: null,
        cookieMode: false,
        allowedOrigins: [],
        redirectUris: [],
        userClaims: [],
        metadataClaims: [],
        requireMfa: false,
        createdAt: now(),
        updatedAt: now(),
      },
      secret: expect.stringMatching(/^[A-Za-z0-9_-]{43,}$/),
    });
    // Stored as the keyed digest, never as the secret.
    const stored = await stack.services.clients.findById('billing');
    expect(stored!.secretDigest).toBe(stack.services.digester.digest(result.secret!));
    expect(stored!.secretDigest).not.toBe(result.secret);
    expect(stack.services.digester.matches(result.secret!, stored!.secretDigest)).toBe(true);
  });

  it('creates a public first-party client without a secret, with a generated id', async () => {
    const result = await stack.services.clientService.create({
      name: 'Web login',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['profile'],
      audience: 'https://web-api.test',
    });
    expect(result).toEqual({
      client: {
        id: expect.stringMatching(/^c_[A-Za-z0-9_-]{16}$/),
        name: 'Web login',
        confidential: false,
        firstParty: true,
        canIntrospect: false,
        grantTypes: ['password', 'refresh_token'],
        scopes: ['profile'],
        defaultScopes: [],
        audience: 'https://web-api.test',
        accessTokenTtl: null,
        refreshIdleTtl: null,
        refreshAbsoluteTtl: null,
        cookieMode: false,
        allowedOrigins: [],
        redirectUris: [],
        userClaims: [],
        metadataClaims: [],
        requireMfa: false,
        createdAt: now(),
        updatedAt: now(),
      },
    });
    expect('secret' in result).toBe(false);
    expect((await stack.services.clients.findById(result.client.id))!.secretDigest).toBeNull();
  });

  it('never lists a secret or its digest', async () => {
    const { secret } = await stack.services.clientService.create({
      id: 'listed',
      name: 'Listed',
      confidential: true,
      grantTypes: ['client_credentials'],
      audience: 'https://api.example.test',
    });
    const digest = stack.services.digester.digest(secret!);
    const listed = await stack.services.clientService.list();
    const text = JSON.stringify(listed);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(digest);
    for (const client of listed) expect(Object.keys(client)).not.toEqual(expect.arrayContaining(['secretDigest']));
    expect(listed.find((c) => c.id === 'listed')).toEqual({
      id: 'listed',
      name: 'Listed',
      confidential: true,
      firstParty: false,
      canIntrospect: false,
      grantTypes: ['client_credentials'],
      scopes: [],
      defaultScopes: [],
      audience: 'https://api.example.test',
      accessTokenTtl: null,
      refreshIdleTtl: null,
      refreshAbsoluteTtl: null,
      cookieMode: false,
      allowedOrigins: [],
      redirectUris: [],
      userClaims: [],
      metadataClaims: [],
      requireMfa: false,
      createdAt: now(),
      updatedAt: now(),
    });
  });

  it('rotates a secret: the new one is returned once, the old one stops matching, neither is listed', async () => {
    const { secret: old } = await stack.services.clientService.create({
      id: 'rotating',
      name: 'Rotating',
      confidential: true,
      grantTypes: ['client_credentials'],
      audience: 'https://api.example.test',
    });
    const fresh = await stack.services.clientService.rotateSecret('rotating');
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(fresh).not.toBe(old);
    const stored = await stack.services.clients.findById('rotating');
    expect(stack.services.digester.matches(fresh, stored!.secretDigest)).toBe(true);
    expect(stack.services.digester.matches(old!, stored!.secretDigest)).toBe(false);
    const text = JSON.stringify(await stack.services.clientService.list());
    for (const value of [old!, fresh, stored!.secretDigest!]) expect(text).not.toContain(value);
    expect(JSON.stringify(await stack.services.clientService.get('rotating'))).not.toContain(stored!.secretDigest!);
  });

  it('gives every client its own secret', async () => {
    const a = await stack.services.clientService.create({
      id: 'twin-a',
      name: 'A',
      confidential: true,
      grantTypes: ['client_credentials'],
      audience: 'https://api.example.test',
    });
    const b = await stack.services.clientService.create({
      id: 'twin-b',
      name: 'B',
      confidential: true,
      grantTypes: ['client_credentials'],
      audience: 'https://api.example.test',
    });
    expect(a.secret).not.toBe(b.secret);
  });

  it('refuses a duplicate id with a conflict, keeping the first client', async () => {
    const first = await stack.services.clientService.create({
      id: 'dup',
      name: 'First',
      confidential: true,
      grantTypes: ['client_credentials'],
      audience: 'https://api.example.test',
    });
    expect(
      await domainError(
        stack.services.clientService.create({
          id: 'dup',
          name: 'Second',
          confidential: true,
          grantTypes: ['client_credentials'],
          audience: 'https://api.example.test',
        }),
      ),
    ).toEqual({ kind: 'conflict', message: 'A client with id "dup" exists.' });
    const stored = await stack.services.clients.findById('dup');
    expect(stored!.name).toBe('First');
    expect(stack.services.digester.matches(first.secret!, stored!.secretDigest)).toBe(true);
  });

  const base: NewClientInput = {
    name: 'x',
    confidential: true,
    grantTypes: ['client_credentials'],
    audience: 'https://api.example.test',
  };
  it.each<[string, Partial<NewClientInput>, string]>([
    [
      'the password grant without firstParty',
      { confidential: false, grantTypes: ['password'] },
      'the password grant is only for first-party clients',
    ],
    [
      'the password grant for a confidential third party',
      { grantTypes: ['password'] },
      'the password grant is only for first-party clients',
    ],
    [
      'client_credentials for a public client',
      { confidential: false, firstParty: true, grantTypes: ['client_credentials'] },
      'client_credentials needs a confidential client',
    ],
    [
      'default scopes outside its scopes',
      { scopes: ['read'], defaultScopes: ['read', 'write'] },
      'default scopes must be allowed scopes: write',
    ],
    ['default scopes with no scopes', { defaultScopes: ['read'] }, 'default scopes must be allowed scopes: read'],
    [
      "an access-token lifetime above the server's",
      { accessTokenTtl: 901 },
      'access token lifetime must be between 5 and 900 seconds',
    ],
    [
      "a refresh idle lifetime above the server's",
      { firstParty: true, grantTypes: ['password', 'refresh_token'], refreshIdleTtl: 14 * 86_400 + 1 },
      'refresh idle lifetime must be between 5 and 1209600 seconds',
    ],
    [
      "a refresh absolute lifetime above the server's",
      { firstParty: true, grantTypes: ['password', 'refresh_token'], refreshAbsoluteTtl: 30 * 86_400 + 1 },
      'refresh absolute lifetime must be between 5 and 2592000 seconds',
    ],
    ['a lifetime under 5 seconds', { accessTokenTtl: 4 }, 'access token lifetime must be between 5 and 900 seconds'],
    ['a fractional lifetime', { accessTokenTtl: 60.5 }, 'access token lifetime must be between 5 and 900 seconds'],
    ['an unknown grant type', { grantTypes: ['implicit'] }, 'unknown grant type: implicit'],
    ['no grant type', { grantTypes: [] }, 'at least one grant type is needed'],
    [
      'refresh_token without password',
      { grantTypes: ['client_credentials', 'refresh_token'] },
      'refresh_token is issued only with the password grant',
    ],
    [
      'introspection for a public client',
      { confidential: false, canIntrospect: true, grantTypes: [] },
      'introspection needs a confidential client',
    ],
    ['a malformed scope', { scopes: ['read "all"'] }, 'invalid scope name "read "all""'],
    ['an empty name', { name: '   ' }, 'name must be 1 to 200 characters'],
    [
      'no audience',
      { audience: undefined },
      'an audience is required (--audience: the identifier the API that takes its tokens checks in aud)',
    ],
    [
      "the issuer as audience next to a scope that is not authd's",
      { audience: 'https://authd.test', scopes: ['read', 'authd:account'] },
      "the issuer is the audience of authd's own clients only, which may carry only the scopes authd:admin, authd:account: give the API its own audience",
    ],
  ])('refuses %s', async (_label, override, problem) => {
    const id = `refused-${Math.random().toString(36).slice(2, 10)}`;
    const error = await domainError(stack.services.clientService.create({ ...base, id, ...override }));
    expect(error.kind).toBe('invalid');
    expect(error.message).toContain(problem);
    expect(await stack.services.clients.findById(id)).toBeUndefined();
  });

  it("accepts lifetimes equal to the server's", async () => {
    const { client } = await stack.services.clientService.create({
      id: 'longest',
      name: 'Longest',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      accessTokenTtl: 900,
      refreshIdleTtl: 14 * 86_400,
      refreshAbsoluteTtl: 30 * 86_400,
      audience: 'https://api.example.test',
    });
    expect([client.accessTokenTtl, client.refreshIdleTtl, client.refreshAbsoluteTtl]).toEqual([
      900,
      14 * 86_400,
      30 * 86_400,
    ]);
  });

  it('reports every problem at once', async () => {
    const error = await domainError(
      stack.services.clientService.create({
        id: 'many-problems',
        name: 'Many',
        confidential: false,
        grantTypes: ['password', 'client_credentials'],
        scopes: ['a'],
        defaultScopes: ['b'],
        accessTokenTtl: 10_000,
        audience: 'https://api.example.test',
      }),
    );
    expect(error).toEqual({
      kind: 'invalid',
      message:
        'Invalid client: the password grant is only for first-party clients (--first-party); client_credentials needs a confidential client; ' +
        "default scopes must be allowed scopes: b; access token lifetime must be between 5 and 900 seconds (the server's setting).",
    });
  });

  it.each(['ab', 'has space', 'x'.repeat(65), 'slash/inside'])('refuses the client id %j', async (id) => {
    expect(await domainError(stack.services.clientService.create({ ...base, id }))).toEqual({
      kind: 'invalid',
      message: 'Invalid client: id must be 3 to 64 letters, digits or _.:-.',
    });
  });

  it("lets only authd's own clients take the issuer as audience: those carrying authd's scopes alone", async () => {
    const { client } = await stack.services.clientService.create({
      id: 'admin-tool',
      name: 'Admin tool',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['authd:admin', 'authd:account'],
      defaultScopes: ['authd:admin'],
      audience: 'https://authd.test',
    });
    expect(client.audience).toBe('https://authd.test');
    // Adding another scope later is refused by the same rule.
    expect(
      await domainError(stack.services.clientService.update('admin-tool', { scopes: ['authd:admin', 'read'] })),
    ).toEqual({
      kind: 'invalid',
      message:
        "Invalid client: the issuer is the audience of authd's own clients only, which may carry only the scopes authd:admin, authd:account: give the API its own audience.",
    });
  });

  it('keeps a client made before audiences were required (issuer + other scopes) until it is changed, then asks for an audience', async () => {
    const t = now();
    await stack.services.clients.insert({
      id: 'legacy',
      name: 'Legacy',
      secretDigest: null,
      firstParty: true,
      canIntrospect: false,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['read'],
      defaultScopes: ['read'],
      audience: 'https://authd.test',
      accessTokenTtl: null,
      refreshIdleTtl: null,
      refreshAbsoluteTtl: null,
      cookieMode: false,
      allowedOrigins: [],
      redirectUris: [],
      userClaims: [],
      metadataClaims: [],
      requireMfa: false,
      now: t,
    });
    expect((await stack.services.clientService.get('legacy')).audience).toBe('https://authd.test');
    expect((await domainError(stack.services.clientService.update('legacy', { name: 'Renamed' }))).message).toContain(
      "authd's own clients only",
    );
    const fixed = await stack.services.clientService.update('legacy', {
      name: 'Renamed',
      audience: 'https://legacy-api.test',
    });
    expect([fixed.name, fixed.audience]).toEqual(['Renamed', 'https://legacy-api.test']);
  });
});
