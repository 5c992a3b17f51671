// app.js -- the analyst page's entry: reads the state from the URL, asks the API for one page
// and the aggregates, and wires the query bar, chart, table, alerts, matrix and sensors.
// Owns:  the page state (mirrored in location.hash), the views' switching, the session dialog.
// Never: asks for more than one page of sessions (length <= 500) or for all alerts at once
//        (alerts.json pages of 500); keeps credentials (the browser's digest auth does).
// Trap:  every render path must survive a 401 (logged out): it shows no data and says so.

import { ApiError, downloadPcap, getJson, readState, timeParams, writeState } from './api.js';
import { drawChart, shadeText } from './chart.js';
import { clause, DEFAULT_COLS, renderChooser, renderTable } from './table.js';
import { attachCompletion, fillRecent, rememberQuery, showError } from './query.js';
import { renderAlerts, renderMatrix, renderSensors } from './panels.js';

const $ = id => document.getElementById(id);
const PCAP_LIMIT = 10000;           // api_pcap.c's PCAP_SESSIONS_MAX
let state = readState();
let zoomStack = [];
let alertsCache = null;
let current = null;                 // the open session's id

function status(text) { $('status').textContent = text; }

function failed(e, where) {
  if (e instanceof ApiError && e.status === 401) {
    clearData();
    status('Not logged in: no data shown. Reload the page to log in.');
  } else status(`${where}: ${e.message}`);
}

function clearData() {
  for (const id of ['sessions', 'alerts', 'matrix', 'sensors']) $(id).replaceChildren();
  $('chart').replaceChildren();
  for (const id of ['chart-caption', 'table-caption', 'page-info', 'alerts-caption', 'sensors-caption'])
    $(id).textContent = '';
}

function set(patch, replace = false) {
  state = { ...state, ...patch };
  writeState(state, replace);
  render();
}

// ---- query bar ------------------------------------------------------------------------

function syncForm() {
  $('expr').value = state.expression;
  const custom = !!(state.startTime && state.stopTime);
  $('range').value = custom ? 'custom' : state.date;
  const iso = s => (s && /^\d+(\.\d+)?$/.test(s) ? new Date(Number(s) * 1000).toISOString().replace('.000Z', 'Z') : s);
  $('from').value = custom ? iso(state.startTime) : '';
  $('to').value = custom ? iso(state.stopTime) : '';
  $('length').value = state.length;
  $('stack').value = state.stack === 'node' ? 'sensor' : state.stack;   /* 'node': older links */
  $('alert-filter').value = state.afilter;
  $('alert-expr').value = state.aexpr;
  $('baseline').value = state.baseline;
  for (const a of document.querySelectorAll('.tabs a'))
    a.setAttribute('aria-current', a.dataset.view === state.view ? 'page' : 'false');
  for (const v of ['sessions', 'alerts', 'matrix', 'sensors']) $(`view-${v}`).hidden = v !== state.view;
}

function submitQuery(ev) {
  ev.preventDefault();
  const r = $('range').value;
  const patch = { expression: $('expr').value.trim(), start: '0', view: state.view === 'sessions' || state.view === 'matrix' ? state.view : 'sessions' };
  if (r === 'custom') {
    if (!$('from').value || !$('to').value) {
      showError($('expr-error'), '', 'From and To are both needed for a custom range (e.g. 2021-09-28T12:50:00Z).');
      return;
    }
    Object.assign(patch, { startTime: $('from').value.trim(), stopTime: $('to').value.trim() });
  } else Object.assign(patch, { date: r, startTime: '', stopTime: '' });
  zoomStack = [];
  set(patch);
}

function addClause(exp, value) {
  const c = clause(exp, value);
  const e = state.expression.trim();
  set({ expression: e ? `${e} && ${c}` : c, start: '0', view: 'sessions' });
}

// ---- sessions view ----------------------------------------------------------------------

const STACK_FIELD = { sensor: 'node', segment: 'segment' };   // spigraph.json's field, the fallback

