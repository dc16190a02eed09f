// Two-step verification on the account page: status, enrolment (QR code, key, first code),
// the recovery codes shown once, new recovery codes (password + a current code), and turning it
// off (password + a code).
'use strict';
(() => {
  const el = (id) => document.getElementById(id);
  const status = el('mfa-status');
  const startForm = el('mfa-start-form');
  const confirmForm = el('mfa-confirm-form');
  const recovery = el('mfa-recovery');
  const regenerateForm = el('mfa-regenerate-form');
  const disableForm = el('mfa-disable-form');
  let api = null;

  const json = (body) => ({
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  function say(id, text) {
    el(id).textContent = text;
    el(id).hidden = false;
  }
  function only(...shown) {
    for (const part of [startForm, confirmForm, recovery, regenerateForm, disableForm])
      part.hidden = !shown.includes(part);
  }
  function showCodes(codes) {
    el('mfa-recovery-codes').replaceChildren(
      ...codes.map((code) => Object.assign(document.createElement('li'), { textContent: code })),
    );
    only(recovery);
    el('mfa-recovery-done').focus();
  }

  async function load() {
    const mfa = await (await api('/account/mfa')).json();
    status.textContent = mfa.enabled
      ? `On since ${new Date(mfa.enrolled_at).toLocaleDateString()}. ${mfa.recovery_codes_left} recovery code(s) left.`
      : 'Off.';
    status.dataset.enabled = String(mfa.enabled);
    if (mfa.enabled) only(regenerateForm, disableForm);
    else only(startForm);
  }

  startForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    startForm.querySelector('.message').hidden = true;
    const response = await api('/account/mfa/totp', json({ password: startForm.password.value }));
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      say('mfa-start-message', body.error_description || 'Two-step verification could not be set up.');
      startForm.password.focus();
      return;
    }
    startForm.reset();
    el('mfa-qr').src = `data:image/svg+xml;base64,${btoa(body.qr_svg)}`;
    el('mfa-secret').textContent = body.secret.replace(/(.{4})(?=.)/g, '$1 ');
    el('mfa-secret').dataset.secret = body.secret;
    only(confirmForm);
    confirmForm.code.focus();
  });

  confirmForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    confirmForm.querySelector('.message').hidden = true;
    const response = await api('/account/mfa/totp/confirm', json({ code: confirmForm.code.value.replace(/\s/g, '') }));
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      say('mfa-confirm-message', body.error_description || 'The code was not accepted.');
      confirmForm.code.select();
      return;
    }
    confirmForm.reset();
    status.textContent = 'On.';
    showCodes(body.recovery_codes);
  });

  regenerateForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    regenerateForm.querySelector('.message').hidden = true;
    const response = await api(
      '/account/mfa/recovery-codes',
      json({ password: regenerateForm.password.value, otp: regenerateForm.code.value.replace(/\s/g, '') }),
    );
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      say('mfa-regenerate-message', body.error_description || 'No new recovery codes could be made.');
      return;
    }
    regenerateForm.reset();
    showCodes(body.recovery_codes);
  });

  el('mfa-recovery-done').addEventListener('click', () => {
    el('mfa-recovery-codes').replaceChildren();
    load().catch(() => {});
  });

  disableForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    disableForm.querySelector('.message').hidden = true;
    const code = disableForm.code.value.replace(/\s/g, '');
    const factor = /^\d{6}$/.test(code) ? { otp: code } : { recovery_code: code };
    const response = await api('/account/mfa/disable', json({ password: disableForm.password.value, ...factor }));
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      say('mfa-disable-message', body.error_description || 'Two-step verification could not be turned off.');
      return;
    }
    disableForm.reset();
    await load();
  });

  document.addEventListener('authd:account-ready', (event) => {
    api = event.detail.api;
    load().catch(() => {
      status.textContent = 'Could not load the two-step verification settings.';
    });
  });
})();
