import net from 'node:net';
import type { Request, Response } from 'express';
import type { RequestContext } from '../audit/audit-log';

/**
 * The client's address as express derives it (X-Forwarded-For through the trusted proxies), used
 * only when it is an IP address; otherwise the socket's peer. It becomes throttle keys and a
 * session's IP, so a proxy's junk must not.
 */
export function clientIp(req: Request): string | null {
  for (const candidate of [req.ip, req.socket?.remoteAddress]) {
    if (candidate && net.isIP(candidate)) return candidate;
  }
  return null;
}

/** Who is asking, for the audit trail and sessions. */
export function requestContext(req: Request, res: Response): RequestContext {
  return {
    ip: clientIp(req),
    userAgent: req.get('user-agent')?.slice(0, 512) ?? null,
    requestId: (res.locals.requestId as string | undefined) ?? null,
  };
}
