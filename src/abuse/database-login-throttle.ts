import type { Clock } from '../clock';
import type { Database } from '../store/database';
import {
  KNOWN_NETWORK_TTL_MS,
  lockoutMs,
  retryAfter,
  throttleKeys,
  type LoginThrottle,
  type ThrottleDecision,
  type ThrottleLimits,
} from './login-throttle';

interface Row {
  key: string;
  n: number;
  window_ends_at: Date;
  locked_until: Date | null;
  counted: boolean;
}

/**
 * The throttle on the database, for the embedded default (no Redis). The same rules as the Redis
 * script, in one transaction that row-locks the three counters in key order.
 */
export function createDatabaseLoginThrottle(db: Database, limits: ThrottleLimits, clock: Clock): LoginThrottle {
  let calls = 0;

  return {
    async begin(username, ip, options = {}): Promise<ThrottleDecision> {
      const keys = throttleKeys(username, ip);
      const now = clock.now();
      const decision = await db.transaction(async (tx) => {
        const ordered = [keys.userIp, keys.user, keys.ip].sort();
        await tx.query(
          `INSERT INTO login_throttle (key, n, window_ends_at) SELECT k, 0, $2 FROM unnest($1::text[]) AS k ORDER BY k
           ON CONFLICT (key) DO NOTHING`,
          [ordered, new Date(now + limits.windowMs)],
        );
        const rows = await tx.query<Row>('SELECT * FROM login_throttle WHERE key = ANY($1) ORDER BY key FOR UPDATE', [
          ordered,
        ]);
        const counter = (key: string) => {
          const row = rows.find((r) => r.key === key);
          if (!row) throw new Error(`login_throttle row ${key} is missing after its insert`); // locked in this transaction: cannot happen
          const expired = row.window_ends_at.getTime() <= now;
          return {
            n: expired ? 0 : row.n,
            until: expired ? now + limits.windowMs : row.window_ends_at.getTime(),
            lockedUntil: row.locked_until?.getTime() ?? 0,
            counted: !expired && row.counted,
          };
        };
        const userIp = counter(keys.userIp);
        const user = counter(keys.user);
        const address = counter(keys.ip);
        if (userIp.lockedUntil > now)
          return {
            allowed: false as const,
            retryAfterSeconds: retryAfter(userIp.lockedUntil - now),
            reason: 'user_ip_locked' as const,
          };
        if (address.n >= limits.ipFailures)
          return {
            allowed: false as const,
            retryAfterSeconds: retryAfter(address.until - now),
            reason: 'ip_limit' as const,
          };
        const trusted =
          options.trustedDevice === true ||
          (
            await tx.query('SELECT 1 FROM login_throttle WHERE key = $1 AND window_ends_at > $2', [
              keys.known,
              new Date(now),
            ])
          ).length > 0;
        if (!trusted && !userIp.counted && user.n >= limits.userFailures)
          return {
            allowed: false as const,
            retryAfterSeconds: retryAfter(user.until - now),
            reason: 'user_limit' as const,
          };

        const newNetwork = !trusted && !userIp.counted;
        userIp.n += 1;
        let lockedUntil: number | null = null;
        if (userIp.n >= limits.userIpFailures) {
          const delay = lockoutMs(userIp.n, limits);
          lockedUntil = now + delay;
          userIp.until = Math.max(userIp.until, lockedUntil + limits.windowMs);
        }
        await tx.query(
          `UPDATE login_throttle SET n = v.n, window_ends_at = v.until, locked_until = COALESCE(v.locked, login_throttle.locked_until), counted = v.counted
           FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::timestamptz[], $5::boolean[]) AS v(key, n, until, locked, counted)
           WHERE login_throttle.key = v.key`,
          [
            [keys.userIp, keys.user, keys.ip],
            [userIp.n, user.n + (newNetwork ? 1 : 0), address.n + 1],
            [new Date(userIp.until), new Date(user.until), new Date(address.until)],
            [lockedUntil === null ? null : new Date(lockedUntil), null, null],
            [userIp.counted || newNetwork, false, false],
          ],
        );
        return {
          allowed: true as const,
          ...(lockedUntil !== null && { lockSetAt: lockedUntil }),
          ...(newNetwork && { newNetwork: true as const }),
        };
      });
      // Now and then, forget counters nobody has touched for a day.
      if (++calls % 1000 === 0) {
        await db.query(
          'DELETE FROM login_throttle WHERE window_ends_at < $1 AND (locked_until IS NULL OR locked_until < $1)',
          [new Date(now - 86_400_000)],
        );
      }
      return decision;
    },

    async succeeded(username, ip) {
      const keys = throttleKeys(username, ip);
      const now = new Date(clock.now());
      await db.query(
        `WITH cleared AS (DELETE FROM login_throttle WHERE key = $1 RETURNING counted AND window_ends_at > $4 AS counted),
         known AS (INSERT INTO login_throttle (key, n, window_ends_at) VALUES ($3, 1, $5)
                   ON CONFLICT (key) DO UPDATE SET window_ends_at = EXCLUDED.window_ends_at)
         UPDATE login_throttle SET n = n - 1
         WHERE n > 0 AND (key = $2 OR (key = $6 AND EXISTS (SELECT 1 FROM cleared WHERE counted)))`,
        [keys.userIp, keys.ip, keys.known, now, new Date(now.getTime() + KNOWN_NETWORK_TTL_MS), keys.user],
      );
    },

    async release(username, ip, decision) {
      const keys = throttleKeys(username, ip);
      const lockSetAt = decision.allowed && decision.lockSetAt !== undefined ? new Date(decision.lockSetAt) : null;
      const newNetwork = decision.allowed && decision.newNetwork === true;
      await db.query(
        `UPDATE login_throttle SET n = GREATEST(n - 1, 0),
           locked_until = CASE WHEN key = $1 AND locked_until = $3 THEN NULL ELSE locked_until END,
           counted = CASE WHEN key = $1 AND $4 THEN false ELSE counted END
         WHERE key = ANY($2)`,
        [keys.userIp, [keys.userIp, keys.ip, ...(newNetwork ? [keys.user] : [])], lockSetAt, newNetwork],
      );
    },

    async unlock(username) {
      const keys = throttleKeys(username, '-');
      await db.query('DELETE FROM login_throttle WHERE starts_with(key, $1) OR key = $2', [
        keys.userIpPrefix,
        keys.user,
      ]);
    },
  };
}
