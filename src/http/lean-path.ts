import * as http from 'node:http';
import type { ErrorRequestHandler, Express, Request, RequestHandler, Response } from 'express';

/** One route served ahead of express's router: an exact method and path (the query string aside). */
export interface LeanRoute {
  method: string;
  path: string;
  /** What express's router reports as `req.route.path` for this route (the metrics label). */
  routePath: string | string[];
  handlers: RequestHandler[];
}

type Handle = (req: http.IncomingMessage, res: http.ServerResponse, callback?: (error?: unknown) => void) => void;

const pathOf = (url: string | undefined) => {
  if (url === undefined) return undefined;
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
};

/** Runs handlers in order as express would: next() moves on, next(error) or a rejected promise skips to `onError`. */
function runChain(
  handlers: readonly RequestHandler[],
  onError: ErrorRequestHandler,
  req: Request,
  res: Response,
): void {
  let index = 0;
  const next = (error?: unknown): void => {
    if (error !== undefined && error !== null && error !== 'route' && error !== 'router') {
      onError(error, req, res, () => {});
      return;
    }
    const handler = handlers[index++];
    if (!handler) return;
    try {
      const result: unknown = handler(req, res, next);
      if (result instanceof Promise) result.then(undefined, next);
    } catch (thrown) {
      next(thrown ?? new Error('handler threw nothing'));
    }
  };
  next();
}

/**
 * A request for one of `routes` skips express's router and its layers: it gets express's request
 * and response objects exactly as `app.handle` makes them, then runs a fixed chain — the common
 * middleware the router would run for every request (the very same functions), then the route's
 * own handlers — and any error goes to the same error handler. Everything else, and every other
 * method on these paths, goes to express unchanged.
 */
export function installLeanPath(
  app: Express,
  common: readonly RequestHandler[],
  routes: readonly LeanRoute[],
  onError: ErrorRequestHandler,
): void {
  const byKey = new Map(
    routes.map((route) => [`${route.method} ${route.path}`, { route, chain: [...common, ...route.handlers] }]),
  );
  const target = app as unknown as { handle: Handle; request: object; response: object };
  const expressHandle = target.handle.bind(app);
  target.handle = (req, res, callback) => {
    const lean = byKey.get(`${req.method} ${pathOf(req.url)}`);
    if (!lean) return expressHandle(req, res, callback);
    const request = req as Request;
    const response = res as Response;
    request.res = response;
    response.req = request;
    Object.setPrototypeOf(req, target.request);
    Object.setPrototypeOf(res, target.response);
    response.locals ??= Object.create(null);
    request.originalUrl ??= req.url ?? '/';
    request.baseUrl = '';
    request.params = {};
    (request as { route?: unknown }).route = { path: lean.route.routePath };
    runChain(lean.chain, onError, request, response);
  };
}

/**
 * Server options whose requests and responses are born with express's prototypes (`app.request`,
 * `app.response`), so the `Object.setPrototypeOf` that express's `app.handle` and the lean path
 * run on every request finds the prototype already in place: changing an object's prototype
 * after it is made is slow in V8, and leaves the objects' shapes unknown to the code that follows.
 * Node's IncomingMessage and ServerResponse are plain constructor functions, so these call them.
 */
export function expressServerOptions(app: Express): Pick<http.ServerOptions, 'IncomingMessage' | 'ServerResponse'> {
  const target = app as unknown as { request: object; response: object };
  const incoming = http.IncomingMessage as unknown as (this: unknown, ...args: unknown[]) => void;
  const outgoing = http.ServerResponse as unknown as (this: unknown, ...args: unknown[]) => void;
  function Request(this: unknown, ...args: unknown[]) {
    incoming.apply(this, args);
  }
  Request.prototype = target.request;
  function Response(this: unknown, ...args: unknown[]) {
    outgoing.apply(this, args);
  }
  Response.prototype = target.response;
  return {
    IncomingMessage: Request as unknown as typeof http.IncomingMessage,
    ServerResponse: Response as unknown as typeof http.ServerResponse,
  };
}
