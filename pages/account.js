// The account page: the access token lives in memory only; it is renewed silently through the
// httpOnly refresh cookie shortly before it expires, and whenever the API answers 401.
'use strict';
(() => {
  const clientId = document.body.dataset.clientId;
  const status = document.getElementById('token-status');
  let accessToken = null;
  let refreshTimer = null;
  let refreshes = 0;

  const toLogin = () => location.assign('/login?return_to=/account');
  const form = (params) => new URLSearchParams({ client_id: clientId, ...params });
  const post = (path, params) =>
    fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: form(params),
    });

  async function refresh() {
    clearTimeout(refreshTimer);
    const response = await post('/oauth/token', { grant_type: 'refresh_token' });
    if (!response.ok) {
      accessToken = null;
      toLogin();
      throw new Error('signed out');
    }
    const body = await response.json();
    accessToken = body.access_token;
    refreshes += 1;
    status.dataset.refreshes = String(refreshes); // counted for tests; a person needs no word about it
    refreshTimer = setTimeout(() => refresh().catch(() => {}), Math.max(1, body.expires_in * 0.8) * 1000);
  }

  async function api(path, options = {}, retried = false) {
    if (!accessToken) await refresh();
    const response = await fetch(path, {
      ...options,
      headers: { ...(options.headers || {}), Authorization: `Bearer ${accessToken}` },
    });
    if (response.status === 401 && !retried) {
      await refresh();
      return api(path, options, true);
    }
    return response;
  }

  const when = (iso) => new Date(iso).toLocaleString();
  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  async function loadSessions() {
    const { sessions } = await (await api('/account/sessions')).json();
    sessions.sort((a, b) => Number(b.current) - Number(a.current)); // this device first
    const body = document.querySelector('#sessions tbody');
    body.replaceChildren();
    for (const session of sessions) {
      const row = body.insertRow();
      row.dataset.sessionId = session.id;
      const device = session.device || 'Unknown device'; // "Chrome on Linux", "curl"
      const name = cell(row, device + (session.current ? ' (this device)' : ''), session.current ? 'current' : '');
      if (session.user_agent) name.title = session.user_agent;
      cell(row, session.ip || '–');
      cell(row, when(session.created_at));
      cell(row, when(session.last_used_at));
      const actions = row.insertCell();
      if (!session.current) {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = 'Sign out';
        button.setAttribute('aria-label', `Sign out ${device}`);
        button.addEventListener('click', async () => {
          button.disabled = true;
          await api(`/account/sessions/${encodeURIComponent(session.id)}`, { method: 'DELETE' });
          await loadSessions();
        });
        actions.append(button);
      }
    }
  }

  async function signOut() {
    clearTimeout(refreshTimer);
    await post('/oauth/revoke', {}); // revokes the session in the cookie and clears the cookie
    toLogin();
  }

  document.getElementById('logout').addEventListener('click', () => signOut().catch(toLogin));
  document.getElementById('logout-all').addEventListener('click', async () => {
    await api('/account/logout-all', { method: 'POST' });
    await signOut();
  });

  const passwordForm = document.getElementById('password-form');
  const passwordMessage = document.getElementById('password-message');
  passwordForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const response = await api('/account/password', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        current_password: passwordForm.current_password.value,
        new_password: passwordForm.new_password.value,
      }),
    });
    const body = await response.json().catch(() => ({}));
    passwordMessage.hidden = false;
    if (response.ok) {
      passwordMessage.className = 'message ok';
      passwordMessage.textContent = `Password changed. ${body.revoked_sessions} other session(s) signed out.`;
      passwordForm.reset();
      await loadSessions();
    } else {
      passwordMessage.className = 'message';
      passwordMessage.textContent = body.error_description || 'The password could not be changed.';
    }
  });

  (async () => {
    const profile = await (await api('/account')).json();
    document.getElementById('username').textContent = profile.username;
    document.getElementById('password-username').value = profile.username; // lets password managers file the new password
    await loadSessions();
    document.dispatchEvent(new CustomEvent('authd:account-ready', { detail: { api, username: profile.username } })); // pages/account-mfa.js
  })().catch(() => {});
})();
