import { Router } from 'express';
import type { RegistrationThrottle } from '../abuse/registration-throttle';
import { DomainError, invalidRequest, OAuthError } from '../errors';
import { assertPasswordPolicy, type UserService } from '../users/user-service';
import { normalizeEmail } from '../users/email';
import { displayUsername, normalizeUsername } from '../users/username';
import { noStore } from './no-store';
import { clientIp } from './request-context';
import { readParams } from './params';

export interface RegisterDeps {
  /** Hashes in the registration lane of the hashing capacity. */
  users: UserService;
  throttle: RegistrationThrottle;
}

/**
 * POST /register: self-registration, mounted only when AUTHD_REGISTRATION=true. Anonymous callers
 * get one answer whether the username was free or taken (202, the same body), after the same
 * Argon2 work, so registration cannot be used to find out which accounts exist.
 */
export function registerRouter(deps: RegisterDeps): Router {
  const router = Router();
  router.post('/register', noStore, async (req, res) => {
    const { username, password, email } = readParams(req);
    if (!username) throw invalidRequest('The username parameter is missing.');
    if (!password) throw invalidRequest('The password parameter is missing.');
    // Refusals that cost nothing come first and are not counted.
    normalizeUsername(username);
    if (email !== undefined) normalizeEmail(email);
    assertPasswordPolicy(password);
    // Counted before any hashing, so a flood from one address costs no Argon2.
    const decision = await deps.throttle.admit(clientIp(req) ?? 'unknown');
    if (!decision.allowed) {
      throw new OAuthError(
        'temporarily_unavailable',
        `Too many registrations from this address; try again in ${decision.retryAfterSeconds} seconds.`,
        {
          status: 429,
          headers: { 'Retry-After': String(decision.retryAfterSeconds) },
          detail: 'registration_limit',
        },
      );
    }
    try {
      // New accounts get no roles or scopes: an operator grants those.
      // With an address, the verification mail is queued (sent off the request path).
      await deps.users.create({ username, password, ...(email !== undefined && { email }) });
    } catch (error) {
      // Taken (the username or the address): the same answer as created (the password was hashed all the same).
      if (!(error instanceof DomainError && error.kind === 'conflict')) throw error;
    }
    res.status(202).json({
      username: displayUsername(username),
      message: 'Registration received. If this username was free, the account now exists: sign in with it.',
    });
  });
  return router;
}