// The stacked series: sessions.json's graph.stack (same buckets as sessionsHisto), else, from
// an aggregator without it, spigraph.json's top 8 by the same field.
function stackSeries(page, spi) {
  const st = page.graph && page.graph.stack;
  if (st && Array.isArray(st.series))
    return st.series.map(x => ({ name: String(x.name), buckets: x.sessionsHisto || [] }));
  if (spi && spi.items && spi.items.length)
    return spi.items.map(i => ({ name: String(i.name), buckets: i.graph.sessionsHisto || [] }));
  return null;
}

// sensors/history.json -> [{sensor, kind, from, to, dropped}]
function shadingOf(h) {
  const out = [];
  for (const s of (h && h.sensors) || []) {
    for (const [from, to] of s.down || []) out.push({ sensor: s.name, kind: 'down', from, to });
    for (const [from, to, dropped] of s.dropping || []) out.push({ sensor: s.name, kind: 'dropping', from, to, dropped });
  }
  return out;
}

function renderShading(box, shading, x0, x1) {
  box.replaceChildren();
  const shown = shading.filter(s => Math.min(s.to, x1) > Math.max(s.from, x0));
  if (!shown.length) return;
  const ul = document.createElement('ul');
  ul.className = 'shading-list';
  for (const s of shown.slice(0, 12)) {
    const li = document.createElement('li');
    li.className = s.kind;
    li.dataset.sensor = s.sensor;
    li.dataset.kind = s.kind;
    li.dataset.from = s.from;
    li.dataset.to = s.to;
    li.textContent = shadeText(s);
    ul.appendChild(li);
  }
  if (shown.length > 12) {
    const li = document.createElement('li');
    li.textContent = `and ${shown.length - 12} more (zoom in to see them)`;
    ul.appendChild(li);
  }
  box.appendChild(ul);
}

