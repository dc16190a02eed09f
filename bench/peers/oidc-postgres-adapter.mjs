// A PostgreSQL adapter for the oidc-provider benchmark peer: one row per stored model instance
// (Grant, RefreshToken, …) in oidc_payloads, the shape of oidc-provider's example adapters, and
// a users table for the peer's password grant. Bench only.
import pg from 'pg';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS oidc_payloads (
  id text NOT NULL, type text NOT NULL, payload jsonb NOT NULL, grant_id text, uid text, user_code text,
  expires_at timestamptz, consumed_at timestamptz, PRIMARY KEY (id, type));
CREATE INDEX IF NOT EXISTS oidc_payloads_grant_id ON oidc_payloads (grant_id);
CREATE TABLE IF NOT EXISTS peer_users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), username text UNIQUE NOT NULL, password_hash text NOT NULL);`;

export async function postgresAdapter(databaseUrl, { users, passwordHash }) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 16 });
  await pool.query(SCHEMA);
  await pool.query(
    `INSERT INTO peer_users (username, password_hash) SELECT 'user' || g, $2 FROM generate_series(1, $1) g ON CONFLICT DO NOTHING`,
    [users, passwordHash],
  );

  class Adapter {
    constructor(name) {
      this.type = name;
    }

    async upsert(id, payload, expiresIn) {
      await pool.query(
        `INSERT INTO oidc_payloads (id, type, payload, grant_id, uid, user_code, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
         ON CONFLICT (id, type) DO UPDATE SET payload = EXCLUDED.payload, expires_at = EXCLUDED.expires_at`,
        [
          id,
          this.type,
          payload,
          payload.grantId ?? null,
          payload.uid ?? null,
          payload.userCode ?? null,
          expiresIn ?? 86400 * 365,
        ],
      );
    }

    async find(id) {
      const { rows } = await pool.query(
        'SELECT payload, consumed_at FROM oidc_payloads WHERE id = $1 AND type = $2 AND expires_at > now()',
        [id, this.type],
      );
      if (!rows[0]) return undefined;
      return {
        ...rows[0].payload,
        ...(rows[0].consumed_at ? { consumed: Math.floor(rows[0].consumed_at / 1000) } : {}),
      };
    }

    async findByUid(uid) {
      const { rows } = await pool.query('SELECT id FROM oidc_payloads WHERE uid = $1 AND type = $2', [uid, this.type]);
      return rows[0] ? this.find(rows[0].id) : undefined;
    }

    async findByUserCode(userCode) {
      const { rows } = await pool.query('SELECT id FROM oidc_payloads WHERE user_code = $1 AND type = $2', [
        userCode,
        this.type,
      ]);
      return rows[0] ? this.find(rows[0].id) : undefined;
    }

    async consume(id) {
      await pool.query('UPDATE oidc_payloads SET consumed_at = now() WHERE id = $1 AND type = $2', [id, this.type]);
    }

    async destroy(id) {
      await pool.query('DELETE FROM oidc_payloads WHERE id = $1 AND type = $2', [id, this.type]);
    }

    async revokeByGrantId(grantId) {
      await pool.query('DELETE FROM oidc_payloads WHERE grant_id = $1', [grantId]);
    }
  }

  async function findUser(username) {
    const { rows } = await pool.query('SELECT id, password_hash AS hash FROM peer_users WHERE username = $1', [
      username,
    ]);
    return rows[0];
  }

  return { Adapter, findUser };
}
