// The supervisors' live wall: GET /api/wall on load and within a second of
// any event of any node (the stream carries every event to a supervisor);
// force an agent's state, reassign a ticket, acknowledge an escalation.
'use strict';

(() => {
  const { t, api, el, $, setText } = H;
  let pending = null;
  let loading = false;
  let again = false;

  function pct(x) {
    if (x === undefined || x === null || isNaN(x)) return '–';
    return (x * 100).toFixed(1) + '%';
  }

  async function loadWall() {
    if (loading) { again = true; return; }
    loading = true;
    const r = await api('GET', '/api/wall');
    loading = false;
    if (r.status !== 200 || !r.data) {
      setText('wall-msg', H.errorText(r));
    } else {
      setText('wall-msg', '');
      render(r.data);
      window.__wallLoads = (window.__wallLoads || 0) + 1;
      // A reading a little old came back while a new one is made: ask again.
      if (r.data.stale) soon();
    }
    if (again) { again = false; loadWall(); }
  }

  // soon loads the wall at most 250 ms after an event, once for a burst.
  function soon() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; loadWall(); }, 250);
  }

  function render(w) {
    const cats = w.categories || [];
    setText('w-waiting', cats.reduce((n, c) => n + (c.waiting || 0), 0));
    setText('w-drafts', w.drafts_pending);
    setText('w-late', w.drafts_late_today);
    setText('w-breaches', w.open_breaches);
    setText('w-at', w.at ? new Date(w.at).toLocaleTimeString(H.me.lang) : '');
    $('w-late').parentElement.classList.toggle('alert', (w.drafts_late_today || 0) > 0);
    $('w-breaches').parentElement.classList.toggle('alert', (w.open_breaches || 0) > 0);
    $('w-categories').replaceChildren(...cats.map((c) => el('tr', { class: c.oldest_wait_s > 20 ? 'warn' : '' },
      el('td', {}, H.categoryLabel(c.category)), el('td', { class: 'num' }, c.waiting),
      el('td', { class: 'num' }, H.duration(c.oldest_wait_s || 0)),
      el('td', { class: 'num' }, pct(c.service_level_today)), el('td', { class: 'num' }, pct(c.abandon_rate_today)))));
    renderAgents(w.agents || []);
    const esc = w.escalations || [];
    keepTyping($('w-escalations'), () => $('w-escalations').replaceChildren(...esc.map(escalationRow)));
    $('w-escalations-empty').hidden = esc.length > 0;
    const reports = w.nuisance_reports || [];
    keepTyping($('w-nuisance'), () => $('w-nuisance').replaceChildren(...reports.map(nuisanceRow)));
    $('w-nuisance-empty').hidden = reports.length > 0;
  }

  // keepTyping re-renders a table without losing what the supervisor is
  // typing in its forms: the wall refreshes on every event, and a reason
  // half typed (or a state chosen) must survive it, focus included.
  function keepTyping(tbody, render) {
    const kept = {};
    let focused = null;
    for (const f of tbody.querySelectorAll('form[data-key]')) {
      for (const c of f.elements) {
        if (!c.name) continue;
        kept[f.dataset.key + '\u0000' + c.name] = c.value;
        if (c === document.activeElement) focused = [f.dataset.key, c.name, c.selectionStart, c.selectionEnd];
      }
    }
    render();
    for (const f of tbody.querySelectorAll('form[data-key]')) {
      for (const c of f.elements) {
        const v = kept[f.dataset.key + '\u0000' + c.name];
        if (c.name && v !== undefined) c.value = v;
      }
    }
    if (focused) {
      const f = tbody.querySelector('form[data-key="' + CSS.escape(focused[0]) + '"]');
      const c = f && f.elements.namedItem(focused[1]);
      if (c) {
        c.focus();
        if (typeof focused[2] === 'number' && c.setSelectionRange) c.setSelectionRange(focused[2], focused[3]);
      }
    }
  }

  function renderAgents(agents) {
    keepTyping($('w-agents'), () => renderAgentRows(agents));
  }

  function renderAgentRows(agents) {
    const counts = {};
    for (const a of agents) counts[a.state] = (counts[a.state] || 0) + 1;
    setText('w-agent-counts', Object.entries(counts).map(([s, n]) => H.stateLabel(s) + ' ' + n).join(' · '));
    $('w-agents').replaceChildren(...agents.map((a) => {
      const form = el('form', { class: 'inline-form compact', 'data-agent': a.id, 'data-key': 'agent:' + a.id },
        el('select', { name: 'state', 'aria-label': t('wall.force') },
          el('option', { value: 'available' }, H.stateLabel('available')),
          el('option', { value: 'paused' }, H.stateLabel('paused')),
          el('option', { value: 'offline' }, H.stateLabel('offline'))),
        el('input', { name: 'reason', maxlength: '200', required: 'required', placeholder: t('wall.reason'), 'aria-label': t('wall.reason') }),
        el('button', { type: 'submit' }, t('wall.force_submit')),
        el('span', { class: 'msg', 'data-msg': '' }));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const f = H.formData(form);
        const r = await api('POST', '/api/agents/' + encodeURIComponent(a.id) + '/state', { state: f.state, reason: f.reason });
        H.message(form, r);
        if (r.status >= 200 && r.status < 300) soon();
      });
      return el('tr', { class: 'state-row-' + a.state, 'data-agent-row': a.id },
        el('td', {}, a.id), el('td', {}, a.name || ''),
        el('td', {}, el('span', { class: 'badge state-' + a.state, 'data-state': a.state }, H.stateLabel(a.state))),
        el('td', {}, H.reasonLabel(a.reason)), el('td', { class: 'num', 'data-since': a.since || '' }, ''),
        el('td', {}, a.node || ''), el('td', {}, form));
    }));
    tick();
  }

  function escalationRow(e) {
    const form = el('form', { class: 'inline-form compact', 'data-key': 'escalation:' + e.ref },
      el('input', { name: 'note', maxlength: '500', placeholder: t('wall.note'), 'aria-label': t('wall.note') }),
      el('button', { type: 'submit' }, t('wall.acknowledge')),
      el('span', { class: 'msg', 'data-msg': '' }));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const r = await api('POST', '/api/tickets/' + encodeURIComponent(e.ref) + '/acknowledge', { note: H.formData(form).note });
      H.message(form, r);
      if (r.status >= 200 && r.status < 300) soon();
    });
    return el('tr', { class: e.acknowledged ? '' : 'late' }, el('td', {}, el('code', {}, e.ref)),
      el('td', {}, H.categoryLabel(e.category)), el('td', {}, e.owner || ''), el('td', { class: 'num' }, e.level),
      el('td', {}, H.time(e.since)), el('td', {}, e.acknowledged ? t('wall.acknowledged') : form));
  }

  // nuisanceRow is an agent's report (S21): the supervisor flags the number
  // (it then hears the short message and is not queued) or dismisses the
  // report, with a reason either way (audited).
  function nuisanceRow(n) {
    const form = el('form', { class: 'inline-form compact', 'data-key': 'nuisance:' + n.id },
      el('input', { name: 'reason', maxlength: '500', placeholder: t('ticket.reason'), 'aria-label': t('ticket.reason') }),
      el('button', { type: 'submit', name: 'decision', value: 'flag', 'data-decide': 'flag' }, t('wall.nuisance_flag')),
      el('button', { type: 'submit', name: 'decision', value: 'dismiss', 'data-decide': 'dismiss' }, t('wall.nuisance_dismiss')),
      el('span', { class: 'msg', 'data-msg': '' }));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const reason = H.formData(form).reason;
      const r = ev.submitter && ev.submitter.value === 'dismiss'
        ? await api('POST', '/api/nuisance/reports/' + encodeURIComponent(n.id) + '/dismiss', { reason })
        : await api('POST', '/api/nuisance', { number: n.number, reason });
      H.message(form, r);
      if (r.status >= 200 && r.status < 300) soon();
    });
    return el('tr', { 'data-nuisance-row': n.number }, el('td', {}, n.number), el('td', {}, n.reported_by),
      el('td', {}, n.reason), el('td', {}, H.time(n.reported_at)), el('td', {}, form));
  }

  // tick counts each agent's time in state up.
  function tick() {
    for (const td of document.querySelectorAll('[data-since]')) {
      const since = Date.parse(td.dataset.since);
      td.textContent = isNaN(since) ? '' : H.duration((H.now() - since) / 1000);
    }
  }

  H.ready(() => {
    const rf = $('wall-reassign');
    rf.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const f = H.formData(rf);
      const r = await api('POST', '/api/tickets/' + encodeURIComponent(f.ref) + '/reassign', { agent: f.agent, reason: f.reason });
      H.message(rf, r);
      if (r.status >= 200 && r.status < 300) { rf.reset(); soon(); }
    });
    H.every(tick);
    // A fallback when no event comes: the wall's figures also age (waits).
    setInterval(loadWall, 10000);
    const any = () => soon();
    H.live({ state: any, ringing: any, answered: any, call_ended: any, ticket: any, wall: any, resync: loadWall }, loadWall);
  });
})();