async function renderSessions() {
  const expr = state.expression;
  const tp = timeParams(state);
  const shown = state.cols ? state.cols.split(',') : DEFAULT_COLS;
  renderChooser($('column-chooser'), shown, cols => set({ cols: cols.join(',') }, true));
  const length = Math.min(Number(state.length) || 50, 500), start = Number(state.start) || 0;
  let stack = state.stack === 'node' ? 'sensor' : STACK_FIELD[state.stack] ? state.stack : '';
  status('Searching...');
  const t0 = performance.now();
  let page, hist, spi = null, stackErr = '';
  const ask = () => getJson('/sessions.json', { expression: expr, ...tp, start, length, order: `firstPacket:${state.order}`, interval: 'auto', stack });
  try {
    [page, hist] = await Promise.all([
      ask().catch(e => {
        // a stacking the aggregator refuses (stack=segment without segments): unstacked
        if (!(stack && e instanceof ApiError && e.status === 400 && /^stack/.test(e.message))) throw e;
        stackErr = e.message;
        stack = '';
        return ask();
      }),
      getJson('/sensors/history.json', tp).catch(e => { if (e instanceof ApiError && e.status === 401) throw e; return null; }),
    ]);
    if (stack && !(page.graph && page.graph.stack))
      spi = await getJson('/spigraph.json', { expression: expr, ...tp, field: STACK_FIELD[stack], size: 8, interval: 'auto' }).catch(() => null);
  } catch (e) {
    if (e instanceof ApiError && e.status === 400 && /expression/.test(e.message)) {
      showError($('expr-error'), expr, e.message, e.position);
      $('sessions').replaceChildren();
      $('chart').replaceChildren();
      $('shading').replaceChildren();
      for (const id of ['table-caption', 'chart-caption', 'page-info']) $(id).textContent = '';
      for (const id of ['prev', 'next', 'pcap-all']) $(id).disabled = true;
      status('The expression has an error.');
      return;
    }
    return failed(e, 'sessions.json');
  }
  showError($('expr-error'), expr, '');
  spi = await refineGraph(page, spi, expr, tp, stack);
  if (expr) { rememberQuery(expr); fillRecent($('recent')); }
  const g = page.graph || {};
  const stacked = stack ? stackSeries(page, spi) : null;
  $('stack-msg').textContent = stackErr ? `Not stacked: ${stackErr}` : stack && !stacked && (g.sessionsTotal || 0) > 0
    ? `Stacking by ${stack} is not available from this aggregator: the bars are not stacked.` : '';
  const series = stacked || [{ name: 'sessions', buckets: g.sessionsHisto || [] }];
  const range = { from: g.xmin, to: g.xmax };
  const shading = shadingOf(hist);
  const iv = (spi && !g.stack && spi.interval) || g.interval || 60;
  const drawn = drawChart($('chart'), series, iv, range,
    (a, b) => { zoomStack.push({ date: state.date, startTime: state.startTime, stopTime: state.stopTime }); set({ startTime: String(a), stopTime: String(b), start: '0' }); },
    shading);
  renderShading($('shading'), shading, drawn.x0, drawn.x1);
  const down = new Set(shading.filter(s => s.kind === 'down' && s.to > drawn.x0 && s.from < drawn.x1).map(s => s.sensor));
  const dropping = new Set(shading.filter(s => s.kind === 'dropping' && s.to > drawn.x0 && s.from < drawn.x1).map(s => s.sensor));
  $('chart-caption').textContent = `${g.sessionsTotal ?? 0} sessions, one bar per ${iv >= 86400 ? `${iv / 86400} d` : iv >= 3600 ? `${iv / 3600} h` : iv >= 60 ? `${iv / 60} min` : `${iv} s`}` +
    `${stacked ? `, stacked by ${stack} (${stacked.length} series)` : ''}` +
    (hist ? `. ${down.size ? `Down: ${[...down].join(', ')}` : 'No sensor down'}; ${dropping.size ? `dropping: ${[...dropping].join(', ')}` : 'none dropping'} in this range.`
      : '. Sensor down or dropping times are not shaded: this aggregator has no sensors/history.json.');
  $('chart').setAttribute('aria-label', `Sessions over time: ${g.sessionsTotal ?? 0} sessions in ${drawn.buckets} intervals` +
    (drawn.shaded ? `, ${drawn.shaded} shaded intervals where a sensor was down or dropping (listed below)` : ''));
  $('zoom-out').disabled = !state.startTime;
  const [sc] = (state.sort || 'start:asc').split(':');
  renderTable($('sessions'), page.data || [], shown, state.sort, {
    onValue: addClause,
    onOpen: id => openSession(id),
    onSort: col => {
      const [c, d] = (state.sort || 'start:asc').split(':');
      const dir = c === col && d === 'asc' ? 'desc' : 'asc';
      set(col === 'start' ? { sort: `start:${dir}`, order: dir, start: '0' } : { sort: `${col}:${dir}` }, true);
    },
  });
  const total = page.recordsFiltered || 0;
  $('table-caption').textContent = `${total} matching of ${page.recordsTotal} stored` +
    (sc !== 'start' ? ' (this column sorts the page shown; the server orders by start time)' : '');
  $('page-info').textContent = total ? `${start + 1}-${Math.min(start + length, total)} of ${total}` : 'no sessions';
  $('prev').disabled = start <= 0;
  $('next').disabled = start + length >= total;
  $('pcap-all').textContent = `Download pcap of all matching (up to ${PCAP_LIMIT.toLocaleString('en')} sessions)`;
  $('pcap-all').disabled = total === 0;
  status(`${total} sessions in ${Math.round(performance.now() - t0)} ms`);
  if (state.open && state.open !== current) openSession(state.open, false);
}

// All time (or a long range with little data) comes back in a few wide buckets: ask once
// more for the histogram alone (length=0: an aggregate, no rows) at a finer interval.
const INTERVALS = [1, 60, 3600, 86400];
const NAMES = { 1: 'second', 60: 'minute', 3600: 'hour', 86400: 'day' };
async function refineGraph(page, spi, expr, tp, stack) {
  for (let round = 0; round < 2; round++) {
    const g = page.graph || {}, h = g.sessionsHisto || [];
    if (!h.length || h.length > 12 || !(g.interval > 1)) return spi;
    const span = (h[h.length - 1][0] - h[0][0]) / 1000 + g.interval;
    const iv = [...INTERVALS].reverse().find(i => i < g.interval && span / i >= 12 && span / i <= 400) ||
      INTERVALS.find(i => i < g.interval && span / i <= 400);
    if (!iv) return spi;
    try {
      const [fine, st] = await Promise.all([
        getJson('/sessions.json', { expression: expr, ...tp, length: 0, interval: NAMES[iv], stack }),
        spi ? getJson('/spigraph.json', { expression: expr, ...tp, field: STACK_FIELD[stack], size: 8, interval: NAMES[iv] }) : null]);
      page.graph = fine.graph;
      spi = st;
    } catch (e) { return spi; }   /* keep the coarse graph */
  }
  return spi;
}

