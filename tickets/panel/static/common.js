// Shared by every page of the panel: the catalogue, calls to the JSON API
// with the CSRF token, the live-update stream, and small DOM helpers. No
// data is ever written as HTML: text goes in with textContent.
'use strict';

const H = (() => {
  const body = document.body;
  const me = { agent: body.dataset.agent || '', role: body.dataset.role || '', lang: body.dataset.lang || 'zh-CN' };
  let strings = {};
  let csrf = '';
  // skew is the server's clock minus ours, from the Date header of each
  // answer: countdowns follow the clock that stamps entries (S12).
  let skew = 0;

  async function loadStrings() {
    const r = await fetch('/panel/i18n/' + encodeURIComponent(me.lang) + '.json', { credentials: 'same-origin' });
    strings = await r.json();
  }

  // t returns the string of key in the page's language, {name} replaced.
  function t(key, vars) {
    let s = strings[key];
    if (s === undefined) return key;
    if (vars) for (const k of Object.keys(vars)) s = s.split('{' + k + '}').join(String(vars[k]));
    return s;
  }

  // api calls the JSON API; it resolves to {status, data} and never throws
  // for an HTTP error (status 0: the network failed).
  async function api(method, path, data, headers) {
    const h = Object.assign({ Accept: 'application/json' }, headers || {});
    if (method !== 'GET') {
      h['X-CSRF-Token'] = csrf;
      h['Content-Type'] = 'application/json';
    }
    let r;
    try {
      r = await fetch(path, { method, headers: h, credentials: 'same-origin',
        body: data === undefined ? undefined : JSON.stringify(data) });
    } catch (e) {
      return { status: 0, data: null };
    }
    const date = r.headers.get('Date');
    if (date) {
      // The header counts whole seconds: only a clock off by more than
      // that is corrected, so the displays do not jitter by a second.
      const d = Date.parse(date) + 500 - Date.now();
      skew = Math.abs(d) > 2000 ? d : 0;
    }
    if (r.status === 401 && path !== '/api/login') {
      location.reload();
    }
    let out = null;
    const ct = r.headers.get('Content-Type') || '';
    if (ct.startsWith('application/json')) {
      try { out = await r.json(); } catch (e) { out = null; }
    }
    return { status: r.status, data: out };
  }

  function now() { return Date.now() + skew; }

  async function loadSession() {
    const r = await api('GET', '/api/session');
    if (r.status === 200 && r.data) csrf = r.data.csrf_token;
    return r;
  }

  function setCSRF(token) { csrf = token; }

  // el builds an element: el('td', {class: 'num'}, 'text', child…).
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else if (k === 'hidden') e.hidden = true;
      else e.setAttribute(k, v);
    }
    for (const kid of kids) {
      if (kid === undefined || kid === null) continue;
      e.append(typeof kid === 'string' || typeof kid === 'number' ? document.createTextNode(String(kid)) : kid);
    }
    return e;
  }

  function $(id) { return document.getElementById(id); }

  function setText(id, s) { const e = $(id); if (e) e.textContent = s === undefined || s === null ? '' : String(s); }

  // duration renders seconds as m:ss or h:mm:ss.
  function duration(sec) {
    sec = Math.max(0, Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = sec % 60;
    const two = (n) => (n < 10 ? '0' : '') + n;
    return (h > 0 ? h + ':' + two(m) : String(m)) + ':' + two(s);
  }

  function time(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return '';
    return d.toLocaleString(me.lang, { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
  }

  function stateLabel(s) {
    return ({
      offline: t('state.offline'), available: t('state.available'), ringing: t('state.ringing'),
      on_call: t('state.on_call'), wrap_up: t('state.wrap_up'), paused: t('state.paused'),
      not_responding: t('state.not_responding'),
    })[s] || s || '';
  }

  // reasonLabel names a state's reason: the default pause reasons and the
  // ACD's own in the user's language; a centre's own pause reason as
  // configured.
  function reasonLabel(r) {
    return ({
      break: t('reason.break'), meal: t('reason.meal'), training: t('reason.training'), meeting: t('reason.meeting'),
      not_responding: t('state.not_responding'), phone_lost: t('reason.phone_lost'), wrap_up_max: t('reason.wrap_up_max'),
      answered_elsewhere: t('reason.answered_elsewhere'), caller_gone: t('reason.caller_gone'),
    })[r] || r || '';
  }

  function categoryLabel(c) {
    return ({
      inquiry: t('cat.inquiry'), complaint: t('cat.complaint'), suggestion: t('cat.suggestion'),
      report: t('cat.report'), emergency: t('cat.emergency'), business: t('cat.business'),
    })[c] || c || '';
  }

  function statusLabel(s) {
    return ({
      draft: t('status.draft'), open: t('status.open'), in_progress: t('status.in_progress'),
      resolved: t('status.resolved'), closed: t('status.closed'), reopened: t('status.reopened'),
    })[s] || s || '';
  }

  function resultLabel(s) {
    return ({
      answered: t('result.answered'), transferred: t('result.transferred'), appointment: t('result.appointment'),
      dispatched: t('result.dispatched'), follow_up: t('result.follow_up'),
    })[s] || s || '';
  }

  // codeText renders a message of the server ({code, args}) from the
  // catalogue ("msg.<code>") in the page's language; the server's English
  // text only stands in for a code this page's catalogue lacks.
  function codeText(m, english) {
    if (m && m.code && strings['msg.' + m.code] !== undefined) return t('msg.' + m.code, m.args);
    return english || '';
  }

  // fieldText is the message of one field of a refused form, or ''.
  function fieldText(r, name) {
    const d = r.data || {};
    const codes = d.field_codes || {};
    if (!codes[name] && !(d.fields && d.fields[name])) return '';
    return codeText(codes[name], d.fields && d.fields[name]);
  }

  // errorText says what went wrong with an answer, in the page's language:
  // the fields to correct when there are, else the answer's own message.
  function errorText(r) {
    const d = r.data || {};
    if (r.status === 0) return t('common.network_error');
    const fields = Object.keys(d.field_codes || d.fields || {}).map((name) => fieldText(r, name)).filter((s) => s);
    if (fields.length > 0) return fields.join('; ');
    if (d.code || d.error) return codeText(d, d.error);
    return r.status === 404 ? t('common.not_available') : t('common.error_status', { status: r.status });
  }

  // message shows an answer's error (or ok text) in a form's [data-msg].
  function message(form, r, okText) {
    const m = form.querySelector('[data-msg]');
    if (!m) return;
    const ok = r.status >= 200 && r.status < 300;
    m.className = 'msg ' + (ok ? 'ok' : 'error');
    m.textContent = ok ? (okText || t('common.done')) : errorText(r);
  }

  // ticks run every second: the counting-up and counting-down displays.
  const ticks = [];
  function every(fn) { ticks.push(fn); }
  setInterval(() => { for (const fn of ticks) fn(); }, 1000);

  // live opens the event stream; handlers maps event types to functions.
  // On every (re)connect onOpen runs, so the page reloads its state.
  function live(handlers, onOpen) {
    const dot = $('live');
    let es;
    function connect() {
      es = new EventSource('/panel/events');
      es.onopen = () => { if (dot) dot.className = 'live on'; onOpen(); };
      es.onerror = () => {
        if (dot) dot.className = 'live off';
        if (es.readyState === EventSource.CLOSED) {
          // Refused (signed out, too many panels): try again later; a
          // signed-out page is reloaded by the next API call's 401.
          setTimeout(connect, 5000);
        }
      };
      for (const [type, fn] of Object.entries(handlers)) {
        es.addEventListener(type, (ev) => {
          let data = {};
          try { data = JSON.parse(ev.data); } catch (e) { return; }
          window.__panelEvents = (window.__panelEvents || 0) + 1;
          fn(data);
        });
      }
    }
    connect();
  }

  function bindTop() {
    const sw = $('lang-switch');
    if (sw) sw.addEventListener('click', () => {
      document.cookie = 'hotline_lang=' + sw.dataset.lang + '; path=/; max-age=31536000; samesite=strict';
      location.reload();
    });
    const out = $('logout');
    if (out) out.addEventListener('click', async () => {
      await api('POST', '/api/logout');
      location.href = '/panel/';
    });
  }

  // ready runs fn once the strings and the session are loaded.
  function ready(fn) {
    const go = async () => {
      await loadStrings();
      if (me.agent) await loadSession();
      bindTop();
      fn();
      document.body.classList.add('ready');
    };
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', go);
    else go();
  }

  // formData reads a form's fields into an object (checkboxes as booleans).
  function formData(form) {
    const out = {};
    for (const e of form.elements) {
      if (!e.name) continue;
      out[e.name] = e.type === 'checkbox' ? e.checked : e.value.trim();
    }
    return out;
  }

  // isoOfLocal turns a datetime-local value into RFC 3339.
  function isoOfLocal(v) {
    if (!v) return undefined;
    const d = new Date(v);
    return isNaN(d) ? undefined : d.toISOString();
  }

  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  return { me, t, api, now, el, $, setText, duration, time, stateLabel, reasonLabel, categoryLabel, statusLabel,
    resultLabel, message, errorText, fieldText, every, live, ready, formData, isoOfLocal, newKey, setCSRF, loadSession };
})();
