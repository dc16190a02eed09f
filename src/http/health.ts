import { Router } from 'express';
import type { ReadinessCheck } from '../readiness';

/**
 * /health/live answers while the process runs; /health/ready when every dependency answers. A
 * failing check marked degradesOnly (the audit backlog) answers 200 with status "degraded", for
 * monitoring to alert on, without pulling an instance that still serves logins out of rotation.
 */
export function healthRouter(checks: ReadinessCheck[], timeoutMs = 2000): Router {
  const router = Router();
  router.get('/health/live', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  router.get('/health/ready', async (_req, res) => {
    const results = await Promise.all(
      checks.map(async ({ name, check, degradesOnly, explain }) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(check),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
            }),
          ]);
          return [name, 'ok'] as const;
        } catch (error) {
          const cause =
            (error as Error).message === 'timed out' ? `no answer within ${timeoutMs} ms` : explain?.(error);
          return [name, degradesOnly ? 'degraded' : 'failing', cause] as const;
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const ready = results.every(([, status]) => status !== 'failing');
    const status = !ready ? 'unavailable' : results.some(([, s]) => s === 'degraded') ? 'degraded' : 'ok';
    const details = Object.fromEntries(results.flatMap(([name, , cause]) => (cause ? [[name, cause]] : [])));
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({
        status,
        checks: Object.fromEntries(results.map(([name, result]) => [name, result])),
        ...(Object.keys(details).length > 0 && { details }),
      });
  });
  return router;
}
