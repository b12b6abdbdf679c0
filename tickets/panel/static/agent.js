// The agent's panel: state, screen-pop, draft ticket with its entry
// countdown (S12), my work, one ticket, web/letter tickets (S20), callbacks.
'use strict';

(() => {
  const { t, api, el, $, setText } = H;
  const state = { since: null, callId: null, waitStart: null, callShown: false, draft: null, deadline: null,
    tab: 'drafts', lists: {}, ticket: null, categories: [] };

  // ---- agent state --------------------------------------------------------
  function showState(s) {
    const badge = $('state-badge');
    badge.textContent = H.stateLabel(s.state);
    badge.className = 'badge state-' + (s.state || 'offline');
    badge.dataset.state = s.state || '';
    setText('state-reason', s.reason ? '(' + H.reasonLabel(s.reason) + ')' : '');
    state.since = s.since ? Date.parse(s.since) : null;
    tickState();
    $('btn-available').disabled = !['offline', 'paused', 'not_responding', 'wrap_up'].includes(s.state);
    $('btn-offline').disabled = s.state === 'offline' || s.state === 'on_call';
  }

  function tickState() {
    setText('state-since', state.since ? H.duration((H.now() - state.since) / 1000) : '');
  }

  async function loadState() {
    const r = await api('GET', '/api/agent/state');
    if (r.status !== 200 || !r.data) {
      const m = $('state-msg');
      m.className = 'msg error';
      m.textContent = H.errorText(r);
      return;
    }
    const s = r.data;
    showState(s);
    if (s.node) setText('node', t('top.node', { node: s.node }));
    state.categories = s.categories || [];
    const sel = $('pause-reason');
    if (sel.options.length === 0) {
      for (const reason of s.pause_reasons || []) sel.append(el('option', { value: reason }, H.reasonLabel(reason)));
    }
    const dl = $('transfer-targets');
    dl.replaceChildren(...['inquiry', 'complaint', 'emergency', 'business'].map((c) => el('option', { value: c }, H.categoryLabel(c))));
  }

  async function setState(to, reason) {
    const r = await api('POST', '/api/agent/state', { state: to, reason: reason || '' });
    const m = $('state-msg');
    if (r.status === 200 && r.data) {
      showState(r.data);
      m.textContent = '';
    } else {
      m.className = 'msg error';
      m.textContent = H.errorText(r);
    }
  }

  // ---- the call (screen-pop, S1, S16) -------------------------------------
  function showPop(c) {
    $('call-card').hidden = false;
    state.callShown = true;
    const cs = $('call-state');
    cs.textContent = H.stateLabel(c.state || 'ringing');
    cs.className = 'badge state-' + (c.state || 'ringing');
    setText('pop-caller', c.caller);
    setText('pop-category', H.categoryLabel(c.category));
    setText('pop-priority', c.priority ? t('call.priority_high', { p: c.priority }) : t('call.priority_normal'));
    $('apologise').hidden = !c.apologise;
    // The wait counts from the first sight of this call on the local clock:
    // later reloads of the same call (events, reconnects) do not restart it.
    if (c.call_id !== state.callId || state.waitStart === null) {
      state.callId = c.call_id;
      state.waitStart = Date.now() - (c.waited_ms || 0);
      setText('pop-waited', H.duration((c.waited_ms || 0) / 1000));
    }
    tickWait();
    const rows = (c.open_tickets || []).map((k) => el('tr', {},
      el('td', {}, el('code', {}, k.ref)), el('td', {}, H.categoryLabel(k.category)), el('td', {}, H.statusLabel(k.status)),
      el('td', {}, k.owner || ''), el('td', {}, H.time(k.due))));
    $('pop-open-rows').replaceChildren(...rows);
    $('pop-open').hidden = rows.length === 0;
    const nf = $('nuisance-form');
    if (nf && c.caller) nf.elements.number.value = c.caller;
  }

  // tickWait counts the caller's wait up while ringing (S1).
  function tickWait() {
    // Only while it rings: once answered the figure stays as it was.
    if (!state.callShown || state.waitStart === null || !$('call-state').className.includes('state-ringing')) return;
    setText('pop-waited', H.duration((Date.now() - state.waitStart) / 1000));
  }

  function hidePop() {
    $('call-card').hidden = true;
    state.callShown = false;
    state.callId = null;
    state.waitStart = null;
  }

  async function loadCall() {
    const r = await api('GET', '/api/agent/call');
    if (r.status === 204 || (r.status === 200 && !r.data)) {
      hidePop();
      return;
    }
    if (r.status !== 200) return;
    const c = r.data;
    if (c.state === 'wrap_up') hidePop();
    else showPop(c);
    if (c.draft && (!state.draft || state.draft !== c.draft)) openDraft(c.draft);
  }

  // ---- draft ticket (S12, S13) --------------------------------------------
  async function openDraft(ref) {
    const r = await api('GET', '/api/tickets/' + encodeURIComponent(ref));
    if (r.status !== 200 || !r.data || r.data.status !== 'draft') return;
    const k = r.data;
    state.draft = ref;
    state.deadline = k.entry_deadline ? Date.parse(k.entry_deadline) : null;
    state.draftKey = H.newKey();
    setText('draft-ref', k.ref);
    setText('draft-caller', k.caller_number);
    setText('draft-category', H.categoryLabel(k.category));
    setText('draft-ended', H.time(k.call_ended_at));
    setText('draft-waited', H.duration(k.wait_seconds || 0));
    const f = $('draft-form');
    f.reset();
    clearErrors(f);
    if (k.category) f.elements.category.value = k.category;
    if (k.caller_number) f.elements.callback_phone.value = k.caller_number;
    $('draft-card').hidden = false;
    tickDeadline();
  }

  // tickDeadline: the countdown to the entry deadline, amber in the last
  // minute, red once late (S12).
  function tickDeadline() {
    const c = $('draft-countdown');
    if (!state.draft || state.deadline === null) { c.textContent = ''; return; }
    const left = (state.deadline - H.now()) / 1000;
    if (left >= 0) {
      c.textContent = t('draft.left', { time: H.duration(left) });
      c.className = 'countdown ' + (left <= 60 ? 'amber' : 'green');
    } else {
      c.textContent = t('draft.late', { time: H.duration(-left) });
      c.className = 'countdown red';
    }
  }

  function clearErrors(form) {
    for (const p of form.querySelectorAll('.field-error')) p.textContent = '';
    for (const e of form.querySelectorAll('.invalid')) e.classList.remove('invalid');
    const m = form.querySelector('[data-msg]');
    if (m) m.textContent = '';
  }

  // showFieldErrors puts each of the server's messages under its field,
  // rendered from its code in the page's language (S13).
  function showFieldErrors(form, r) {
    clearErrors(form);
    const d = r.data || {};
    let shown = false;
    for (const name of Object.keys(d.field_codes || d.fields || {})) {
      const p = form.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
      if (p) {
        p.textContent = H.fieldText(r, name);
        p.dataset.code = (d.field_codes && d.field_codes[name] && d.field_codes[name].code) || '';
        shown = true;
      }
      const input = form.elements[name];
      if (input && input.classList) input.classList.add('invalid');
    }
    const m = form.querySelector('[data-msg]');
    m.className = 'msg error';
    m.textContent = shown ? t('form.fix_fields') : H.errorText(r);
  }

  function ticketInput(form) {
    const f = H.formData(form);
    const out = {
      caller_name: f.caller_name, on_behalf: f.on_behalf, relation: f.relation, callback_phone: f.callback_phone,
      id_type: f.id_type, id_number: f.id_number, description: f.description, category: f.category, result: f.result,
    };
    const due = H.isoOfLocal(f.follow_up_due);
    if (due) out.follow_up_due = due;
    return out;
  }

  async function submitDraft(ev) {
    ev.preventDefault();
    const form = $('draft-form');
    const ref = state.draft;
    if (!ref) return;
    $('draft-submit').disabled = true;
    const r = await api('POST', '/api/tickets/' + encodeURIComponent(ref) + '/submit', ticketInput(form),
      { 'Idempotency-Key': state.draftKey });
    $('draft-submit').disabled = false;
    if (r.status === 200 && r.data) {
      state.draft = null;
      $('draft-card').hidden = true;
      const m = $('state-msg');
      m.className = 'msg ok';
      m.textContent = r.data.late ? t('draft.submitted_late', { ref: r.data.ref }) : t('draft.submitted', { ref: r.data.ref });
      m.dataset.late = r.data.late ? 'true' : 'false';
      loadWork();
      loadState();
      return;
    }
    if (r.status !== 0) state.draftKey = H.newKey(); // a refused form may be sent again, changed
    showFieldErrors(form, r);
  }

  // ---- my work ------------------------------------------------------------
  async function list(query) {
    const r = await api('GET', '/api/tickets?' + query);
    return r.status === 200 && r.data ? r.data.tickets : [];
  }

  async function loadWork() {
    const own = 'owner=' + encodeURIComponent(H.me.agent) + '&limit=200';
    const [drafts, open, progress, reopened, overdue] = await Promise.all([
      list('status=draft&' + own), list('status=open&' + own), list('status=in_progress&' + own),
      list('status=reopened&' + own), list('overdue=true&' + own)]);
    const active = open.concat(progress, reopened);
    const soon = H.now() + 24 * 3600 * 1000;
    state.lists = {
      drafts,
      open: active,
      due_soon: active.filter((k) => k.due_at && !k.breached_at && Date.parse(k.due_at) <= soon),
      overdue,
      breached: active.filter((k) => k.breached_at),
    };
    for (const b of document.querySelectorAll('[data-tab]')) {
      b.querySelector('.count').textContent = String(state.lists[b.dataset.tab].length);
    }
    showTab(state.tab);
  }

  function showTab(tab) {
    state.tab = tab;
    for (const b of document.querySelectorAll('[data-tab]')) b.classList.toggle('active', b.dataset.tab === tab);
    const rows = (state.lists[tab] || []).map((k) => {
      const open = el('button', { type: 'button', class: 'link', 'data-ref': k.ref }, k.status === 'draft' ? t('work.fill') : t('work.view'));
      open.addEventListener('click', () => (k.status === 'draft' ? openDraft(k.ref) : openTicket(k.ref)));
      const late = k.breached_at || (k.status === 'draft' && k.overdue_flagged_at);
      return el('tr', { class: late ? 'late' : '' }, el('td', {}, el('code', {}, k.ref)), el('td', {}, H.categoryLabel(k.category)),
        el('td', {}, H.statusLabel(k.status)), el('td', {}, k.caller_number || ''),
        el('td', {}, H.time(k.status === 'draft' ? k.entry_deadline : k.due_at)), el('td', {}, open));
    });
    $('work-rows').replaceChildren(...rows);
    $('work-empty').hidden = rows.length > 0;
  }

  // ---- one ticket ---------------------------------------------------------
  const nextStatuses = { open: ['in_progress'], in_progress: ['resolved'], resolved: ['closed', 'reopened'],
    closed: ['reopened'], reopened: ['in_progress'] };

  async function openTicket(ref) {
    const r = await api('GET', '/api/tickets/' + encodeURIComponent(ref));
    if (r.status !== 200 || !r.data) return r;
    showTicket(r.data);
    $('ticket-card').hidden = false;
    $('ticket-card').scrollIntoView({ block: 'nearest' });
    return r;
  }

  function showTicket(k) {
    state.ticket = k;
    setText('tk-ref', k.ref);
    setText('tk-status', H.statusLabel(k.status));
    setText('tk-category', H.categoryLabel(k.category));
    setText('tk-owner', k.owner_agent);
    setText('tk-caller', k.caller_number);
    setText('tk-name', k.caller_name);
    setText('tk-id', k.id_masked || '–');
    $('unmask-form').hidden = !k.id_masked;
    clearErrors($('unmask-form'));
    setText('tk-description', k.description);
    setText('tk-result', H.resultLabel(k.result));
    setText('tk-due', H.time(k.due_at) + (k.breached_at ? ' · ' + t('ticket.breached') : ''));
    setText('tk-entered', k.entered_at ? H.time(k.entered_at) + (k.late ? ' · ' + t('ticket.late') : '') : '');
    setText('tk-escalation', k.escalation_level ? String(k.escalation_level) : '–');
    const audio = $('tk-audio');
    if (k.recording_path) {
      audio.src = '/api/tickets/' + encodeURIComponent(k.ref) + '/recording';
      $('tk-recording').hidden = false;
    } else {
      audio.removeAttribute('src');
      $('tk-recording').hidden = true;
    }
    loadEvents(k.ref);
    const sel = $('status-form').elements.status;
    sel.replaceChildren(...(nextStatuses[k.status] || []).map((s) => el('option', { value: s }, H.statusLabel(s))));
    $('status-form').hidden = sel.options.length === 0;
  }

  // loadEvents shows the ticket's history, oldest first.
  async function loadEvents(ref) {
    const r = await api('GET', '/api/tickets/' + encodeURIComponent(ref) + '/events');
    const list = $('tk-events');
    if (r.status !== 200 || !r.data) {
      list.replaceChildren(el('li', { class: 'muted' }, H.errorText(r)));
      return;
    }
    list.replaceChildren(...r.data.events.map((e) => el('li', {},
      el('span', { class: 'when' }, H.time(e.at)), ' ', el('strong', {}, eventLabel(e.kind)), ' ',
      el('span', { class: 'muted' }, e.actor), ' ', eventText(e))));
  }

  function eventLabel(kind) {
    return ({
      created: t('event.created'), submitted: t('event.submitted'), late_entry: t('event.late_entry'),
      overdue: t('event.overdue'), status: t('event.status'), note: t('event.note'), extended: t('event.extended'),
      handoff: t('event.handoff'), breach: t('event.breach'), escalated: t('event.escalated'), survey: t('event.survey'),
      reopened: t('event.reopened'), reassigned: t('event.reassigned'), acknowledged: t('event.acknowledged'),
    })[kind] || kind;
  }

  // eventText is the facts of an event in a line: the status change, the
  // note, the new owner or deadline, the score.
  function eventText(e) {
    const d = e.data || {};
    const parts = [];
    if (d.from !== undefined && d.to !== undefined) {
      parts.push(e.kind === 'status' ? H.statusLabel(d.from) + ' → ' + H.statusLabel(d.to) : d.from + ' → ' + d.to);
    }
    for (const k of ['note', 'reason', 'score', 'level']) if (d[k] !== undefined && d[k] !== '') parts.push(String(d[k]));
    if (d.due_at) parts.push(H.time(d.due_at));
    return parts.join(' · ').slice(0, 300);
  }

  function ticketAction(formId, path, body, ok) {
    const form = $(formId);
    if (!form) return;
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!state.ticket) return;
      const ref = state.ticket.ref;
      const r = await api('POST', '/api/tickets/' + encodeURIComponent(ref) + path, body(H.formData(form)));
      H.message(form, r);
      if (r.status >= 200 && r.status < 300) {
        if (ok) ok(r, form);
        form.reset();
        const again = await api('GET', '/api/tickets/' + encodeURIComponent(ref));
        if (again.status === 200) showTicket(again.data);
        else $('ticket-card').hidden = true; // handed off: no longer ours to see
        loadWork();
      }
    });
  }

  function bindTicket() {
    $('tk-close').addEventListener('click', () => { $('ticket-card').hidden = true; $('tk-audio').pause(); });
    ticketAction('status-form', '/status', (f) => ({ status: f.status, note: f.note }));
    ticketAction('note-form', '/notes', (f) => ({ note: f.note }));
    ticketAction('handoff-form', '/handoff', (f) => ({ to_agent: f.agent }));
    ticketAction('extend-form', '/extend', (f) => ({ due_at: H.isoOfLocal(f.due_at), reason: f.reason }));
    ticketAction('reassign-form', '/reassign', (f) => ({ agent: f.agent, reason: f.reason }));
    // S5: the clear ID number is asked for with a reason (audited), shown in
    // place, never put in a URL.
    const um = $('unmask-form');
    um.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const r = await api('POST', '/api/tickets/' + encodeURIComponent(state.ticket.ref) + '/unmask', { reason: H.formData(um).reason });
      if (r.status === 200 && r.data) {
        setText('tk-id', r.data.id_number || '');
        clearErrors(um);
        um.hidden = true;
        um.reset();
      } else {
        // The reason's own message (e.g. too short) goes beside it.
        showFieldErrors(um, r);
      }
    });
    // A ticket by its reference (a caller quotes it, S17; a supervisor
    // works on an agent's ticket): its card with the forms it allows.
    const find = $('find-form');
    find.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const ref = H.formData(find).ref;
      if (!ref) return;
      const r = await openTicket(ref);
      if (r.status === 200) {
        find.reset();
        find.querySelector('[data-msg]').textContent = '';
      } else {
        H.message(find, r);
      }
    });
  }

  // ---- acting on the call (S10, S21) --------------------------------------
  function bindCallActions() {
    const tf = $('transfer-form');
    tf.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const f = H.formData(tf);
      const r = await api('POST', '/api/agent/transfer', { kind: f.kind, target: f.target });
      H.message(tf, r, t('transfer.started'));
    });
    const nf = $('nuisance-form');
    if (nf) nf.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const f = H.formData(nf);
      const r = await api('POST', '/api/nuisance', { number: f.number, reason: f.reason });
      // An agent's flag is a report for a supervisor to decide (S21).
      const done = ({
        reported: t('nuisance.reported'), already_reported: t('nuisance.already_reported'),
        already_flagged: t('nuisance.already_flagged'),
      })[r.data && r.data.status] || t('nuisance.flagged');
      H.message(nf, r, done);
    });
  }

  // ---- web and letter contacts (S20) --------------------------------------
  function bindNew() {
    const form = $('new-form');
    let key = H.newKey();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = ticketInput(form);
      body.channel = form.elements.channel.value;
      const r = await api('POST', '/api/tickets', body, { 'Idempotency-Key': key });
      if (r.status === 201 && r.data) {
        key = H.newKey();
        form.reset();
        clearErrors(form);
        H.message(form, r, t('new.created', { ref: r.data.ref }));
        loadWork();
        return;
      }
      if (r.status !== 0) key = H.newKey();
      showFieldErrors(form, r);
    });
  }

  // ---- callbacks ----------------------------------------------------------
  // loadCallbacks shows the list; note (the outcome of a claim) stays
  // shown above the refreshed list.
  async function loadCallbacks(note) {
    const r = await api('GET', '/api/callbacks');
    const msg = $('callbacks-msg');
    if (r.status !== 200 || !Array.isArray(r.data)) {
      $('callbacks-rows').replaceChildren();
      msg.textContent = H.errorText(r);
      return;
    }
    msg.textContent = note || (r.data.length ? '' : t('callbacks.none'));
    $('callbacks-rows').replaceChildren(...r.data.map((cb) => {
      const claim = el('button', { type: 'button', 'data-claim': cb.id }, t('callbacks.claim'));
      claim.disabled = !!cb.claimed_by;
      claim.addEventListener('click', async () => {
        const c = await api('POST', '/api/callbacks/' + encodeURIComponent(cb.id) + '/claim');
        loadCallbacks(c.status >= 200 && c.status < 300 ? t('callbacks.claimed') : H.errorText(c));
      });
      return el('tr', {}, el('td', {}, cb.caller), el('td', {}, H.categoryLabel(cb.category)), el('td', {}, H.time(cb.requested_at)),
        el('td', {}, cb.reason || ''), el('td', {}, cb.claimed_by ? t('callbacks.claimed_by', { agent: cb.claimed_by }) : (cb.status || '')),
        el('td', {}, claim));
    }));
  }

  // ---- live updates -------------------------------------------------------
  function onState(e) {
    if (e.agent !== H.me.agent) return;
    showState({ state: e.to, reason: e.reason, since: e.at ? new Date(e.at).toISOString() : new Date(H.now()).toISOString() });
    loadState();
    loadCall();
    if (e.to === 'wrap_up') openNewestDraft(5);
  }

  // openNewestDraft opens the draft of the call just ended (S12): it is
  // written beside the call record a moment after the hang-up, so the list
  // is asked again a few times.
  async function openNewestDraft(tries) {
    await loadWork();
    if (state.draft) return;
    const drafts = (state.lists.drafts || []).slice().sort((a, b) => Date.parse(b.call_ended_at || 0) - Date.parse(a.call_ended_at || 0));
    if (drafts.length > 0 && Date.parse(drafts[0].call_ended_at) > H.now() - 60000) {
      openDraft(drafts[0].ref);
      return;
    }
    if (tries > 1) setTimeout(() => openNewestDraft(tries - 1), 700);
  }

  function onRinging(e) {
    if (e.agent !== H.me.agent) return;
    if (e.pop) showPop(Object.assign({ state: 'ringing', call_id: e.call_id }, e.pop));
    loadCall();
  }

  function onTicket(e) {
    if (e.agent && e.agent !== H.me.agent) return;
    loadWork();
    if (e.reason === 'draft' && e.ticket) openDraft(e.ticket);
  }

  function reloadAll() {
    loadState();
    loadCall();
    loadWork();
    loadCallbacks();
  }

  H.ready(() => {
    $('btn-available').addEventListener('click', () => setState('available'));
    $('btn-pause').addEventListener('click', () => setState('paused', $('pause-reason').value));
    $('btn-offline').addEventListener('click', () => setState('offline'));
    $('draft-form').addEventListener('submit', submitDraft);
    for (const b of document.querySelectorAll('[data-tab]')) b.addEventListener('click', () => showTab(b.dataset.tab));
    $('callbacks-refresh').addEventListener('click', () => loadCallbacks());
    bindTicket();
    bindCallActions();
    bindNew();
    H.every(tickState);
    H.every(tickWait);
    H.every(tickDeadline);
    reloadAll();
    H.live({
      state: onState,
      ringing: onRinging,
      answered: (e) => { if (e.agent === H.me.agent) loadCall(); },
      call_ended: (e) => { if (e.agent === H.me.agent) { loadCall(); loadWork(); } },
      ticket: onTicket,
      resync: reloadAll,
    }, reloadAll);
  });
})();
