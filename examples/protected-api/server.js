// A small service protected by authd's verifier kit. Run it against a local authd:
//   AUTHD_ISSUER=http://localhost:3000 API_AUDIENCE=http://localhost:4000 npm run example:api
// then call it with an access token:  curl -H "Authorization: Bearer $ACCESS_TOKEN" localhost:4000/me
'use strict';
const express = require('express');
const { requireAuth, requireRole, requireScope } = require('@authd/verifier');

function createApi({ issuer, audience }) {
  const app = express();
  const auth = requireAuth({ issuer, audience });

  app.get('/health', (_req, res) => res.json({ status: 'ok' }));

  // Anyone may read the public route.
  app.get('/public', (_req, res) => res.json({ message: 'hello, anyone' }));

  // Any valid access token.
  app.get('/me', auth, (req, res) => {
    res.json({ sub: req.auth.sub, client_id: req.auth.clientId, scopes: req.auth.scopes, roles: req.auth.roles });
  });

  // A token with the "write" scope.
  app.post('/notes', auth, requireScope('write'), (req, res) => res.status(201).json({ created_by: req.auth.sub }));

  // A user with the "admin" role.
  app.get('/admin/stats', auth, requireRole('admin'), (_req, res) => res.json({ notes: 42 }));

  return app;
}

if (require.main === module) {
  const issuer = process.env.AUTHD_ISSUER ?? 'http://localhost:3000';
  // Its own audience, never the issuer: a token sent here must not be one authd's own APIs accept,
  // or this service (or anyone who reads its traffic) could replay it at /account or /admin.
  const audience = process.env.API_AUDIENCE ?? 'http://localhost:4000';
  const port = Number(process.env.PORT ?? 4000);
  createApi({ issuer, audience }).listen(port, '127.0.0.1', () => {
    process.stdout.write(`protected-api on http://127.0.0.1:${port} (issuer ${issuer}, audience ${audience})\n`);
  });
}

module.exports = { createApi };
