// The password reset page. Without a token: asks for the link (the answer is the same for every
// account). With one (in the fragment, #token=…, so it never reaches a server log or a Referer):
// sets the new password.
'use strict';
(() => {
  const requestForm = document.getElementById('request-form');
  const confirmForm = document.getElementById('confirm-form');
  const message = document.getElementById('message');
  let token = null;

  function show(text, ok) {
    message.textContent = text;
    message.classList.toggle('ok', Boolean(ok));
    message.hidden = false;
  }

  async function post(path, params) {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params),
    });
    const body = await response.json().catch(() => ({}));
    return { response, body };
  }

  const waitText = (response) => {
    const wait = Number(response.headers.get('Retry-After')) || 60;
    return `Too many requests. Try again in ${wait >= 120 ? Math.ceil(wait / 60) + ' minutes' : wait + ' seconds'}.`;
  };

  // On load, and when a link is opened in a tab already showing this page (only the fragment changes).
  function takeToken() {
    const found = new URLSearchParams(location.hash.slice(1)).get('token');
    if (!found) return;
    token = found;
    requestForm.hidden = true;
    confirmForm.hidden = false;
    message.hidden = true;
    // The token stays in memory only: the address bar no longer shows it.
    history.replaceState(null, '', location.pathname);
  }
  takeToken();
  window.addEventListener('hashchange', takeToken);

  requestForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const identifier = requestForm.username.value.trim();
    if (!identifier) {
      show('Enter your username or email address.');
      requestForm.username.focus();
      return;
    }
    requestForm['request-submit'].disabled = true;
    try {
      const { response, body } = await post('/account/password-reset', { username: identifier });
      if (response.status === 202) show(body.message || 'If the account exists, a link is on its way.', true);
      else if (response.status === 429) show(waitText(response));
      else show(body.error_description || 'Something went wrong. Please try again.');
    } catch {
      show('Could not reach the server. Check your connection and try again.');
    } finally {
      requestForm['request-submit'].disabled = false;
    }
  });

  confirmForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const password = confirmForm.new_password.value;
    if (password.length < 8) {
      show('The new password needs at least 8 characters.');
      confirmForm.new_password.focus();
      return;
    }
    if (password !== confirmForm.repeat_password.value) {
      show('The two passwords differ.');
      confirmForm.repeat_password.focus();
      return;
    }
    confirmForm['confirm-submit'].disabled = true;
    try {
      const { response, body } = await post('/account/password-reset/confirm', { token, new_password: password });
      if (response.ok) {
        confirmForm.hidden = true;
        show(body.message || 'Your password was changed.', true);
        return;
      }
      show(body.error_description || 'Something went wrong. Please try again.');
      if (body.error === 'invalid_grant') {
        confirmForm.hidden = true;
        requestForm.hidden = false;
      }
    } catch {
      show('Could not reach the server. Check your connection and try again.');
    } finally {
      confirmForm['confirm-submit'].disabled = false;
    }
  });
})();
