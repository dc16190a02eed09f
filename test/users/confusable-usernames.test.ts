import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { readUserFile } from '../../src/users/user-file-format';
import { importRecords, type RowFailure } from '../../src/users/user-import';
import { backfillUsernameSkeletons } from '../../src/users/skeleton-backfill';
import { domainError } from '../support/domain-error';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD } from '../support/fixtures';

const CYRILLIC_A = '\u0430';
const LOOKS_TAKEN = {
  kind: 'conflict',
  message: 'That username looks like one that is taken (confusable characters).',
};

describe.each(backends())('look-alike usernames on $name', (backend) => {
  let stack: TestStack;
  const create = (username: string) => stack.services.users.create({ username, password: PASSWORD });

  beforeAll(async () => {
    stack = await openStack(backend);
  });
  afterAll(() => stack.close());

  it('refuses a name confusable with an existing one (Cyrillic "а", digit look-alikes), and tells it apart from a taken one', async () => {
    await create('alice@example.com');
    expect(await domainError(create(`${CYRILLIC_A}lice@example.com`))).toEqual(LOOKS_TAKEN);
    expect(await domainError(create('ALICE@example.com'))).toEqual({
      kind: 'conflict',
      message: 'That username is taken.',
    });
    await create('BOBO');
    expect(await domainError(create('bob0'))).toEqual(LOOKS_TAKEN);
    await create('carol1');
    expect(await domainError(create('caroll'))).toEqual(LOOKS_TAKEN);
    // Different names stay possible.
    await create('carol2');
    expect(
      await stack.services.userRepository.findByNormalizedUsername(`${CYRILLIC_A}lice@example.com`),
    ).toBeUndefined();
  });

  it('lets exactly one of two look-alikes created at the same moment win (the unique index decides)', async () => {
    const names = ['paypal', `p${CYRILLIC_A}ypal`, 'p\u0430yp\u0430l', 'PAYPAL'];
    const results = await Promise.allSettled(names.map(create));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as { kind: string }).kind).toBe('conflict');
  });

  it('gives users from before the migration their skeleton at start, so their look-alikes are refused too', async () => {
    const insertOld = (username: string) =>
      stack.services.db.query(
        `INSERT INTO users (id, username, username_normalized, password_hash, created_at, updated_at) VALUES ($1, $2, $2, 'x', now(), now())`,
        [crypto.randomUUID(), username],
      );
    await insertOld('dave');
    await insertOld(`d${CYRILLIC_A}ve`); // an old look-alike pair: only one can hold the skeleton
    await insertOld('erin');
    expect(await domainError(create('erin'))).toEqual({ kind: 'conflict', message: 'That username is taken.' });
    const first = await backfillUsernameSkeletons(stack.services.userRepository);
    expect(first).toEqual({ filled: 2, lookAlikes: [expect.any(String)] });
    expect(await backfillUsernameSkeletons(stack.services.userRepository)).toEqual({
      filled: 0,
      lookAlikes: first.lookAlikes,
    });
    expect(await domainError(create(`er${'\u0456'}n`))).toEqual(LOOKS_TAKEN); // Cyrillic "і"
    expect(await domainError(create('DAVE'))).toEqual({ kind: 'conflict', message: 'That username is taken.' });
  });

  it('refuses a look-alike in an import too, naming its line; the other rows are imported', async () => {
    await create('frank');
    const hash = '$2b$05$luqDlnXG8e9dmaIa5mXTQO8dRsQwMtr7uNaFE/Ubv1xGa916Pcauq';
    const lines = [
      { username: `fr${CYRILLIC_A}nk`, password_hash: hash },
      { username: 'grace', password_hash: hash },
    ];
    const failures: RowFailure[] = [];
    const source = Readable.from(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    const totals = await importRecords(readUserFile(source, 'jsonl'), stack.services.userImporter, {
      policy: 'skip',
      batchSize: 10,
      onFailure: (x) => failures.push(x),
    });
    expect({ created: totals.created, failed: totals.failed }).toEqual({ created: 1, failed: 1 });
    expect(failures).toEqual([
      expect.objectContaining({ line: 1, error: 'username looks like an existing one (confusable characters).' }),
    ]);
  });
});
