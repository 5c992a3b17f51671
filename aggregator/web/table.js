// table.js -- the session table: Arkime's default columns plus segments and protocol, a
// column chooser, sorting, values that add themselves to the expression.
// Owns:  the <table> it renders, the column definitions (document path -> expression field).
// Never: fetches; builds HTML from strings (values go in as text nodes, never markup).
// Trap:  the API orders by start time only; "start" sorts on the server, other columns sort
//        the page shown (the caption says so).

const get = (d, path) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), d);

// "2021-09-28T12:50:00.007214Z" -> "2021-09-28 12:50:00.007" (UTC, as the API gives it)
function shortTime(t) { return t ? t.replace('T', ' ').replace(/(\.\d{3})\d*/, '$1').replace('Z', '') : ''; }

function first(v) { return Array.isArray(v) ? v[0] : v; }

function infoOf(d) {
  const parts = [];
  const host = get(d, 'url.domain'), sni = get(d, 'tls.client.server_name');
  const dns = get(d, 'dns.question.name'), method = get(d, 'http.request.method');
  if (method) parts.push({ text: first(method), exp: 'http.method', value: first(method) });
  if (host) parts.push({ text: first(host), exp: 'host.http', value: first(host) });
  if (sni) parts.push({ text: first(sni), exp: 'tls.sni', value: first(sni) });
  if (dns) parts.push({ text: first(dns), exp: 'host.dns', value: first(dns) });
  const st = get(d, 'ashiato.conn_state');
  if (st) parts.push({ text: st, exp: 'conn.state', value: st });
  return parts;
}

// Each column: label, the values of a document as [{text, exp, value}], a sort key.
export const COLUMNS = [
  { id: 'start', label: 'Start', vals: d => [{ text: shortTime(get(d, 'event.start')) }],
    key: d => get(d, 'event.start') || '' },
  { id: 'stop', label: 'Stop', vals: d => [{ text: shortTime(get(d, 'event.end')) }],
    key: d => get(d, 'event.end') || '' },
  { id: 'src', label: 'Src IP:port', vals: d => [
    { text: get(d, 'source.ip'), exp: 'ip.src', value: get(d, 'source.ip') },
    { text: get(d, 'source.port'), exp: 'port.src', value: get(d, 'source.port'), sep: ':' }],
  key: d => get(d, 'source.ip') || '' },
  { id: 'dst', label: 'Dst IP:port', vals: d => [
    { text: get(d, 'destination.ip'), exp: 'ip.dst', value: get(d, 'destination.ip') },
    { text: get(d, 'destination.port'), exp: 'port.dst', value: get(d, 'destination.port'), sep: ':' }],
  key: d => get(d, 'destination.ip') || '' },
  { id: 'packets', label: 'Packets', num: true, vals: d => [{ text: get(d, 'network.packets'),
    exp: 'packets', value: get(d, 'network.packets') }], key: d => get(d, 'network.packets') || 0 },
  { id: 'bytes', label: 'Bytes', num: true, vals: d => [{ text: get(d, 'network.bytes'), exp: 'bytes',
    value: get(d, 'network.bytes') }], key: d => get(d, 'network.bytes') || 0 },
  { id: 'sensor', label: 'Sensor', vals: d => [{ text: get(d, 'observer.name'), exp: 'node',
    value: get(d, 'observer.name') }], key: d => get(d, 'observer.name') || '' },
  { id: 'segments', label: 'Segments', vals: d => {
    const s = get(d, 'ashiato.segment_name');
    return (Array.isArray(s) ? s : s ? [s] : []).map((x, i) => ({ text: x, exp: 'segment', value: x, sep: i ? ', ' : '' }));
  }, key: d => String(get(d, 'ashiato.segment_name') || '') },
  { id: 'protocol', label: 'Protocol', vals: d => {
    const t = get(d, 'network.transport'), p = get(d, 'network.protocol');
    const out = [];
    if (t) out.push({ text: t, exp: 'ip.protocol', value: t });
    if (p && p !== t) out.push({ text: p, exp: 'network.protocol', value: p, sep: ' / ' });
    return out;
  }, key: d => get(d, 'network.protocol') || get(d, 'network.transport') || '' },
  { id: 'info', label: 'Info', vals: d => infoOf(d).map((x, i) => ({ ...x, sep: i ? ' · ' : '' })),
    key: d => (infoOf(d)[0] || {}).text || '' },
];

