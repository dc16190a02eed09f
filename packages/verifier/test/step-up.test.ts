/**
 * Step-up (RFC 9470) in the Express middleware: requireMfa / requireAcr after requireAuth, with
 * tokens the kit's helpers mint (no authd needed). Whole answers: status, challenge, body.
 */
import express from 'express';
import request from 'supertest';
import {
  checkAssurance,
  requireAcr,
  requireAuth,
  requireMfa,
  type BearerHandler,
  type VerifierReason,
} from '@authd/verifier';
import { AUDIENCE, mfaClaims, mintToken, NOW, NOW_MS, testVerifier } from './token-helpers';

const BODY_ACR = {
  error: 'insufficient_user_authentication',
  error_description: 'A different authentication level is required.',
};
const BODY_AGE = {
  error: 'insufficient_user_authentication',
  error_description: 'More recent authentication is required.',
};
const challenge = (description: string, params: string) =>
  `Bearer realm="${AUDIENCE}", error="insufficient_user_authentication", error_description="${description}", ${params}`;

function appWith(...guards: BearerHandler[]) {
  const reasons: VerifierReason[] = [];
  const verifier = testVerifier();
  const app = express();
  app.get(
    '/payouts',
    requireAuth<express.Request>({
      issuer: 'unused: the verifier is given',
      audience: AUDIENCE,
      verifier,
      onError: (e) => reasons.push(e.reason),
    }),
    ...guards,
    (req, res) =>
      res.json({ sub: req.auth!.sub, acr: req.auth!.acr, amr: req.auth!.amr, auth_time: req.auth!.authTime }),
  );
  return { app, reasons };
}

const call = (app: express.Express, token?: string) => {
  const get = request(app).get('/payouts');
  return token === undefined ? get : get.set('Authorization', `Bearer ${token}`);
};

describe('requireMfa / requireAcr', () => {
  it('lets a login with a second factor through, and req.auth carries acr, amr and auth_time', async () => {
    const { app, reasons } = appWith(requireMfa());
    const res = await call(app, mintToken({ claims: mfaClaims(60) }));
    expect({ status: res.status, body: res.body }).toEqual({
      status: 200,
      body: { sub: 'user-1', acr: 'aal2', amr: ['pwd', 'otp', 'mfa'], auth_time: NOW - 60 },
    });
    expect(reasons).toEqual([]);
  });

  it.each([
    ['password only (aal1)', { acr: 'aal1', amr: ['pwd'], auth_time: NOW - 60 }],
    ['no acr (a client_credentials token)', {}],
    ['acr in another case', { acr: 'AAL2', auth_time: NOW - 60 }],
  ])('answers %s with 401 insufficient_user_authentication and acr_values', async (_name, claims) => {
    const { app, reasons } = appWith(requireMfa());
    const res = await call(app, mintToken({ claims }));
    expect({
      status: res.status,
      challenge: res.headers['www-authenticate'],
      cache: res.headers['cache-control'],
      body: res.body,
    }).toEqual({
      status: 401,
      challenge: challenge('A different authentication level is required.', 'acr_values="aal2"'),
      cache: 'no-store',
      body: BODY_ACR,
    });
    expect(reasons).toEqual(['insufficient_acr']);
  });

  it('with maxAge: a recent login passes; an old one, or one without auth_time, gets max_age in the challenge', async () => {
    const { app, reasons } = appWith(requireMfa({ maxAge: 300 }));
    expect((await call(app, mintToken({ claims: mfaClaims(300) }))).status).toBe(200);
    for (const claims of [mfaClaims(301), { ...mfaClaims(), auth_time: null }]) {
      const res = await call(app, mintToken({ claims }));
      expect({ status: res.status, challenge: res.headers['www-authenticate'], body: res.body }).toEqual({
        status: 401,
        challenge: challenge('More recent authentication is required.', 'acr_values="aal2", max_age="300"'),
        body: BODY_AGE,
      });
    }
    // A wrong acr is named first, with the same challenge.
    const wrongAcr = await call(app, mintToken({ claims: { acr: 'aal1', auth_time: NOW } }));
    expect({ status: wrongAcr.status, challenge: wrongAcr.headers['www-authenticate'], body: wrongAcr.body }).toEqual({
      status: 401,
      challenge: challenge('A different authentication level is required.', 'acr_values="aal2", max_age="300"'),
      body: BODY_ACR,
    });
    expect(reasons).toEqual(['stale_authentication', 'stale_authentication', 'insufficient_acr']);
  });

  it('requireAcr accepts any of its values and names them all', async () => {
    const { app } = appWith(requireAcr(['aal1', 'aal2']));
    expect((await call(app, mintToken({ claims: { acr: 'aal1' } }))).status).toBe(200);
    const res = await call(app, mintToken({ claims: { acr: 'aal0' } }));
    expect(res.headers['www-authenticate']).toBe(
      challenge('A different authentication level is required.', 'acr_values="aal1 aal2"'),
    );
  });

  it("reads max_age against requireAuth's clock, or its own `now`", async () => {
    const token = mintToken({ claims: mfaClaims(100) });
    expect((await call(appWith(requireMfa({ maxAge: 120 })).app, token)).status).toBe(200);
    expect((await call(appWith(requireMfa({ maxAge: 120, now: () => NOW_MS + 30_000 })).app, token)).status).toBe(401);
  });

  it('without requireAuth before it, answers as for no token', async () => {
    const app = express();
    app.get('/payouts', requireMfa(), (_req, res) => res.json({}));
    const res = await request(app).get('/payouts');
    expect({ status: res.status, challenge: res.headers['www-authenticate'] }).toEqual({
      status: 401,
      challenge: 'Bearer realm="authd"',
    });
  });

  it('a token that fails the rules never reaches the step-up check', async () => {
    const { app, reasons } = appWith(requireMfa());
    const res = await call(app, mintToken({ claims: { ...mfaClaims(), exp: NOW - 60 } }));
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_token');
    expect(reasons).toEqual(['expired']);
  });

  it('refuses a requirement that could never be met or is not seconds', () => {
    expect(() => requireAcr([])).toThrow(new TypeError('requireAcr needs at least one acceptable acr value'));
    expect(() => requireMfa({ maxAge: -1 })).toThrow(new TypeError('maxAge must be a whole number of seconds'));
    expect(() => requireMfa({ maxAge: 1.5 })).toThrow(new TypeError('maxAge must be a whole number of seconds'));
  });

  it('checkAssurance is the same decision without Express', () => {
    expect(checkAssurance({ acr: 'aal2', authTime: NOW - 10 }, ['aal2'], { maxAge: 10 }, NOW_MS)).toBeUndefined();
    expect(checkAssurance({ acr: 'aal2', authTime: NOW - 11 }, ['aal2'], { maxAge: 10 }, NOW_MS)).toMatchObject({
      code: 'insufficient_user_authentication',
      status: 401,
      reason: 'stale_authentication',
      stepUp: { acrValues: ['aal2'], maxAge: 10 },
    });
    expect(checkAssurance({ acr: undefined, authTime: undefined }, ['aal2'], {}, NOW_MS)).toMatchObject({
      reason: 'insufficient_acr',
      stepUp: { acrValues: ['aal2'] },
    });
  });
});
