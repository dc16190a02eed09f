'use strict';
// The physical ceilings of the work authd cannot avoid, measured in-process on this machine.
const crypto = require('node:crypto');
const argon2 = require('argon2');
const { SignJWT } = require('jose');
const { Pool } = require('pg');

/** Runs fn with `concurrency` loops for `seconds`; returns completed operations per second. */
async function throughput(fn, concurrency, seconds) {
  const deadline = Date.now() + seconds * 1000;
  let done = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        await fn();
        done++;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  return done / elapsed;
}

async function argon2VerifyCeiling({ memoryKiB, timeCost, parallelism, concurrency, seconds }) {
  const options = { type: argon2.argon2id, memoryCost: memoryKiB, timeCost, parallelism };
  const hash = await argon2.hash('correct horse battery staple', options);
  return throughput(() => argon2.verify(hash, 'correct horse battery staple'), concurrency, seconds);
}

/** Runs the synchronous fn in a loop on this thread for `seconds`; operations per second. */
function oneCore(fn, seconds) {
  const deadline = Date.now() + seconds * 1000;
  const started = process.hrtime.bigint();
  let done = 0;
  while (Date.now() < deadline) {
    for (let i = 0; i < 50; i++) fn();
    done += 50;
  }
  return done / (Number(process.hrtime.bigint() - started) / 1e9);
}

/**
 * RS256 (2048-bit): signing on one core with node:crypto, signing with jose (WebCrypto) at
 * `concurrency` in flight (its work spreads over libuv's pool), verification on one core.
 */
async function rs256Ceilings({ concurrency, seconds }) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const claims = {
    iss: 'https://bench',
    sub: crypto.randomUUID(),
    aud: 'https://api.bench',
    scope: 'read write',
    client_id: 'bench',
    jti: crypto.randomUUID(),
  };
  const sign = () =>
    new SignJWT({ ...claims, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 900 })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'bench' })
      .sign(privateKey);
  const token = await sign();
  const [header, payload, signature] = token.split('.');
  const input = Buffer.from(`${header}.${payload}`);
  const signatureBytes = Buffer.from(signature, 'base64url');
  const signOneCore = oneCore(() => crypto.sign('sha256', input, privateKey), seconds);
  const verifyOneCore = oneCore(() => crypto.verify('sha256', input, publicKey, signatureBytes), seconds);
  const signConcurrent = await throughput(sign, concurrency, seconds);
  return { signOneCore, signConcurrent, verifyOneCore };
}

async function postgresUpdateCeiling({ databaseUrl, concurrency, seconds }) {
  const pool = new Pool({ connectionString: databaseUrl, max: concurrency });
  await pool.query('CREATE TABLE IF NOT EXISTS bench_ceiling (id int PRIMARY KEY, n bigint NOT NULL)');
  await pool.query('INSERT INTO bench_ceiling SELECT g, 0 FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING');
  const rate = await throughput(
    () => pool.query('UPDATE bench_ceiling SET n = n + 1 WHERE id = $1', [1 + Math.floor(Math.random() * 1000)]),
    concurrency,
    seconds,
  );
  await pool.query('DROP TABLE bench_ceiling');
  await pool.end();
  return rate;
}

module.exports = { throughput, argon2VerifyCeiling, rs256Ceilings, postgresUpdateCeiling };
