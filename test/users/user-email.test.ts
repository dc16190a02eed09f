import request from 'supertest';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/** A user's email address: unique after normalisation, unverified when it changes. */
jest.setTimeout(120_000);

describe.each(backends())('user email on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
    await stack.services.users.create({ username: 'mail-one', password: PASSWORD });
    await stack.services.users.create({ username: 'mail-two', password: PASSWORD });
  });
  afterAll(() => stack.close());

  const users = () => stack.services.users;
  const view = async (username: string) => {
    const u = await users().requireUser(username);
    return { email: u.email, emailVerified: u.emailVerified };
  };

  it('stores the address as given (trimmed), unverified unless the operator vouches for it', async () => {
    await users().setEmail('mail-one', '  One@Example.COM ');
    expect(await view('mail-one')).toEqual({ email: 'One@Example.COM', emailVerified: false });
    await users().setEmail('mail-one', 'One@Example.COM', { verified: true });
    expect(await view('mail-one')).toEqual({ email: 'One@Example.COM', emailVerified: true });
    // The same address again (in any case) keeps the flag; another address is unverified again.
    await users().setEmail('mail-one', 'one@example.com');
    expect(await view('mail-one')).toEqual({ email: 'one@example.com', emailVerified: true });
    await users().setEmail('mail-one', 'one@other.example');
    expect(await view('mail-one')).toEqual({ email: 'one@other.example', emailVerified: false });
    const [event] = await stack.services.audit.query({ types: ['user_email_changed'], limit: 1 });
    expect(event).toEqual(expect.objectContaining({ type: 'user_email_changed', details: { verified: false } }));
  });

  it('refuses an address another user has, however it is cased, and a malformed one', async () => {
    await expect(users().setEmail('mail-two', 'ONE@other.example')).rejects.toThrow(
      'That email address belongs to another user.',
    );
    await expect(users().setEmail('mail-two', 'not-an-address')).rejects.toThrow(
      'Email must look like name@example.com.',
    );
    await expect(users().setEmail('mail-two', `${'a'.repeat(250)}@example.com`)).rejects.toThrow(
      'Email must be at most 254 characters.',
    );
    expect(await view('mail-two')).toEqual({ email: null, emailVerified: false });
    // Removed, the address is free for another user.
    await users().setEmail('mail-one', null);
    expect(await view('mail-one')).toEqual({ email: null, emailVerified: false });
    await users().setEmail('mail-two', 'one@other.example');
    expect(await view('mail-two')).toEqual({ email: 'one@other.example', emailVerified: false });
  });

  it('is set through PATCH /admin/users/:id: 200, 409 for a taken address, 400 for a malformed one', async () => {
    await stack.services.clientService.create({
      id: 'admin-cli',
      name: 'Admin',
      confidential: false,
      firstParty: true,
      grantTypes: ['password'],
      scopes: ['authd:admin'],
      defaultScopes: ['authd:admin'],
      audience: 'https://authd.test',
    });
    await users().create({ username: 'root', password: PASSWORD, scopes: ['authd:admin'] });
    const admin = (
      await token(f.app, { grant_type: 'password', client_id: 'admin-cli', username: 'root', password: PASSWORD })
    ).body.access_token;
    const patch = (body: object) =>
      request(f.app).patch(`/admin/users/${f.alice.id}`).set('Authorization', `Bearer ${admin}`).send(body);

    const set = await patch({ email: 'Alice@Example.com', email_verified: true });
    expect({ status: set.status, email: set.body.email, email_verified: set.body.email_verified }).toEqual({
      status: 200,
      email: 'Alice@Example.com',
      email_verified: true,
    });
    const unverify = await patch({ email_verified: false });
    expect({
      status: unverify.status,
      email: unverify.body.email,
      email_verified: unverify.body.email_verified,
    }).toEqual({ status: 200, email: 'Alice@Example.com', email_verified: false });
    const taken = await patch({ email: 'one@OTHER.example' });
    expect({ status: taken.status, body: taken.body }).toEqual({
      status: 409,
      body: {
        error: 'invalid_request',
        code: 'email_taken',
        error_description: 'That email address belongs to another user.',
      },
    });
    const malformed = await patch({ email: 'alice at example' });
    expect({ status: malformed.status, error: malformed.body.error }).toEqual({
      status: 400,
      error: 'invalid_request',
    });
    const removed = await patch({ email: null });
    expect({ status: removed.status, email: removed.body.email, email_verified: removed.body.email_verified }).toEqual({
      status: 200,
      email: null,
      email_verified: false,
    });
  });
});
