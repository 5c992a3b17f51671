// api.js -- the page's one way to the aggregator's HTTP API, and the page state in the URL.
// Owns:  fetch() calls (same origin: the browser's digest credentials go along), the error
//        shape ({error, position}), pcap downloads as blobs, the URL hash <-> state.
// Never: asks for all rows: every sessions.json call carries a length (a page) or 0 (aggregates).
// Trap:  state lives in location.hash so the server never sees it and a link can be shared.

export class ApiError extends Error {
  constructor(status, message, position) {
    super(message);
    this.status = status;
    this.position = position;
  }
}

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  return u.toString();
}

async function errorOf(r) {
  let msg = `${r.status} ${r.statusText}`, pos;
  try {
    const j = await r.json();
    if (j && j.error) { msg = j.error; pos = j.position; }
  } catch (e) { /* not JSON: keep the status line */ }
  if (r.status === 401) msg = 'Not logged in (the server asked for credentials again).';
  return new ApiError(r.status, msg, pos);
}

export async function getJson(path, params = {}) {
  const r = await fetch(`${path}?${qs(params)}`, { headers: { Accept: 'application/json' } });
  if (!r.ok) throw await errorOf(r);
  return r.json();
}

// Fetch a pcap and hand it to the browser as a download; the error text if it failed.
export async function downloadPcap(path, params, filename) {
  const r = await fetch(`${path}?${qs(params)}`);
  if (!r.ok) {
    const e = await errorOf(r);
    throw new ApiError(e.status, pcapMessage(e), e.position);
  }
  const blob = await r.blob();
  const failed = r.headers.get('X-Ashiato-Failed-Sensors');
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  return { bytes: blob.size, failed };
}

function pcapMessage(e) {
  if (e.status === 413) return `Too many sessions for one pcap: ${e.message}`;
  if (/expired/i.test(e.message))
    return `These packets have expired: the sensor no longer keeps them (${e.message})`;
  if (e.status === 502 || e.status === 404)
    return `Packets not available (expired from the sensor's store, or the sensor is unreachable): ${e.message}`;
  if (e.status === 403) return `You may not download packets: ${e.message}`;
  return e.message;
}

// ---- state in the URL hash -------------------------------------------------------------

const DEFAULTS = { view: 'sessions', expression: '', date: '1', startTime: '', stopTime: '',
  start: '0', length: '50', order: 'asc', sort: '', cols: '', stack: '', baseline: '168',
  afilter: '', aexpr: '', open: '' };

export function readState() {
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  const s = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS)) if (h.has(k)) s[k] = h.get(k);
  return s;
}

export function writeState(s, replace = false) {
  const h = new URLSearchParams();
  for (const [k, v] of Object.entries(s))
    if (k in DEFAULTS && v !== DEFAULTS[k] && v !== '') h.set(k, v);
  if (s.startTime) h.delete('date');
  const url = `#${h.toString()}`;
  if (url === location.hash) return false;
  if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
  return true;
}

// The time parameters the API takes for this state.
export function timeParams(s) {
  if (s.startTime && s.stopTime) return { startTime: s.startTime, stopTime: s.stopTime };
  return { date: s.date || '1' };
}