async function openSession(id, push = true) {
  current = id;
  if (push) { state.open = id; writeState(state, true); }
  const dlg = $('session');
  $('session-title').textContent = `Session ${id}`;
  $('session-msg').textContent = '';
  $('session-doc').textContent = 'Loading...';
  $('session-linked').replaceChildren();
  if (!dlg.open) dlg.showModal();
  $('session-close').focus();
  try {
    const s = await getJson(`/session/${encodeURIComponent(id)}.json`);
    $('session-doc').textContent = JSON.stringify(s.data, null, 2);
    const linked = (s.linked || []).filter(l => (l.id || l.ashiato?.session_id) !== id);
    if (!linked.length) {
      const li = document.createElement('li');
      li.textContent = 'none (no other sensor saw this session)';
      $('session-linked').appendChild(li);
    }
    for (const l of linked) {
      const lid = l.id || l.ashiato?.session_id;
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = `${lid} (${l.observer?.name || '?'}, ${l.network?.packets ?? '?'} packets)`;
      b.addEventListener('click', () => openSession(lid));
      li.appendChild(b);
      $('session-linked').appendChild(li);
    }
  } catch (e) {
    $('session-doc').textContent = '';
    $('session-msg').textContent = e.message;
    if (e instanceof ApiError && e.status === 401) failed(e, 'session');
  }
}

function closeSession() {
  $('session').close();
  current = null;
  state.open = '';
  writeState(state, true);
}

async function sessionPcap() {
  const id = current;
  $('session-msg').textContent = 'Fetching packets...';
  try {
    const r = await downloadPcap(`/session/${encodeURIComponent(id)}.pcap`, {}, `${id}.pcap`);
    $('session-msg').textContent = `Downloaded ${id}.pcap (${r.bytes} bytes)${r.failed ? `; sensors that failed: ${r.failed}` : ''}.`;
  } catch (e) { $('session-msg').textContent = e.message; }
}

async function pcapMatching(params, name, msgEl) {
  msgEl.textContent = 'Fetching packets...';
  try {
    const r = await downloadPcap('/sessions.pcap', params, name);
    msgEl.textContent = `Downloaded ${name} (${r.bytes} bytes)${r.failed ? `; sensors that failed: ${r.failed}` : ''}.`;
  } catch (e) { msgEl.textContent = e.message; }
}

// ---- alerts -----------------------------------------------------------------------------

function evidenceExpr(a) {
  const ids = a.ashiato?.evidence || [];
  return ids.length ? `id == [${ids.join(',')}]` : `ip.src == ${a.source?.ip}`;
}

async function renderAlertsView() {
  $('alerts-msg').textContent = '';
  const aexpr = state.aexpr.trim();
  try {
    if (!alertsCache || alertsCache.aexpr !== aexpr) {
      alertsCache = await getJson('/alerts.json', { date: -1, length: 500, expression: aexpr });
      alertsCache.aexpr = aexpr;
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 400 && aexpr) {
      // the expression's error at its position, as under the sessions query
      alertsCache = null;
      showError($('alert-expr-error'), aexpr, e.message, e.position);
      $('alerts').replaceChildren();
      $('alerts-caption').textContent = '';
      status('The alert expression has an error.');
      return;
    }
    return failed(e, 'alerts.json');
  }
  showError($('alert-expr-error'), aexpr, '');
  const n = renderAlerts($('alerts'), alertsCache.data || [], state.afilter, {
    onEvidence: a => set({ view: 'sessions', expression: evidenceExpr(a), date: '-1', startTime: '', stopTime: '', start: '0' }),
    onPcap: a => pcapMatching({ expression: evidenceExpr(a), date: -1 }, `alert-${a.event?.id || 'evidence'}.pcap`, $('alerts-msg')),
  });
  $('alerts-caption').textContent = `${n} of ${alertsCache.recordsFiltered ?? (alertsCache.data || []).length} alerts (all time${aexpr ? ', matching the expression' : ''}) shown` +
    ((alertsCache.recordsFiltered || 0) > 500 ? ' (the newest 500 are loaded)' : '');
  status(`${n} alerts`);
}

