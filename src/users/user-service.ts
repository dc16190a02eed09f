import crypto from 'node:crypto';
import type { AuditLog, AuditEventType } from '../audit/audit-log';
import type { Clock } from '../clock';
import { DomainError } from '../errors';
import { isScopeToken } from '../scopes/scope';
import type { PasswordHasher } from './password-hasher';
import { checkPasswordPolicy } from './password-policy';
import { normalizeEmail } from './email';
import { checkMetadata } from './user-metadata';
import { publicUser, type User, type UserStore, type UserWithHash } from './user-store';
import { displayUsername, normalizeUsername, usernameSkeleton } from './username';

export interface UserServiceDeps {
  users: UserStore;
  hasher: PasswordHasher;
  clock: Clock;
  audit?: AuditLog;
  /** Called after a password change or a disable: ends every session of the user. */
  onCredentialsChanged?: (userId: string, reason: string) => Promise<void>;
  /** Called after a role or scope was taken away: ends the access tokens that still carry it. */
  onPrivilegesReduced?: (userId: string) => Promise<void>;
  /** Called after an address was set that is not verified: queues the verification mail. */
  onEmailUnverified?: (userId: string) => Promise<void>;
  /** Called after the password was changed or set (not reset): queues the notice to the owner. */
  onPasswordChanged?: (userId: string, via: 'account' | 'admin') => Promise<void>;
  /** Called after an address was replaced or removed: queues the notice to the previous address. */
  onEmailChanged?: (userId: string, previousEmail: string) => Promise<void>;
}

const ROLE = /^[\w:.-]{1,64}$/;

export function checkNames(values: string[], what: 'role' | 'scope'): string[] {
  const valid = what === 'role' ? (v: string) => ROLE.test(v) : isScopeToken;
  const bad = values.find((v) => !valid(v));
  if (bad !== undefined) throw new DomainError('invalid', `Invalid ${what} name: "${bad}".`, 'invalid_name');
  return [...new Set(values)];
}

function checkPassword(password: string): void {
  const problem = checkPasswordPolicy(password);
  if (problem) throw new DomainError('invalid', problem, 'weak_password');
}

/** The current password given to a password change was wrong: a failed attempt, for the throttle. */
export class WrongPasswordError extends DomainError {
  constructor() {
    super('invalid', 'The current password is wrong.', 'wrong_password');
  }
}

/** Throws a DomainError when a new password breaks the policy. */
export function assertPasswordPolicy(password: string): void {
  checkPassword(password);
}

