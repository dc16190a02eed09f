// The second step of the sign-in page, for accounts with two-step verification: the code from an
// authenticator app (or a recovery code) completes the password sign-in through the mfa-otp grant.
'use strict';
(() => {
  const GRANT = 'urn:authd:params:oauth:grant-type:mfa-otp';
  const loginForm = document.getElementById('login-form');
  const form = document.getElementById('mfa-form');
  const input = document.getElementById('mfa-code');
  const label = document.getElementById('mfa-label');
  const hint = document.getElementById('mfa-hint');
  const message = document.getElementById('mfa-message');
  const submit = document.getElementById('mfa-submit');
  const toggle = document.getElementById('mfa-switch');
  const clientId = document.body.dataset.clientId;
  let mfaToken = null;
  let returnTo = '/account';
  let recovery = false;

  function show(text) {
    message.textContent = text;
    message.hidden = false;
  }

  function useRecoveryCode(on) {
    recovery = on;
    input.value = '';
    label.textContent = on ? 'Recovery code' : 'Authentication code';
    hint.textContent = on
      ? 'Enter one of the recovery codes you saved when you set up two-step verification. Each works once.'
      : 'Enter the 6-digit code from your authenticator app.';
    input.inputMode = on ? 'text' : 'numeric';
    input.autocomplete = on ? 'off' : 'one-time-code';
    input.maxLength = on ? 20 : 6;
    if (on) input.removeAttribute('pattern');
    else input.setAttribute('pattern', '[0-9]*');
    toggle.textContent = on ? 'Use an authenticator code instead' : 'Use a recovery code instead';
    input.focus();
  }

  function backToPassword(text) {
    form.hidden = true;
    loginForm.hidden = false;
    const loginMessage = document.getElementById('message');
    loginMessage.textContent = text;
    loginMessage.hidden = false;
    loginForm.password.focus();
  }

  document.addEventListener('authd:mfa-required', (event) => {
    mfaToken = event.detail.mfaToken;
    returnTo = event.detail.returnTo;
    loginForm.hidden = true;
    form.hidden = false;
    message.hidden = true;
    useRecoveryCode(false);
  });

  toggle.addEventListener('click', () => {
    message.hidden = true;
    useRecoveryCode(!recovery);
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.hidden = true;
    const code = input.value.replace(/\s/g, '');
    if (!code) {
      show(recovery ? 'Enter a recovery code.' : 'Enter the 6-digit code.');
      input.focus();
      return;
    }
    submit.disabled = true;
    try {
      const response = await fetch('/oauth/token', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: GRANT,
          client_id: clientId,
          mfa_token: mfaToken,
          [recovery ? 'recovery_code' : 'otp']: code,
        }),
      });
      if (response.ok) {
        location.assign(returnTo);
        return;
      }
      const body = await response.json().catch(() => ({}));
      if (response.status === 429) {
        const wait = Number(response.headers.get('Retry-After')) || 60;
        show(
          `Too many failed attempts. Try again in ${wait >= 120 ? Math.ceil(wait / 60) + ' minutes' : wait + ' seconds'}.`,
        );
      } else if (response.status === 400 && /mfa_token/.test(body.error_description || '')) {
        backToPassword('That took too long or too many tries. Sign in again.');
        return;
      } else if (response.status === 400) {
        show(
          recovery
            ? 'That recovery code is wrong or was already used.'
            : 'That code is wrong or was already used. Wait for the next code and try again.',
        );
      } else {
        show('The service is busy. Please try again in a moment.');
      }
      input.value = '';
      input.focus();
    } catch {
      show('Could not reach the server. Check your connection and try again.');
    } finally {
      submit.disabled = false;
    }
  });
})();
