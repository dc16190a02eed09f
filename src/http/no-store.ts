import type { RequestHandler } from 'express';

export const noStore: RequestHandler = (_req, res, next) => {
  // RFC 6749 §5.1: token responses, errors included, must not be cached.
  res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  next();
};
