/* sentiserve browser UI — plain ES2020, no dependencies. */
(function () {
  'use strict';

  const KEY_STORAGE = { 'api-key': 'sentiserve.apiKey', 'admin-key': 'sentiserve.adminKey' };
  const $ = (id) => document.getElementById(id);
  const state = { models: [], pollTimer: null, statusTimer: null };

  // ---------- helpers ----------
  function setText(id, value) {
    $(id).textContent = value === null || value === undefined || value === '' ? '—' : String(value);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const isNum = (x) => typeof x === 'number' && isFinite(x);
  const fmtScore = (x) => (isNum(x) ? x.toFixed(3) : '—');

  function fmtBytes(n) {
    if (!isNum(n)) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0, v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
  }

  function fmtCount(n) {
    if (!isNum(n)) return '—';
    if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
    if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
    if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
    return String(n);
  }

  const fmtMs = (ms) => (!isNum(ms) ? '—' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);

  function tone(label) {
    const l = String(label || '').toLowerCase();
    if (l.includes('neg')) return 'tone-neg';
    if (l.includes('pos')) return 'tone-pos';
    return 'tone-neu';
  }

  // ---------- error banner ----------
  function showError(msg) {
    $('error').textContent = msg || '';
    $('error').hidden = !msg;
  }
  const clearError = () => showError('');

  function setStatus(msg, fadeMs) {
    clearTimeout(state.statusTimer);
    $('status').textContent = msg || '';
    if (msg && fadeMs) state.statusTimer = setTimeout(() => setStatus(''), fadeMs);
  }

  // ---------- HTTP ----------
  class ApiError extends Error {
    constructor(type, message, status) {
      super(`${type}: ${message}`);
      this.type = type;
      this.status = status;
    }
  }

  // `admin`: a load, unload or clear, which needs the admin key when the server has one.
  async function api(method, path, body, admin = false) {
    const headers = { Accept: 'application/json' };
    const apiKey = ($('api-key').value || '').trim();
    const adminKey = ($('admin-key').value || '').trim();
    const key = (admin && adminKey) || apiKey;
    if (key) headers.Authorization = `Bearer ${key}`;
    const init = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init).catch((e) => {
      throw new ApiError('network', (e && e.message) || 'request failed', 0);
    });
    const raw = await resp.text().catch(() => '');
    let data = null;
    try { data = raw ? JSON.parse(raw) : null; } catch (_) { data = null; }
    if (!resp.ok) {
      const err = data && data.error;
      const type = (err && err.type) || `http_${resp.status}`;
      const message = (err && err.message) || (typeof err === 'string' ? err : '') ||
        raw.slice(0, 300) || resp.statusText || 'request failed';
      if (resp.status === 401) $('settings').open = true;
      throw new ApiError(type, message, resp.status);
    }
    if (data === null && raw) throw new ApiError('bad_response', 'server returned invalid JSON', resp.status);
    return data;
  }

  function report(e) {
    showError(e instanceof ApiError ? e.message : `error: ${e && e.message ? e.message : e}`);
  }

  // Runs an async action with a button disabled; errors go to #error.
  async function withButton(btn, fn) {
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    try {
      await fn();
    } catch (e) {
      report(e);
    } finally {
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
    }
  }

  function selectedModel() {
    return $('model-select').value || null;
  }

  // ---------- models ----------
  async function refreshModels() {
    const data = await api('GET', '/models');
    state.models = Array.isArray(data && data.models) ? data.models : [];
    const sel = $('model-select');
    const previous = sel.value;
    sel.textContent = '';
    for (const m of state.models) {
      const opt = el('option', '', `${m.name} (${m.state})`);
      opt.value = m.name;
      sel.appendChild(opt);
    }
    const names = state.models.map((m) => m.name);
    const def = (data && data.default) || (state.models.find((m) => m.default) || {}).name;
    if (names.includes(previous)) sel.value = previous;
    else if (names.includes(def)) sel.value = def;
    renderModel();
  }

  function renderModel() {
    const name = selectedModel();
    const m = state.models.find((x) => x.name === name) || null;
    $('model-name').textContent = m ? m.name : '';
    const st = $('model-state');
    st.textContent = m ? String(m.state) : '—';
    st.className = m ? `state state-${m.state}` : 'state';
    setText('model-arch', m && m.architecture);
    setText('model-device', m && m.device);
    setText('model-dtype', m && m.dtype);
    setText('model-params', m && typeof m.parameters === 'number' ? fmtCount(m.parameters) : null);
    setText('model-load-time', m && typeof m.load_ms === 'number' ? fmtMs(m.load_ms) : null);
    setText('model-labels', m && Array.isArray(m.labels) ? m.labels.join(', ') : null);
    $('model-error').textContent = m && m.error ? String(m.error) : '';
    $('model-error').hidden = !(m && m.error);
    $('load-model').disabled = !m;
    $('unload-model').disabled = !m;
    // Keep polling while the selected model is still loading.
    clearTimeout(state.pollTimer);
    if (m && m.state === 'loading') {
      state.pollTimer = setTimeout(() => refreshModels().catch(report), 1000);
    }
  }

  async function modelAction(btn, method, suffix) {
    clearError();
    const name = selectedModel();
    if (!name) { showError('validation: no model selected'); return; }
    await withButton(btn, async () => {
      setStatus(method === 'DELETE' ? `Unloading ${name}…` : `Loading ${name}…`);
      try {
        await api(method, `/models/${encodeURIComponent(name)}${suffix}`, undefined, true);
      } finally {
        setStatus('');
        await refreshModels().catch(report);
      }
    });
  }

  // ---------- cache ----------
  async function refreshCache() {
    const c = await api('GET', '/cache');
    renderCache(c || {});
  }

  function renderCache(c) {
    const num = (v) => (isNum(v) ? String(v) : '—');
    setText('cache-entries', num(c.entries));
    setText('cache-bytes', fmtBytes(c.bytes));
    $('cache-capacity').textContent =
      isNum(c.capacity_bytes) ? `of ${fmtBytes(c.capacity_bytes)}` : '';
    setText('cache-hits', num(c.hits));
    setText('cache-misses', num(c.misses));
    let rate = c.hit_rate;
    if (!isNum(rate) && isNum(c.hits) && isNum(c.misses)) rate = c.hits / Math.max(1, c.hits + c.misses);
    setText('cache-hit-rate', isNum(rate) ? `${(rate * 100).toFixed(1)}%` : '—');
    setText('cache-evictions', num(c.evictions));
  }

  async function clearCache(btn, perModel) {
    clearError();
    const name = selectedModel();
    if (perModel && !name) { showError('validation: no model selected'); return; }
    await withButton(btn, async () => {
      try {
        const path = perModel ? `/cache?model=${encodeURIComponent(name)}` : '/cache';
        const data = await api('DELETE', path, undefined, true);
        setStatus(data && data.cleared ? `Cleared cache: ${data.cleared}` : 'Cache cleared', 4000);
        if (data && data.cache) renderCache(data.cache);
      } finally {
        await refreshCache().catch(report);
      }
    });
  }

  // ---------- analyze ----------
  function showArea(batch) {
    $('result').hidden = batch || !$('result').dataset.filled;
    $('batch-table').hidden = !batch || !$('batch-table').dataset.filled;
    $('results-empty').hidden = !$('result').hidden || !$('batch-table').hidden;
  }

  function renderSingle(r, ms) {
    const label = $('result-label');
    label.textContent = r && r.label != null ? String(r.label) : '—';
    label.className = `result-label ${tone(r && r.label)}`;
    $('result-score').textContent = fmtScore(r && r.score);
    const cached = $('result-cached');
    cached.textContent = r && r.cached ? 'cached' : 'computed';
    cached.className = `badge ${r && r.cached ? 'badge-cached' : 'badge-computed'}`;
    $('result-latency').textContent = `${Math.round(ms)} ms`;

    const bars = $('score-bars');
    bars.textContent = '';
    const scores = r && Array.isArray(r.scores) && r.scores.length ? r.scores
      : (r ? [{ label: r.label, score: r.score }] : []);
    scores.forEach((s, i) => {
      const pct = Math.max(0, Math.min(1, Number(s.score) || 0)) * 100;
      const row = el('div', `score-bar ${tone(s.label)}${i === 0 ? ' top' : ''}`);
      row.setAttribute('data-label', String(s.label));
      const track = el('div', 'bar-track');
      const fill = el('div', 'bar-fill');
      fill.style.width = `${pct}%`;
      track.appendChild(fill);
      row.append(el('span', 'bar-label', String(s.label)), track, el('span', 'bar-value', fmtScore(s.score)));
      bars.appendChild(row);
    });
    $('result').dataset.filled = '1';
  }

  function renderBatch(texts, results, ms) {
    const body = $('batch-body');
    body.textContent = '';
    texts.forEach((t, i) => {
      const r = results[i] || {};
      const tr = el('tr', 'batch-row');
      const cells = [t, r.label != null ? String(r.label) : '—', fmtScore(r.score), r.cached ? 'cached' : 'computed'];
      cells.forEach((v, j) => {
        const td = el('td', ['cell-text', `cell-label ${tone(r.label)}`, 'num', ''][j], v);
        if (j === 0) td.title = t;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    $('batch-caption').textContent =
      `${texts.length} text${texts.length === 1 ? '' : 's'} · ${Math.round(ms)} ms`;
    $('batch-table').dataset.filled = '1';
  }

  async function analyze() {
    const btn = $('analyze');
    if (btn.disabled) return;
    clearError();
    const batch = $('batch-mode').checked;
    const value = $('text').value;
    const model = selectedModel();
    const payload = {};
    let texts = [];
    if (batch) {
      texts = value.split(/\r?\n/).filter((l) => l.trim() !== '');
      if (!texts.length) { showError('validation: enter at least one non-empty line'); return; }
      payload.texts = texts;
    } else {
      if (value.trim() === '') { showError('validation: enter some text to analyze'); return; }
      payload.text = value;
    }
    if (model) payload.model = model;

    await withButton(btn, async () => {
      setStatus('Analyzing…');
      const refresh = () => Promise.all([refreshCache().catch(report), refreshModels().catch(report)]);
      const t0 = performance.now();
      const data = await api('POST', '/analyze', payload).catch(async (e) => {
        setStatus('');
        await refresh();
        throw e;
      });
      const ms = performance.now() - t0;
      // Refresh stats before revealing results so the page is consistent once results appear.
      await refresh();
      setStatus('');
      const results = Array.isArray(data && data.results) ? data.results : [];
      if (!results.length) throw new ApiError('bad_response', 'server returned no results', 200);
      if (batch) renderBatch(texts, results, ms);
      else renderSingle(results[0], ms);
      showArea(batch);
    });
  }

  // ---------- wiring ----------
  function init() {
    for (const [id, storage] of Object.entries(KEY_STORAGE)) {
      const keyInput = $(id);
      try { keyInput.value = localStorage.getItem(storage) || ''; } catch (_) { /* storage disabled */ }
      keyInput.addEventListener('input', () => {
        try {
          if (keyInput.value) localStorage.setItem(storage, keyInput.value);
          else localStorage.removeItem(storage);
        } catch (_) { /* storage disabled */ }
      });
      keyInput.addEventListener('change', () => {
        clearError();
        refreshModels().catch(report);
        refreshCache().catch(report);
      });
    }

    $('analyze').addEventListener('click', () => { analyze().catch(report); });
    $('text').addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' || !(e.ctrlKey || e.metaKey)) return;
      e.preventDefault();
      analyze().catch(report);
    });
    $('batch-mode').addEventListener('change', (e) => showArea(e.target.checked));
    $('model-select').addEventListener('change', () => {
      clearError();
      renderModel();
      refreshModels().catch(report);
    });
    $('load-model').addEventListener('click', (e) => modelAction(e.currentTarget, 'POST', '/load').catch(report));
    $('unload-model').addEventListener('click', (e) => modelAction(e.currentTarget, 'DELETE', '').catch(report));
    $('clear-cache').addEventListener('click', (e) => clearCache(e.currentTarget, false).catch(report));
    $('clear-cache-model').addEventListener('click', (e) => clearCache(e.currentTarget, true).catch(report));
    window.addEventListener('unhandledrejection', (e) => { report(e.reason); });

    clearError();
    renderModel();
    refreshModels().catch(report);
    refreshCache().catch(report);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
