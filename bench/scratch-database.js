'use strict';
// A fresh database on the PostgreSQL server of `databaseUrl`, dropped afterwards (bench only).
const crypto = require('node:crypto');
const { Client } = require('pg');

async function scratchDatabase(databaseUrl, prefix = 'authd_bench') {
  const name = `${prefix}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: databaseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

module.exports = { scratchDatabase };