export const DEFAULT_COLS = COLUMNS.map(c => c.id);

function quote(v) {
  const s = String(v);
  return /^[A-Za-z0-9_.:\/-]+$/.test(s) ? s : `"${s.replace(/["\\]/g, m => `\\${m}`)}"`;
}

export function clause(exp, value) { return `${exp} == ${quote(value)}`; }

// docs: the page; shown: column ids; sort: "col:asc|desc"; handlers: {onValue(exp, value),
// onOpen(doc), onSort(col)}.
export function renderTable(table, docs, shown, sort, handlers) {
  table.replaceChildren();
  const cols = COLUMNS.filter(c => shown.includes(c.id));
  const cap = table.createCaption();
  cap.className = 'sr-only';
  cap.textContent = 'Sessions matching the expression';
  const thead = table.createTHead(), hr = thead.insertRow();
  const [sc, sd] = (sort || 'start:asc').split(':');
  for (const c of [{ id: '_open', label: 'Open' }, ...cols]) {
    const th = document.createElement('th');
    th.scope = 'col';
    if (c.id === '_open') { th.textContent = ''; th.appendChild(srOnly('Open')); hr.appendChild(th); continue; }
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'sort';
    b.textContent = c.label;
    b.dataset.col = c.id;
    if (c.id === sc) th.setAttribute('aria-sort', sd === 'desc' ? 'descending' : 'ascending');
    b.addEventListener('click', () => handlers.onSort(c.id));
    th.appendChild(b);
    hr.appendChild(th);
  }
  let rows = docs.slice();
  if (sc && sc !== 'start') {
    const col = COLUMNS.find(c => c.id === sc);
    if (col) rows.sort((a, b) => {
      const x = col.key(a), y = col.key(b);
      const r = x < y ? -1 : x > y ? 1 : 0;
      return sd === 'desc' ? -r : r;
    });
  }
  const tb = table.createTBody();
  for (const d of rows) {
    const tr = tb.insertRow();
    tr.dataset.id = d.id || get(d, 'ashiato.session_id') || '';
    const td0 = tr.insertCell();
    const ob = document.createElement('button');
    ob.type = 'button';
    ob.className = 'open';
    ob.textContent = 'Open';
    ob.setAttribute('aria-label', `Open session ${tr.dataset.id}`);
    ob.addEventListener('click', () => handlers.onOpen(tr.dataset.id));
    td0.appendChild(ob);
    for (const c of cols) {
      const td = tr.insertCell();
      td.dataset.col = c.id;
      if (c.num) td.className = 'num';
      for (const v of c.vals(d)) {
        if (v.text === undefined || v.text === null || v.text === '') continue;
        if (v.sep) td.append(v.sep);
        if (!v.exp) { td.append(String(v.text)); continue; }
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'val';
        b.textContent = String(v.text);
        b.title = `Add ${clause(v.exp, v.value)} to the expression`;
        b.addEventListener('click', () => handlers.onValue(v.exp, v.value));
        td.appendChild(b);
      }
    }
  }
}

function srOnly(text) {
  const s = document.createElement('span');
  s.className = 'sr-only';
  s.textContent = text;
  return s;
}

export function renderChooser(fieldset, shown, onChange) {
  fieldset.querySelectorAll('label').forEach(l => l.remove());
  for (const c of COLUMNS) {
    const l = document.createElement('label'), cb = document.createElement('input');
    cb.type = 'checkbox';
    cb.value = c.id;
    cb.checked = shown.includes(c.id);
    cb.addEventListener('change', () => onChange([...fieldset.querySelectorAll('input:checked')].map(i => i.value)));
    l.append(cb, ` ${c.label}`);
    fieldset.appendChild(l);
  }
}
