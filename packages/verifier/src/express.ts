import { bearerToken } from './bearer';
import { BearerError, insufficientRole, insufficientScope, missingToken, VerifierUnavailableError } from './errors';
import { checkAssurance, MFA_ACR, type AcrOptions } from './step-up';
import { createVerifier, type AuthInfo, type Verifier, type VerifierOptions } from './verify';

declare global {
  namespace Express {
    interface Request {
      /** Set by requireAuth: who the bearer token speaks for. */
      auth?: AuthInfo;
    }
  }
}

/**
 * The parts of Express's request and response the middleware uses, so the kit needs neither
 * express nor its types; Express's own objects fit them.
 */
export interface BearerRequest {
  headers: { authorization?: string | undefined };
  auth?: AuthInfo;
}
export interface BearerResponse {
  locals: Record<string, unknown>;
  status(code: number): BearerResponse;
  set(field: string, value: string): BearerResponse;
  json(body: unknown): unknown;
}
export type BearerHandler<Req extends BearerRequest = BearerRequest> = (
  req: Req,
  res: BearerResponse,
  next: (error?: unknown) => void,
) => void | Promise<void>;

/**
 * A refusal as the service sees it: `error.reason` is the stable code (spec/verifier-cases.json).
 * `Req` is your framework's request type, e.g. `requireAuth<express.Request>({ onError: (e, req) => log(req.ip, e.reason) })`.
 */
export type RefusalHook<Req extends BearerRequest = BearerRequest> = (
  error: BearerError | VerifierUnavailableError,
  req: Req,
) => void;

const quote = (value: string) => `"${value.replace(/["\\]/g, '')}"`;

/** Sends an RFC 6750 §3 answer: the WWW-Authenticate challenge plus a small JSON body. The reason stays out of it. */
export function sendBearerError(res: BearerResponse, error: BearerError, realm: string): void {
  const params = [`realm=${quote(realm)}`];
  if (error.code) params.push(`error=${quote(error.code)}`, `error_description=${quote(error.description)}`);
  if (error.scope) params.push(`scope=${quote(error.scope)}`);
  if (error.stepUp) {
    params.push(`acr_values=${quote(error.stepUp.acrValues.join(' '))}`);
    if (error.stepUp.maxAge !== undefined) params.push(`max_age=${quote(String(error.stepUp.maxAge))}`);
  }
  res
    .status(error.status)
    .set('WWW-Authenticate', `Bearer ${params.join(', ')}`)
    .set('Cache-Control', 'no-store');
  res.json(
    error.code
      ? { error: error.code, error_description: error.description }
      : { error: 'unauthorized', error_description: error.description },
  );
}

export interface RequireAuthOptions<Req extends BearerRequest = BearerRequest> extends VerifierOptions {
  /** The realm named in WWW-Authenticate (default: the audience). */
  realm?: string;
  /** Reuse a verifier (one per process is enough). */
  verifier?: Verifier;
  /** Called with every refusal (by requireAuth, and by requireScope/requireRole after it): log error.reason here. */
  onError?: RefusalHook<Req>;
}

interface AuthLocals {
  authRealm?: string;
  /** requireAuth's hook, for requireScope/requireRole after it (called with the same request). */
  authOnError?: RefusalHook<BearerRequest>;
  /** requireAuth's clock (its `now` option), for requireAcr's max_age. */
  authNow?: () => number;
}

function sendUnavailable(res: BearerResponse): void {
  res
    .status(503)
    .set('Retry-After', '5')
    .json({ error: 'temporarily_unavailable', error_description: 'Token verification is unavailable.' });
}

/**
 * Express middleware: verifies the bearer token with authd's JWKS (and, opted in, its
 * revocation store) and sets req.auth. 401 with a Bearer challenge otherwise.
 */
export function requireAuth<Req extends BearerRequest = BearerRequest>(
  options: RequireAuthOptions<Req>,
): BearerHandler<Req> {
  const verifier = options.verifier ?? createVerifier(options);
  const realm = options.realm ?? (Array.isArray(options.audience) ? options.audience[0] : options.audience);
  return async (req, res, next) => {
    const locals = res.locals as AuthLocals;
    locals.authRealm = realm;
    locals.authNow = verifier.now;
    if (options.onError) locals.authOnError = options.onError as RefusalHook<BearerRequest>;
    try {
      const token = bearerToken(req.headers.authorization);
      if (token === undefined) throw missingToken();
      req.auth = await verifier.verifyAccessToken(token);
    } catch (error) {
      if (!(error instanceof BearerError) && !(error instanceof VerifierUnavailableError)) return next(error);
      options.onError?.(error, req);
      return error instanceof BearerError ? sendBearerError(res, error, realm) : sendUnavailable(res);
    }
    next();
  };
}

/** A check of req.auth after requireAuth: the refusal it returns is answered and handed to requireAuth's onError. */
function requireOfAuth(check: (auth: AuthInfo, locals: AuthLocals) => BearerError | undefined): BearerHandler {
  return (req, res, next) => {
    const locals = res.locals as AuthLocals;
    const realm = locals.authRealm ?? 'authd';
    const refusal = req.auth ? check(req.auth, locals) : missingToken();
    if (!refusal) return next();
    locals.authOnError?.(refusal, req);
    return sendBearerError(res, refusal, realm);
  };
}

/** 403 insufficient_scope unless the token carries every one of these scopes. Use after requireAuth. */
export function requireScope(...scopes: string[]): BearerHandler {
  return requireOfAuth((auth) =>
    scopes.every((s) => auth.scopes.includes(s)) ? undefined : insufficientScope(scopes),
  );
}

/** 403 unless the token's user has every one of these roles. Use after requireAuth. */
export function requireRole(...roles: string[]): BearerHandler {
  return requireOfAuth((auth) => (roles.every((r) => auth.roles.includes(r)) ? undefined : insufficientRole(roles)));
}

/**
 * Step-up (RFC 9470): 401 insufficient_user_authentication with acr_values (and max_age) unless
 * the token's acr is one of `values` and, with `maxAge`, its auth_time is at most that many
 * seconds old. Use after requireAuth.
 */
export function requireAcr(values: readonly string[], options: AcrOptions = {}): BearerHandler {
  if (values.length === 0) throw new TypeError('requireAcr needs at least one acceptable acr value');
  if (options.maxAge !== undefined && !(Number.isInteger(options.maxAge) && options.maxAge >= 0))
    throw new TypeError('maxAge must be a whole number of seconds');
  return requireOfAuth((auth, locals) =>
    checkAssurance(auth, values, options, (options.now ?? locals.authNow ?? Date.now)()),
  );
}

/** A second factor: requireAcr(["aal2"]) (authd's acr after password + TOTP or a recovery code). */
export function requireMfa(options: AcrOptions = {}): BearerHandler {
  return requireAcr([MFA_ACR], options);
}
