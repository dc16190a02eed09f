'use strict';
// What every benchmark server's scenarios share: the password, form headers, Basic credentials.
const PASSWORD = 'correct horse battery staple';
const USERS = 1000;

const basic = (id, secret) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');
const form = (extra = {}) => ({ 'content-type': 'application/x-www-form-urlencoded', ...extra });

/** One password-grant body per seeded user (user1…user1000), for a cycle scenario. */
const passwordLines = () =>
  Array.from(
    { length: USERS },
    (_, i) => `grant_type=password&client_id=bench-web&username=user${i + 1}&password=${encodeURIComponent(PASSWORD)}`,
  );

module.exports = { PASSWORD, USERS, basic, form, passwordLines };
