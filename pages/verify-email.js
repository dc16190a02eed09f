// The email verification page: the token comes in the fragment (#token=…). It is sent only when
// the user presses the button, so a mail scanner that opens links verifies nothing.
'use strict';
(() => {
  const confirmForm = document.getElementById('confirm-form');
  const resendForm = document.getElementById('resend-form');
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
    return { response, body: await response.json().catch(() => ({})) };
  }

  function takeToken() {
    const found = new URLSearchParams(location.hash.slice(1)).get('token');
    if (!found) return;
    token = found;
    confirmForm.hidden = false;
    resendForm.hidden = true;
    message.hidden = true;
    history.replaceState(null, '', location.pathname);
  }
  takeToken();
  window.addEventListener('hashchange', takeToken);

  confirmForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    confirmForm['confirm-submit'].disabled = true;
    try {
      const { response, body } = await post('/account/email-verification/confirm', { token });
      confirmForm.hidden = true;
      if (response.ok) {
        show(body.message || 'Your email address is verified.', true);
      } else {
        show(body.error_description || 'Something went wrong. Please try again.');
        resendForm.hidden = false;
      }
    } catch {
      show('Could not reach the server. Check your connection and try again.');
    } finally {
      confirmForm['confirm-submit'].disabled = false;
    }
  });

  resendForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const identifier = resendForm.username.value.trim();
    if (!identifier) {
      show('Enter your username or email address.');
      return;
    }
    resendForm['resend-submit'].disabled = true;
    try {
      const { response, body } = await post('/account/email-verification', { username: identifier });
      if (response.status === 202) show(body.message, true);
      else if (response.status === 429)
        show(`Too many requests. Try again in ${Number(response.headers.get('Retry-After')) || 60} seconds.`);
      else show(body.error_description || 'Something went wrong. Please try again.');
    } catch {
      show('Could not reach the server. Check your connection and try again.');
    } finally {
      resendForm['resend-submit'].disabled = false;
    }
  });
})();
