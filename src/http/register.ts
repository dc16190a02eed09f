import { Router } from 'express';
import { invalidRequest } from '../errors';
import type { UserService } from '../users/user-service';
import { noStore } from './token';
import { readParams } from './params';

/** POST /register: self-registration, mounted only when AUTHD_REGISTRATION=true. */
export function registerRouter(users: UserService): Router {
  const router = Router();
  router.post('/register', noStore, async (req, res) => {
    const { username, password } = readParams(req);
    if (!username) throw invalidRequest('The username parameter is missing.');
    if (!password) throw invalidRequest('The password parameter is missing.');
    // New accounts get no roles or scopes: an operator grants those.
    const user = await users.create({ username, password });
    res.status(201).json({ id: user.id, username: user.username, created_at: user.createdAt.toISOString() });
  });
  return router;
}
