import type { Queryable } from '../store/database';
import type { NewUser, UserChanges, UserStore, UserWithHash } from './user-store';

interface UserRow {
  id: string;
  username: string;
  username_normalized: string;
  password_hash: string;
  email: string | null;
  email_verified: boolean;
  username_skeleton: string | null;
  roles: string[];
  scopes: string[];
  metadata: Record<string, unknown>;
  disabled_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

function toUser(row: UserRow): UserWithHash {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    usernameNormalized: row.username_normalized,
    email: row.email,
    emailVerified: row.email_verified,
    roles: row.roles,
    scopes: row.scopes,
    metadata: row.metadata,
    disabledAt: row.disabled_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function createUserRepository(db: Queryable): UserStore {
  return {
    async findByNormalizedUsername(normalized: string): Promise<UserWithHash | undefined> {
      const [row] = await db.query<UserRow>('SELECT * FROM users WHERE username_normalized = $1', [normalized]);
      return row && toUser(row);
    },

    async findByNormalizedEmail(normalized: string): Promise<UserWithHash | undefined> {
      const [row] = await db.query<UserRow>('SELECT * FROM users WHERE email_normalized = $1', [normalized]);
      return row && toUser(row);
    },

    async findById(id: string): Promise<UserWithHash | undefined> {
      const [row] = await db.query<UserRow>('SELECT * FROM users WHERE id = $1', [id]);
      return row && toUser(row);
    },

    /**
     * Returns undefined when the normalised username, its skeleton or the address is taken (the unique indexes
     * decide, not a prior read, so two look-alikes created at once cannot both win).
     */
    async insert(user: NewUser): Promise<UserWithHash | undefined> {
      const [row] = await db.query<UserRow>(
        `INSERT INTO users (id, username, username_normalized, username_skeleton, password_hash, roles, scopes, created_at, updated_at, email, email_normalized)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)
         ON CONFLICT DO NOTHING
         RETURNING *`,
        [
          user.id,
          user.username,
          user.usernameNormalized,
          user.usernameSkeleton,
          user.passwordHash,
          user.roles,
          user.scopes,
          user.now,
          user.email?.email ?? null,
          user.email?.normalized ?? null,
        ],
      );
      return row && toUser(row);
    },

    /** Users created before skeletons were stored, in id order after `afterId`. */
    async withoutSkeleton(
      limit: number,
      afterId: string | null,
    ): Promise<Array<{ id: string; usernameNormalized: string }>> {
      const rows = await db.query<{ id: string; username_normalized: string }>(
        `SELECT id, username_normalized FROM users WHERE username_skeleton IS NULL AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $1`,
        [limit, afterId],
      );
      return rows.map((r) => ({ id: r.id, usernameNormalized: r.username_normalized }));
    },

    /** Stores a skeleton; false when another user already has it (an older look-alike pair). */
    async setSkeleton(id: string, skeleton: string): Promise<boolean> {
      const rows = await db
        .query(
          `UPDATE users SET username_skeleton = $2 WHERE id = $1 AND username_skeleton IS NULL
           AND NOT EXISTS (SELECT 1 FROM users WHERE username_skeleton = $2) RETURNING id`,
          [id, skeleton],
        )
        .catch((error: { code?: string }) => {
          if (error.code === '23505') return []; // another instance stored that skeleton meanwhile
          throw error;
        });
      return rows.length === 1;
    },

    async list(limit = 100, offset = 0): Promise<UserWithHash[]> {
      const rows = await db.query<UserRow>('SELECT * FROM users ORDER BY username_normalized LIMIT $1 OFFSET $2', [
        limit,
        offset,
      ]);
      return rows.map(toUser);
    },

    /** Keyset pagination by normalised username; `search` matches anywhere in it. */
    async page(limit: number, after?: string, search?: string): Promise<UserWithHash[]> {
      const rows = await db.query<UserRow>(
        `SELECT * FROM users WHERE ($2::text IS NULL OR username_normalized > $2)
           AND ($3::text IS NULL OR strpos(username_normalized, $3) > 0)
         ORDER BY username_normalized LIMIT $1`,
        [limit, after ?? null, search ?? null],
      );
      return rows.map(toUser);
    },

    async delete(id: string): Promise<boolean> {
      return (await db.query('DELETE FROM users WHERE id = $1 RETURNING id', [id])).length === 1;
    },

    async count(): Promise<number> {
      const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
      return row.n;
    },

    /** Replaces the hash only if it is still the one we verified, so a concurrent password change wins. */
    async replacePasswordHash(id: string, expectedHash: string, newHash: string, now: Date): Promise<boolean> {
      const rows = await db.query(
        'UPDATE users SET password_hash = $3, updated_at = $4 WHERE id = $1 AND password_hash = $2 RETURNING id',
        [id, expectedHash, newHash, now],
      );
      return rows.length === 1;
    },

    /** Returns 'taken' when another user has the address (the unique index decides). */
    async replaceEmail(
      id: string,
      email: { email: string; normalized: string } | null,
      verified: boolean,
      now: Date,
    ): Promise<UserWithHash | undefined | 'taken'> {
      try {
        const [row] = await db.query<UserRow>(
          'UPDATE users SET email = $2, email_normalized = $3, email_verified = $4, updated_at = $5 WHERE id = $1 RETURNING *',
          [id, email?.email ?? null, email?.normalized ?? null, email !== null && verified, now],
        );
        return row && toUser(row);
      } catch (error) {
        if ((error as { code?: string }).code === '23505') return 'taken';
        throw error;
      }
    },

    async replaceMetadata(id: string, metadata: Record<string, unknown>, now: Date): Promise<UserWithHash | undefined> {
      const [row] = await db.query<UserRow>(
        'UPDATE users SET metadata = $2, updated_at = $3 WHERE id = $1 RETURNING *',
        [id, JSON.stringify(metadata), now],
      );
      return row && toUser(row);
    },

    async update(id: string, changes: UserChanges, now: Date): Promise<UserWithHash | undefined> {
      const [row] = await db.query<UserRow>(
        `UPDATE users SET
           password_hash = COALESCE($2, password_hash),
           roles = COALESCE($3, roles),
           scopes = COALESCE($4, scopes),
           disabled_at = CASE WHEN $5::boolean IS NULL THEN disabled_at
                              WHEN $5::boolean THEN COALESCE(disabled_at, $6) ELSE NULL END,
           updated_at = $6
         WHERE id = $1 RETURNING *`,
        [
          id,
          changes.passwordHash ?? null,
          changes.roles ?? null,
          changes.scopes ?? null,
          changes.disabled ?? null,
          now,
        ],
      );
      return row && toUser(row);
    },
  };
}
