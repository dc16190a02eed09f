import type { Queryable } from '../../src/store/database';
import { generateSigningKey, savePrivateKey, type GeneratedKey } from '../../src/tokens/key-files';
import { createKeyRepository } from '../../src/tokens/key-repository';
import type { SigningKeyRecord } from '../../src/tokens/key-store';
import { createKeyRing, type KeyRing } from '../../src/tokens/key-ring';
import { tempDir } from '../support/backends';
import type { TestClock } from '../support/clock';

export const HOUR = 3_600_000;
export const LIFETIME_MS = 24 * HOUR;

/**
 * The signing_keys table as rows in memory, behind the real key repository (the ring reads it
 * with one SELECT), and private key files in a temporary keys directory.
 */
export function createKeyTable() {
  const rows: SigningKeyRecord[] = [];
  const counts = { selects: 0 };
  const db: Queryable = {
    async query<Row>(text: string): Promise<Row[]> {
      if (!text.startsWith('SELECT * FROM signing_keys')) throw new Error(`unexpected query: ${text}`);
      counts.selects += 1;
      return [...rows]
        .sort((a, b) => a.activatesAt.getTime() - b.activatesAt.getTime())
        .map(
          (r) =>
            ({
              kid: r.kid,
              public_jwk: r.publicJwk,
              created_at: r.createdAt,
              activates_at: r.activatesAt,
              retires_at: r.retiresAt,
              revoked_at: r.revokedAt,
            }) as Row,
        );
    },
  };
  const keysDir = tempDir('authd-ring-');
  return {
    rows,
    keysDir,
    /** How many times the table was read (each ring reload reads it once). */
    counts,
    repository: createKeyRepository(db),
    /** A key in the table, activating at `activatesAt` (ms), its private file saved unless `withPrivateKey` is false. */
    async add(
      activatesAt: number,
      options: { retiresAt?: number; revokedAt?: number; withPrivateKey?: boolean } = {},
    ): Promise<GeneratedKey & { record: SigningKeyRecord }> {
      const key = await generateSigningKey();
      if (options.withPrivateKey !== false) await savePrivateKey(keysDir, key);
      const record: SigningKeyRecord = {
        kid: key.kid,
        publicJwk: key.publicJwk,
        createdAt: new Date(activatesAt),
        activatesAt: new Date(activatesAt),
        retiresAt: options.retiresAt === undefined ? null : new Date(options.retiresAt),
        revokedAt: options.revokedAt === undefined ? null : new Date(options.revokedAt),
      };
      rows.push(record);
      return { ...key, record };
    },
    ring(clock: TestClock, unknownKidCooldownMs = 5000): Promise<KeyRing> {
      return createKeyRing({
        repository: createKeyRepository(db),
        keysDir,
        clock,
        maxTokenLifetimeMs: LIFETIME_MS,
        refreshIntervalMs: HOUR,
        unknownKidCooldownMs,
      });
    },
  };
}
