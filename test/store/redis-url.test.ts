import { parseRedisUrl } from '../../src/store/redis';

describe('parseRedisUrl', () => {
  it.each([
    ['redis://127.0.0.1:6379', { kind: 'single', endpoints: [{ host: '127.0.0.1', port: 6379 }], tls: false }],
    ['redis://cache', { kind: 'single', endpoints: [{ host: 'cache', port: 6379 }], tls: false }],
    ['rediss://user:p%40ss@cache.example.com:6380/2', { kind: 'single', endpoints: [{ host: 'cache.example.com', port: 6380 }], db: 2, username: 'user', password: 'p@ss', tls: true }],
    ['redis://[::1]:7000', { kind: 'single', endpoints: [{ host: '::1', port: 7000 }], tls: false }],
    ['redis+sentinel://:secret@s1:26379,s2,s3:26380/mymaster/1', {
      kind: 'sentinel', endpoints: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }, { host: 's3', port: 26380 }], name: 'mymaster', db: 1, password: 'secret', tls: false,
    }],
    ['redis+cluster://n1:7000,n2:7001', { kind: 'cluster', endpoints: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }], tls: false }],
  ])('reads %s', (url, expected) => {
    expect(parseRedisUrl(url)).toEqual(expected);
  });

  it.each([
    'http://cache:6379',
    'redis+sentinel://s1:26379',
    'redis://',
    'redis://host:port',
    'memcached://cache',
  ])('refuses %s', (url) => {
    expect(() => parseRedisUrl(url)).toThrow();
  });
});
