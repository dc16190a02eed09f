import { autoWorkerCount, databaseIsLocal } from '../src/worker-count';

describe('AUTHD_WORKERS=auto', () => {
  const local = 'postgres://postgres@127.0.0.1:5432/authd';
  const remote = 'postgres://authd@db.internal:5432/authd';

  it('is one worker on two cores or fewer, wherever the database is (measured: bench/README.md)', () => {
    for (const cores of [1, 2]) {
      expect(autoWorkerCount(cores, local)).toBe(1);
      expect(autoWorkerCount(cores, remote)).toBe(1);
    }
  });

  it('leaves a core to a PostgreSQL on the same machine, and gives every core a worker otherwise', () => {
    expect(autoWorkerCount(4, local)).toBe(3);
    expect(autoWorkerCount(4, remote)).toBe(4);
    expect(autoWorkerCount(16, remote)).toBe(16);
  });

  it('is one worker on the embedded database, which belongs to one process', () => {
    expect(autoWorkerCount(8, undefined)).toBe(1);
  });

  it.each([
    ['postgres://postgres@127.0.0.1:5432/authd', true],
    ['postgres://postgres@127.1.2.3/authd', true],
    ['postgresql://authd@localhost/authd', true],
    ['postgres://authd@[::1]:5432/authd', true],
    ['postgres:///authd', true],
    ['postgres:///authd?host=/var/run/postgresql', true],
    ['postgres://%2Fvar%2Frun%2Fpostgresql/authd', true],
    ['postgres://authd@db.internal:5432/authd', false],
    ['postgres://authd@10.0.0.5/authd', false],
    ['postgres:///authd?host=db.internal', false],
  ])('%s is on this machine: %s', (url, expected) => {
    expect(databaseIsLocal(url)).toBe(expected);
  });
});