// ---- segment matrix, sensors ------------------------------------------------------------

async function renderMatrixView() {
  $('matrix-msg').textContent = '';
  try {
    const m = await getJson('/matrix.json', { expression: state.expression, ...timeParams(state), baseline: state.baseline });
    renderMatrix($('matrix'), m, (s, d) => set({ view: 'sessions', expression: m.expressions?.[`${s}|${d}`] ||
      `segment.src == ${s} && segment.dst == ${d}`, start: '0' }));
    status(`${(m.cells || []).length} segment pairs`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) $('matrix-msg').textContent = 'This aggregator does not serve the segment matrix (matrix.json).';
    else failed(e, 'matrix.json');
  }
}

async function renderSensorsView() {
  try {
    const [st, hist] = await Promise.all([getJson('/stats.json'),
      getJson('/sensors/history.json', { date: 1 }).catch(e => { if (e instanceof ApiError && e.status === 401) throw e; return null; })]);
    const n = renderSensors($('sensors'), st, hist);
    $('sensors-caption').textContent = `${n} sensors; aggregator up ${st.aggregator?.uptimeSeconds ?? '?'} s, ${st.aggregator?.records ?? '?'} records stored`;
    status(`${n} sensors`);
  } catch (e) { failed(e, 'stats.json'); }
}

// ---- wiring -----------------------------------------------------------------------------

let renders = 0;

// Draw the view the state names; <html data-renders> counts finished renders (tests and
// tools wait on it instead of guessing at timings).
async function render() {
  syncForm();
  const v = state.view;
  try {
    if (v === 'alerts') await renderAlertsView();
    else if (v === 'matrix') await renderMatrixView();
    else if (v === 'sensors') await renderSensorsView();
    else await renderSessions();
  } finally {
    document.documentElement.dataset.renders = String(++renders);
  }
}

function init() {
  const fields = getJson('/fields.json').catch(e => { failed(e, 'fields.json'); return []; });
  attachCompletion($('expr'), $('completions'), fields);
  fillRecent($('recent'));
  $('query').addEventListener('submit', submitQuery);
  $('recent').addEventListener('change', ev => { if (ev.target.value) { $('expr').value = ev.target.value; $('expr').focus(); } });
  $('range').addEventListener('change', () => { if ($('range').value === 'custom') $('from').focus(); });
  $('zoom-out').addEventListener('click', () => {
    const z = zoomStack.pop() || { date: state.date || '1', startTime: '', stopTime: '' };
    set({ ...z, start: '0' });
  });
  $('stack').addEventListener('change', () => set({ stack: $('stack').value }, true));
  $('length').addEventListener('change', () => set({ length: $('length').value, start: '0' }));
  $('prev').addEventListener('click', () => set({ start: String(Math.max(0, Number(state.start) - Number(state.length))) }));
  $('next').addEventListener('click', () => set({ start: String(Number(state.start) + Number(state.length)) }));
  $('pcap-all').addEventListener('click', () => pcapMatching({ expression: state.expression, ...timeParams(state) }, 'sessions.pcap', $('pcap-all-msg')));
  $('session-close').addEventListener('click', closeSession);
  $('session').addEventListener('cancel', () => { current = null; state.open = ''; writeState(state, true); });
  $('session-pcap').addEventListener('click', sessionPcap);
  $('alert-query').addEventListener('submit', ev => {
    ev.preventDefault();
    set({ aexpr: $('alert-expr').value.trim(), view: 'alerts' });
  });
  $('alert-filter').addEventListener('input', () => { state.afilter = $('alert-filter').value; writeState(state, true); renderAlertsView(); });
  $('baseline').addEventListener('change', () => set({ baseline: $('baseline').value }, true));
  for (const a of document.querySelectorAll('.tabs a'))
    a.addEventListener('click', ev => { ev.preventDefault(); set({ view: a.dataset.view }); });
  window.addEventListener('popstate', () => { state = readState(); render(); });
  window.addEventListener('hashchange', () => { state = readState(); render(); });
  let resize;
  window.addEventListener('resize', () => { clearTimeout(resize); resize = setTimeout(() => state.view === 'sessions' && render(), 300); });
  render();
}

init();
