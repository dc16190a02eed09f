import { Router, type Request, type RequestHandler, type Response } from 'express';
import { methodNotAllowed } from './error-handler';
import { matchesEtag, type PreparedAnswer, type WellKnownAnswers } from './well-known';

export const METADATA_PATHS = ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'];
export const JWKS_PATH = '/.well-known/jwks.json';

function sendPrepared(req: Request, res: Response, answer: PreparedAnswer): void {
  res.set({
    'Cache-Control': answer.cacheControl,
    ETag: answer.etag,
    'Content-Type': 'application/json; charset=utf-8',
  });
  if (matchesEtag(req.get('if-none-match'), answer.etag)) {
    res.status(304).end();
    return;
  }
  res.status(200).send(answer.body);
}

export const metadataHandler =
  (answers: WellKnownAnswers): RequestHandler =>
  async (req, res) =>
    sendPrepared(req, res, await answers.metadata());
export const jwksHandler =
  (answers: WellKnownAnswers): RequestHandler =>
  (req, res) =>
    sendPrepared(req, res, answers.jwks());

/**
 * RFC 8414 metadata (also at the OpenID path, where most libraries look first) and the JWKS. A GET
 * of either usually takes the lean path (lean-path.ts) before reaching express; both serve the same
 * prepared bytes.
 */
export function discoveryRouter(answers: WellKnownAnswers): Router {
  const router = Router();
  router.get(METADATA_PATHS, metadataHandler(answers));
  router.get(JWKS_PATH, jwksHandler(answers));
  router.all(JWKS_PATH, methodNotAllowed('GET'));
  return router;
}
