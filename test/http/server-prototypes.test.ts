import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { expressServerOptions, installLeanPath } from '../../src/http/lean-path';

/** The server's requests are born with express's prototypes (src/server.ts), for both paths. */
describe('expressServerOptions', () => {
  it("makes requests and responses with express's own prototypes, which the router and the lean path then use", async () => {
    const app = express();
    app.get('/routed', (req, res) => {
      res.status(201).json({ path: req.path, ua: req.get('user-agent') });
    });
    installLeanPath(
      app,
      [],
      [
        {
          method: 'GET',
          path: '/lean',
          routePath: '/lean',
          handlers: [
            (req, res) => {
              res.status(202).json({ path: req.path, ua: req.get('user-agent') });
            },
          ],
        },
      ],
      (_error, _req, res) => {
        res.status(500).end();
      },
    );
    const born: Array<{ request: boolean; response: boolean; incoming: boolean; outgoing: boolean }> = [];
    const server = http.createServer(expressServerOptions(app), (req, res) => {
      born.push({
        request: Object.getPrototypeOf(req) === app.request,
        response: Object.getPrototypeOf(res) === app.response,
        incoming: req instanceof http.IncomingMessage,
        outgoing: res instanceof http.ServerResponse,
      });
      app(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const routed = await fetch(`${base}/routed`, { headers: { 'user-agent': 'test' } });
      expect([routed.status, await routed.json()]).toEqual([201, { path: '/routed', ua: 'test' }]);
      const lean = await fetch(`${base}/lean?x=1`, { headers: { 'user-agent': 'test' } });
      expect([lean.status, await lean.json()]).toEqual([202, { path: '/lean', ua: 'test' }]);
      expect(born).toEqual([
        { request: true, response: true, incoming: true, outgoing: true },
        { request: true, response: true, incoming: true, outgoing: true },
      ]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
