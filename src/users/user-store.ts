export interface User {
  id: string;
  username: string;
  email: string | null;
  emailVerified: boolean;
  roles: string[];
  scopes: string[];
  metadata: Record<string, unknown>;
  disabledAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface UserWithHash extends User {
  passwordHash: string;
  usernameNormalized: string;
}

/** Strips the hash: what may leave the domain (CLI output, API responses). */
export function publicUser({ passwordHash: _hash, usernameNormalized: _key, ...user }: UserWithHash): User {
  return user;
}

export interface NewUser {
  id: string;
  username: string;
  usernameNormalized: string;
  /** UTS #39 skeleton: unique, so a look-alike of an existing name cannot be created. */
  usernameSkeleton: string;
  passwordHash: string;
  roles: string[];
  scopes: string[];
  email?: { email: string; normalized: string } | null;
  now: Date;
}

export interface UserChanges {
  passwordHash?: string;
  roles?: string[];
  scopes?: string[];
  /** true disables (keeping the first disabling time), false enables. */
  disabled?: boolean;
}

/**
 * The user records. Every backend keeps: the normalised username, its skeleton and the
 * normalised email are each unique, decided by the store in the writing statement itself (never
 * by a read before it), so two requests racing for one name cannot both win. Lookups of a
 * missing user return undefined; only the backend failing throws. Writes to a missing user
 * return undefined (or false), never throw.
 */
export interface UserStore {
  /** By the normalised username (normalizeUsername); undefined when there is none. */
  findByNormalizedUsername(normalized: string): Promise<UserWithHash | undefined>;
  /** By the normalised address (normalizeEmail); undefined when no user has it. */
  findByNormalizedEmail(normalized: string): Promise<UserWithHash | undefined>;
  /** Undefined for an unknown id. */
  findById(id: string): Promise<UserWithHash | undefined>;
  /**
   * Creates the user in one statement; undefined when the id, the normalised username, its
   * skeleton or the address is taken (the unique indexes decide), so the caller can say which.
   */
  insert(user: NewUser): Promise<UserWithHash | undefined>;
  /** Users created before skeletons were stored, in id order after `afterId` (the start-up backfill). */
  withoutSkeleton(limit: number, afterId: string | null): Promise<Array<{ id: string; usernameNormalized: string }>>;
  /**
   * Stores a skeleton for a user without one; false when another user already has it (an older
   * look-alike pair, or another instance storing it meanwhile). Never throws for that conflict.
   */
  setSkeleton(id: string, skeleton: string): Promise<boolean>;
  /** In normalised-username order. */
  list(limit?: number, offset?: number): Promise<UserWithHash[]>;
  /** Keyset pagination by normalised username after `after`; `search` matches anywhere in it. */
  page(limit: number, after?: string, search?: string): Promise<UserWithHash[]>;
  /** False when there was no such user. */
  delete(id: string): Promise<boolean>;
  count(): Promise<number>;
  /**
   * Compare-and-set: replaces the hash only if it is still `expectedHash` (the one just verified),
   * in one statement, so a concurrent password change wins over a rehash or a second change.
   */
  replacePasswordHash(id: string, expectedHash: string, newHash: string, now: Date): Promise<boolean>;
  /**
   * Sets the address (null removes it; a removed address is never verified); 'taken' when
   * another user has it (the unique index decides), undefined for an unknown id.
   */
  replaceEmail(
    id: string,
    email: { email: string; normalized: string } | null,
    verified: boolean,
    now: Date,
  ): Promise<UserWithHash | undefined | 'taken'>;
  /** Replaces the whole metadata object; undefined for an unknown id. */
  replaceMetadata(id: string, metadata: Record<string, unknown>, now: Date): Promise<UserWithHash | undefined>;
  /** Applies the given changes in one statement, leaving the others; undefined for an unknown id. */
  update(id: string, changes: UserChanges, now: Date): Promise<UserWithHash | undefined>;
}
