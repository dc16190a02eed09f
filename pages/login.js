// The sign-in page: posts the password grant for the hosted-pages client (cookie mode: the
// refresh token lands in an httpOnly cookie, never in JavaScript), then goes to the account page.
'use strict';
(() => {
  const form = document.getElementById('login-form');
  const message = document.getElementById('message');
  const submit = document.getElementById('submit');
  const clientId = document.body.dataset.clientId;

  // Only same-origin paths: the page must not become an open redirect.
  function returnTo() {
    const target = new URLSearchParams(location.search).get('return_to') || '/account';
    return /^\/(?!\/)[\w\-./?=&%]*$/.test(target) ? target : '/account';
  }

  function show(text) {
    message.textContent = text;
    message.hidden = false;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.hidden = true;
    const username = form.username.value.trim();
    const password = form.password.value;
    if (!username || !password) {
      show('Enter your username and password.');
      (username ? form.password : form.username).focus();
      return;
    }
    submit.disabled = true;
    try {
      const response = await fetch('/oauth/token', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'password', client_id: clientId, username, password }),
      });
      if (response.ok) {
        location.assign(returnTo());
        return;
      }
      if (response.status === 403) {
        // The password was right and the account has a second factor: pages/login-mfa.js takes over.
        const body = await response.json().catch(() => ({}));
        if (body.error === 'mfa_required') {
          form.password.value = '';
          document.dispatchEvent(
            new CustomEvent('authd:mfa-required', { detail: { mfaToken: body.mfa_token, returnTo: returnTo() } }),
          );
          return;
        }
      }
      if (response.status === 429) {
        const wait = Number(response.headers.get('Retry-After')) || 60;
        show(
          `Too many failed attempts. Try again in ${wait >= 120 ? Math.ceil(wait / 60) + ' minutes' : wait + ' seconds'}.`,
        );
      } else if (response.status === 400) {
        show('Wrong username or password.');
      } else {
        show('The service is busy. Please try again in a moment.');
      }
      form.password.value = '';
      form.password.focus();
    } catch {
      show('Could not reach the server. Check your connection and try again.');
    } finally {
      submit.disabled = false;
    }
  });
})();
