import { clientCredentialsGrant } from '../../src/oauth/grants/client-credentials';
import { passwordGrant } from '../../src/oauth/grants/password';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/** Client authentication leaves the secret digest behind: no grant ever holds it. */
describe.each(backends())('the client a grant receives on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
  });
  afterAll(() => stack.close());
  afterEach(() => jest.restoreAllMocks());

  it.each([
    {
      grant: passwordGrant,
      params: () => ({ grant_type: 'password', username: f.alice.username, password: PASSWORD }),
      client: () => f.backend,
      id: 'backend',
    },
    {
      grant: clientCredentialsGrant,
      params: () => ({ grant_type: 'client_credentials' }),
      client: () => f.machine,
      id: 'machine',
    },
  ])('$grant.grantType: the confidential client, without its secret digest', async ({ grant, params, client, id }) => {
    const stored = await stack.services.clients.findById(id);
    expect(stored!.secretDigest).toEqual(expect.any(String));
    const handle = jest.spyOn(grant, 'handle');
    const res = await token(f.app, params(), { Authorization: basic(id, client().secret) });
    expect(res.status).toBe(200);
    expect(handle).toHaveBeenCalledTimes(1);
    const received = handle.mock.calls[0]![0].client;
    expect(received.id).toBe(id);
    expect(received.confidential).toBe(true);
    expect(received).not.toHaveProperty('secretDigest');
  });
});
