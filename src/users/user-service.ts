import crypto from 'node:crypto';
import type { AuditLog, AuditEventType } from '../audit/audit-log';
import type { Clock } from '../clock';
import { DomainError } from '../errors';
import { isScopeToken } from '../oauth/scope';
import type { PasswordHasher } from './password-hasher';
import { checkPasswordPolicy } from './password-policy';
import { publicUser, type User, type UserRepository, type UserWithHash } from './user-repository';
import { displayUsername, normalizeUsername } from './username';

export interface UserServiceDeps {
  users: UserRepository;
  hasher: PasswordHasher;
  clock: Clock;
  audit?: AuditLog;
  /** Called after a password change or a disable: ends every session of the user. */
  onCredentialsChanged?: (userId: string, reason: string) => Promise<void>;
}

const ROLE = /^[\w:.-]{1,64}$/;

function checkNames(values: string[], what: 'role' | 'scope'): string[] {
  const valid = what === 'role' ? (v: string) => ROLE.test(v) : isScopeToken;
  const bad = values.find((v) => !valid(v));
  if (bad !== undefined) throw new DomainError('invalid', `Invalid ${what} name: "${bad}".`);
  return [...new Set(values)];
}

function checkPassword(password: string): void {
  const problem = checkPasswordPolicy(password);
  if (problem) throw new DomainError('invalid', problem);
}

export type LoginResult =
  | { ok: true; user: UserWithHash }
  | { ok: false; reason: 'unknown_user' | 'wrong_password' | 'disabled'; userId?: string };

export function createUserService({ users, hasher, clock, audit, onCredentialsChanged }: UserServiceDeps) {
  const record = (type: AuditEventType, user: User, details?: Record<string, unknown>) => audit?.record({ type, userId: user.id, ...(details && { details }) });

  async function requireUser(username: string): Promise<UserWithHash> {
    const user = await users.findByNormalizedUsername(normalizeUsername(username));
    if (!user) throw new DomainError('not_found', `No user named "${displayUsername(username)}".`);
    return user;
  }

  async function update(username: string, changes: Parameters<UserRepository['update']>[1]): Promise<User> {
    const user = await requireUser(username);
    const updated = await users.update(user.id, changes, new Date(clock.now()));
    if (!updated) throw new DomainError('not_found', `No user named "${displayUsername(username)}".`);
    return publicUser(updated);
  }

  return {
    requireUser,

    async create(input: { username: string; password: string; roles?: string[]; scopes?: string[] }): Promise<User> {
      const normalized = normalizeUsername(input.username);
      checkPassword(input.password);
      const roles = checkNames(input.roles ?? [], 'role');
      const scopes = checkNames(input.scopes ?? [], 'scope');
      const inserted = await users.insert({
        id: crypto.randomUUID(),
        username: displayUsername(input.username),
        usernameNormalized: normalized,
        passwordHash: await hasher.hash(input.password),
        roles,
        scopes,
        now: new Date(clock.now()),
      });
      if (!inserted) throw new DomainError('conflict', 'That username is taken.');
      record('user_created', inserted, { roles, scopes });
      return publicUser(inserted);
    },

    /**
     * Checks a login. Unknown users cost one dummy verification, so the answer takes as long as for
     * a wrong password. A correct password hashed with outdated parameters is rehashed.
     */
    async verifyLogin(username: string, password: string): Promise<LoginResult> {
      let normalized: string;
      try {
        normalized = normalizeUsername(username);
      } catch {
        await hasher.verifyDummy(password);
        return { ok: false, reason: 'unknown_user' };
      }
      const user = await users.findByNormalizedUsername(normalized);
      if (!user) {
        await hasher.verifyDummy(password);
        return { ok: false, reason: 'unknown_user' };
      }
      const { ok, needsRehash } = await hasher.verify(user.passwordHash, password);
      if (!ok) return { ok: false, reason: 'wrong_password', userId: user.id };
      if (user.disabledAt) return { ok: false, reason: 'disabled', userId: user.id };
      if (needsRehash) {
        const fresh = await hasher.hash(password);
        await users.replacePasswordHash(user.id, user.passwordHash, fresh, new Date(clock.now()));
      }
      return { ok: true, user };
    },

    async setPassword(username: string, password: string): Promise<User> {
      checkPassword(password);
      const user = await update(username, { passwordHash: await hasher.hash(password) });
      record('user_password_changed', user);
      await onCredentialsChanged?.(user.id, 'password_changed');
      return user;
    },

    async setRoles(username: string, roles: string[]): Promise<User> {
      const user = await update(username, { roles: checkNames(roles, 'role') });
      record('user_roles_changed', user, { roles: user.roles });
      return user;
    },

    async setScopes(username: string, scopes: string[]): Promise<User> {
      const user = await update(username, { scopes: checkNames(scopes, 'scope') });
      record('user_scopes_changed', user, { scopes: user.scopes });
      return user;
    },

    async setDisabled(username: string, disabled: boolean): Promise<User> {
      const user = await update(username, { disabled });
      record(disabled ? 'user_disabled' : 'user_enabled', user);
      if (disabled) await onCredentialsChanged?.(user.id, 'user_disabled');
      return user;
    },

    async list(limit?: number, offset?: number): Promise<User[]> {
      return (await users.list(limit, offset)).map(publicUser);
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