/** A user by username (a string) or by id. */
export type UserRef = string | { id: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type LoginResult =
  | { ok: true; user: UserWithHash }
  | { ok: false; reason: 'unknown_user' | 'wrong_password' | 'disabled'; userId?: string };

export function createUserService({
  users,
  hasher,
  clock,
  audit,
  onCredentialsChanged,
  onPrivilegesReduced,
  onEmailUnverified,
  onEmailChanged,
  onPasswordChanged,
}: UserServiceDeps) {
  const record = (type: AuditEventType, user: User, details?: Record<string, unknown>) =>
    audit?.record({ type, userId: user.id, ...(details && { details }) });

  async function requireUser(ref: UserRef): Promise<UserWithHash> {
    if (typeof ref !== 'string') {
      const byId = UUID.test(ref.id) ? await users.findById(ref.id) : undefined;
      if (!byId) throw new DomainError('not_found', 'No such user.', 'user_not_found');
      return byId;
    }
    const user = await users.findByNormalizedUsername(normalizeUsername(ref));
    if (!user) throw new DomainError('not_found', `No user named "${displayUsername(ref)}".`, 'user_not_found');
    return user;
  }

  async function update(ref: UserRef, changes: Parameters<UserStore['update']>[1]): Promise<User> {
    const user = await requireUser(ref);
    const updated = await users.update(user.id, changes, new Date(clock.now()));
    if (!updated) throw new DomainError('not_found', 'No such user.', 'user_not_found');
    return publicUser(updated);
  }

  /**
   * Access tokens carry roles and scopes until they expire: when one is taken away, the user's
   * "not before" ends the tokens issued so far (sessions stay; their next refresh has less).
   */
  async function replacePrivileges(
    ref: UserRef,
    field: 'roles' | 'scopes',
    change: () => Promise<User>,
  ): Promise<User> {
    const before = (await requireUser(ref))[field];
    const user = await change();
    const removed = before.filter((v) => !user[field].includes(v));
    if (removed.length) await onPrivilegesReduced?.(user.id);
    record(field === 'roles' ? 'user_roles_changed' : 'user_scopes_changed', user, {
      [field]: user[field],
      ...(removed.length && { removed, tokens_revoked: true }),
    });
    return user;
  }

  return {
    requireUser,

    async create(input: {
      username: string;
      password: string;
      roles?: string[];
      scopes?: string[];
      email?: string;
    }): Promise<User> {
      const normalized = normalizeUsername(input.username);
      const email = input.email === undefined ? null : normalizeEmail(input.email);
      checkPassword(input.password);
      const roles = checkNames(input.roles ?? [], 'role');
      const scopes = checkNames(input.scopes ?? [], 'scope');
      const inserted = await users.insert({
        id: crypto.randomUUID(),
        username: displayUsername(input.username),
        usernameNormalized: normalized,
        usernameSkeleton: usernameSkeleton(normalized),
        passwordHash: await hasher.hash(input.password),
        roles,
        scopes,
        email,
        now: new Date(clock.now()),
      });
      if (!inserted) {
        if (await users.findByNormalizedUsername(normalized))
          throw new DomainError('conflict', 'That username is taken.', 'username_taken');
        if (email && (await users.findByNormalizedEmail(email.normalized)))
          throw new DomainError('conflict', 'That email address belongs to another user.', 'email_taken');
        throw new DomainError(
          'conflict',
          'That username looks like one that is taken (confusable characters).',
          'username_confusable',
        );
      }
      record('user_created', inserted, { roles, scopes });
      if (email) await onEmailUnverified?.(inserted.id);
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

    async setPassword(ref: UserRef, password: string): Promise<User> {
      checkPassword(password);
      const user = await update(ref, { passwordHash: await hasher.hash(password) });
      record('user_password_changed', user);
      await onCredentialsChanged?.(user.id, 'password_changed');
      await onPasswordChanged?.(user.id, 'admin');
      return user;
    },

    async setRoles(ref: UserRef, roles: string[]): Promise<User> {
      const checked = checkNames(roles, 'role');
      return replacePrivileges(ref, 'roles', () => update(ref, { roles: checked }));
    },

    async setScopes(ref: UserRef, scopes: string[]): Promise<User> {
      const checked = checkNames(scopes, 'scope');
      return replacePrivileges(ref, 'scopes', () => update(ref, { scopes: checked }));
    },

    /**
     * Sets (or, with null, removes) the email address. A new address is unverified unless the
     * operator vouches for it; the same address again keeps its verified flag.
     */
    async setEmail(ref: UserRef, email: string | null, options: { verified?: boolean } = {}): Promise<User> {
      const next = email === null ? null : normalizeEmail(email);
      const user = await requireUser(ref);
      const unchanged = next !== null && user.email?.toLowerCase() === next.normalized;
      const updated = await users.replaceEmail(
        user.id,
        next,
        options.verified ?? (unchanged && user.emailVerified),
        new Date(clock.now()),
      );
      if (updated === 'taken')
        throw new DomainError('conflict', 'That email address belongs to another user.', 'email_taken');
      if (!updated) throw new DomainError('not_found', 'No such user.', 'user_not_found');
      record('user_email_changed', updated, { verified: updated.emailVerified });
      if (updated.email && !updated.emailVerified) await onEmailUnverified?.(updated.id);
      if (user.email && !unchanged) await onEmailChanged?.(updated.id, user.email);
      return publicUser(updated);
    },

    /** Replaces the metadata (a JSON object of at most 1 KiB); tokens carry it from their next refresh. */
    async setMetadata(ref: UserRef, metadata: unknown): Promise<User> {
      const checked = checkMetadata(metadata);
      const user = await requireUser(ref);
      const updated = await users.replaceMetadata(user.id, checked, new Date(clock.now()));
      if (!updated) throw new DomainError('not_found', 'No such user.', 'user_not_found');
      record('user_metadata_changed', updated, { keys: Object.keys(checked) });
      return publicUser(updated);
    },

    async setDisabled(ref: UserRef, disabled: boolean): Promise<User> {
      const user = await update(ref, { disabled });
      record(disabled ? 'user_disabled' : 'user_enabled', user);
      if (disabled) await onCredentialsChanged?.(user.id, 'user_disabled');
      return user;
    },

    async list(limit?: number, offset?: number): Promise<User[]> {
      return (await users.list(limit, offset)).map(publicUser);
    },

    /** A page of users in username order, optionally those whose username contains `search`. */
    async page(options: {
      limit: number;
      after?: string;
      search?: string;
    }): Promise<{ users: User[]; next: string | null }> {
      const rows = await users.page(options.limit + 1, options.after, options.search?.toLowerCase());
      const page = rows.slice(0, options.limit).map(publicUser);
      return { users: page, next: rows.length > options.limit ? rows[options.limit - 1].usernameNormalized : null };
    },

    /**
     * Checks the current password and sets a new one, keeping the session that asked: the
     * account page's own flow. The caller revokes the other sessions.
     */
    async changePassword(userId: string, currentPassword: string, newPassword: string): Promise<User> {
      const user = await requireUser({ id: userId });
      checkPassword(newPassword);
      const { ok } = await hasher.verify(user.passwordHash, currentPassword);
      if (!ok) throw new WrongPasswordError();
      const updated = await users.replacePasswordHash(
        user.id,
        user.passwordHash,
        await hasher.hash(newPassword),
        new Date(clock.now()),
      );
      if (!updated)
        throw new DomainError(
          'conflict',
          'The password was changed meanwhile; try again.',
          'password_changed_concurrently',
        );
      record('user_password_changed', user, { via: 'account' });
      await onPasswordChanged?.(user.id, 'account');
      return publicUser(user);
    },

    /** Checks the current password of a signed-in user (before a security setting changes); throws WrongPasswordError. */
    async confirmPassword(userId: string, password: string): Promise<void> {
      const user = await requireUser({ id: userId });
      if (!(await hasher.verify(user.passwordHash, password)).ok) throw new WrongPasswordError();
    },

    /** Removes the user and, by cascade, their sessions; audit rows keep the user id. */
    async delete(ref: UserRef): Promise<User> {
      const user = await requireUser(ref);
      await onCredentialsChanged?.(user.id, 'user_deleted');
      await users.delete(user.id);
      record('user_deleted', user);
      return publicUser(user);
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
