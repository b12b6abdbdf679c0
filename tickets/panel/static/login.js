// The sign-in form: POST /api/login, then the panel.
'use strict';

H.ready(() => {
  const form = H.$('login-form');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = H.formData(form);
    const r = await H.api('POST', '/api/login', { agent_id: f.agent_id, password: form.elements.password.value });
    if (r.status === 200) {
      location.href = '/panel/';
      return;
    }
    H.setText('login-msg', H.errorText(r));
  });
  H.$('login-agent').focus();
});
