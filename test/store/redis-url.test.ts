import { parseRedisUrl, redisClientOptions } from '../../src/store/redis';

describe('parseRedisUrl', () => {
  it.each([
    ['redis://127.0.0.1:6379', { kind: 'single', endpoints: [{ host: '127.0.0.1', port: 6379 }], tls: false }],
    ['redis://cache', { kind: 'single', endpoints: [{ host: 'cache', port: 6379 }], tls: false }],
    [
      'rediss://user:p%40ss@cache.example.com:6380/2',
      {
        kind: 'single',
        endpoints: [{ host: 'cache.example.com', port: 6380 }],
        db: 2,
        username: 'user',
        password: 'p@ss',
        tls: true,
      },
    ],
    ['redis://[::1]:7000', { kind: 'single', endpoints: [{ host: '::1', port: 7000 }], tls: false }],
    [
      'redis+sentinel://:secret@s1:26379,s2,s3:26380/mymaster/1',
      {
        kind: 'sentinel',
        endpoints: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26379 },
          { host: 's3', port: 26380 },
        ],
        name: 'mymaster',
        db: 1,
        password: 'secret',
        tls: false,
      },
    ],
    [
      'redis+cluster://n1:7000,n2:7001',
      {
        kind: 'cluster',
        endpoints: [
          { host: 'n1', port: 7000 },
          { host: 'n2', port: 7001 },
        ],
        tls: false,
      },
    ],
    [
      'rediss+sentinel://s1,s2:26380/mymaster',
      {
        kind: 'sentinel',
        endpoints: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26380 },
        ],
        name: 'mymaster',
        tls: true,
      },
    ],
    [
      'rediss+cluster://:pw@n1:7000',
      { kind: 'cluster', endpoints: [{ host: 'n1', port: 7000 }], password: 'pw', tls: true },
    ],
  ])('reads %s', (url, expected) => {
    expect(parseRedisUrl(url)).toEqual(expected);
  });

  const FORMS = 'expected redis://, redis+sentinel:// or redis+cluster:// (rediss… for TLS) with host:port';
  it.each([
    ['http://cache:6379', FORMS],
    ['redis+sentinel://s1:26379', 'redis+sentinel:// needs the master name as its path'],
    ['redis://', FORMS],
    ['redis://host:port', 'bad Redis host "host:port"'],
    ['memcached://cache', FORMS],
    ['rediss+sentinel://s1:26379', 'rediss+sentinel:// needs the master name as its path'],
    ['redis+tls://cache', FORMS],
  ])('refuses %s, saying why', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(new Error(message));
  });

  describe('redisClientOptions', () => {
    it('turns TLS on for a sentinel setup: towards the sentinels and towards the master they name', () => {
      const client = redisClientOptions('rediss+sentinel://:secret@s1,s2/mymaster', 'p:');
      expect(client).toEqual({
        kind: 'redis',
        options: expect.objectContaining({
          sentinels: [
            { host: 's1', port: 26379 },
            { host: 's2', port: 26379 },
          ],
          name: 'mymaster',
          password: 'secret',
          sentinelPassword: 'secret',
          tls: {},
          enableTLSForSentinelMode: true,
          sentinelTLS: {},
          keyPrefix: 'p:',
        }),
      });
    });

    it('turns TLS on for every node of a cluster', () => {
      const client = redisClientOptions('rediss+cluster://n1:7000,n2:7001', 'p:');
      expect(client).toEqual({
        kind: 'cluster',
        nodes: [
          { host: 'n1', port: 7000 },
          { host: 'n2', port: 7001 },
        ],
        options: expect.objectContaining({
          keyPrefix: 'p:',
          redisOptions: expect.objectContaining({ tls: {} }),
        }),
      });
    });

    it.each(['redis+sentinel://s1/mymaster', 'redis+cluster://n1:7000', 'redis://cache'])(
      'leaves TLS off for %s',
      (url) => {
        const client = redisClientOptions(url, 'p:');
        const options = client.kind === 'cluster' ? client.options.redisOptions! : client.options;
        expect(options).not.toHaveProperty('tls');
        expect(options).not.toHaveProperty('sentinelTLS');
        expect(options).not.toHaveProperty('enableTLSForSentinelMode');
      },
    );

    it('keeps TLS for a plain rediss:// URL', () => {
      expect(redisClientOptions('rediss://cache:6380', 'p:')).toEqual({
        kind: 'redis',
        options: expect.objectContaining({ host: 'cache', port: 6380, tls: {} }),
      });
    });
  });
});
