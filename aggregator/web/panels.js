// panels.js -- the alerts list, the sensors panel and the segment matrix.
// Owns:  the tables of those three views; the packets/s estimate (two stats.json samples).
// Never: fetches; writes markup from strings (text nodes only).
// Trap:  alerts.json carries at most 20 evidence ids per alert (the detector's cap); the
//        "Evidence" action opens exactly those sessions.

const get = (d, path) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), d);

function button(text, label, onClick, cls = '') {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  if (label) b.setAttribute('aria-label', label);
  if (cls) b.className = cls;
  b.addEventListener('click', onClick);
  return b;
}

function head(table, labels, caption) {
  table.replaceChildren();
  const cap = table.createCaption();
  cap.className = 'sr-only';
  cap.textContent = caption;
  const tr = table.createTHead().insertRow();
  for (const l of labels) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = l;
    tr.appendChild(th);
  }
  return table.createTBody();
}

function cell(tr, text, cls) {
  const td = tr.insertCell();
  td.textContent = text === undefined || text === null ? '' : String(text);
  if (cls) td.className = cls;
  return td;
}

export function alertText(a) {
  return [get(a, 'rule.name'), get(a, 'source.ip'), ...(get(a, 'ashiato.segments') || []),
    ...(get(a, 'destination.ip') || []), ...(get(a, 'tags') || []), a.message].join(' ').toLowerCase();
}

// handlers: {onEvidence(alert), onPcap(alert)}
export function renderAlerts(table, alerts, filter, handlers) {
  const tb = head(table, ['Time', 'Type', 'Source', 'Segments', 'Targets', 'Score', 'Evidence'], 'Alerts');
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  let n = 0;
  for (const a of alerts) {
    const text = alertText(a);
    if (!words.every(w => text.includes(w))) continue;
    n++;
    const tr = tb.insertRow();
    tr.dataset.rule = get(a, 'rule.name');
    cell(tr, (get(a, 'event.start') || '').replace('T', ' ').replace('Z', ''));
    cell(tr, get(a, 'rule.name'));
    const src = cell(tr, get(a, 'source.ip') || '');
    if ((get(a, 'tags') || []).includes('approved')) {
      const s = document.createElement('span');
      s.className = 'badge approved';
      s.textContent = 'approved';
      src.append(' ', s);
    }
    cell(tr, (get(a, 'ashiato.segments') || []).join(', '));
    const t = get(a, 'ashiato.targets') || {};
    const ips = get(a, 'destination.ip') || [], ports = get(a, 'destination.port') || [];
    const td = cell(tr, `${t.hosts ?? ips.length} hosts, ${t.ports ?? ports.length} ports`);
    td.title = `${ips.slice(0, 10).join(', ')}${ips.length > 10 ? ', ...' : ''} ports ${ports.slice(0, 10).join(', ')}`;
    const sc = get(a, 'ashiato.score');
    cell(tr, typeof sc === 'number' ? sc.toFixed(2) : '', 'num');
    const ev = tr.insertCell();
    const nev = (get(a, 'ashiato.evidence') || []).length;
    ev.append(button(`Sessions (${nev})`, `Evidence sessions of the ${get(a, 'rule.name')} alert from ${get(a, 'source.ip')}`,
      () => handlers.onEvidence(a), 'evidence'), ' ',
    button('pcap', `pcap of the evidence of the ${get(a, 'rule.name')} alert from ${get(a, 'source.ip')}`,
      () => handlers.onPcap(a), 'evidence-pcap'));
    const msg = document.createElement('div');
    msg.className = 'alert-msg';
    msg.textContent = a.message || '';
    tr.cells[1].appendChild(msg);
  }
  return n;
}

const prev = new Map();

function bytes(n) {
  if (typeof n !== 'number') return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

function ago(s) {
  if (typeof s !== 'number') return '';
  if (s < 120) return `${Math.round(s)} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

// stats: stats.json; hist: sensors/history.json of the last hour (packets/s from the last two
// samples), or null
export function renderSensors(table, stats, hist) {
  const rates = new Map(((hist && hist.sensors) || []).map(h => [h.name, h.packetsPerSecond]));
  const tb = head(table, ['Sensor', 'Last seen', 'Packets/s', 'Drops', 'Outbox depth', 'Disk free',
    'Oldest packets kept'], 'Sensors');
  for (const s of stats.data || []) {
    const tr = tb.insertRow();
    const name = s.sensor || s.nodeName;
    tr.dataset.sensor = name;
    cell(tr, name);
    const seen = cell(tr, `${ago(s.lastSeenAgoSeconds)} (${(s.lastSeen || '').replace('T', ' ').slice(0, 19)})`);
    // down: no stats for three of its intervals (as sensors/history.json says)
    if (s.lastSeenAgoSeconds * 1000 > 3 * Math.max(s.stats_interval_ms || 5000, 1000)) {
      seen.className = 'bad';
      seen.append(' down');
    }
    const p = prev.get(name);
    let rate = '';
    if (p && s.time_us > p.time_us) rate = ((s.packets - p.packets) / ((s.time_us - p.time_us) / 1e6)).toFixed(0);
    else if (typeof rates.get(name) === 'number') rate = rates.get(name).toFixed(0);
    prev.set(name, { packets: s.packets, time_us: s.time_us });
    cell(tr, rate === '' ? '(next sample)' : rate, 'num');
    const drops = (s.pcap_dropped || 0) + (s.pcap_if_dropped || 0) + (s.outbox_dropped || 0);
    cell(tr, drops, drops ? 'num bad' : 'num');
    cell(tr, `${s.outbox_batches ?? ''} batches, ${bytes(s.outbox_bytes)}`, 'num');
    cell(tr, bytes(s.disk_free_bytes), 'num');
    // the oldest packet the sensor still keeps (the earliest file of its pcap catalogue)
    const oc = cell(tr, s.oldestPacket ? `${s.oldestPacket.replace('T', ' ').slice(0, 19)} UTC` +
      (s.time_us > s.oldest_packet_us ? ` (${ago((s.time_us - s.oldest_packet_us) / 1e6)})` : '')
      : 'none kept');
    oc.dataset.col = 'oldest';
    if (s.oldest_packet_us) oc.dataset.us = String(s.oldest_packet_us);
  }
  return (stats.data || []).length;
}

// matrix: {segments: [...], cells: [{src, dst, sessions, failed, hosts, new}]};
// onCell(src, dst) opens the table on that pair.
export function renderMatrix(table, m, onCell) {
  table.replaceChildren();
  const cap = table.createCaption();
  cap.className = 'sr-only';
  cap.textContent = 'Sessions between segments: rows are sources, columns destinations';
  const segs = m.segments || [];
  const tr0 = table.createTHead().insertRow();
  const corner = document.createElement('th');
  corner.textContent = 'from \\ to';
  tr0.appendChild(corner);
  for (const d of segs) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = d;
    tr0.appendChild(th);
  }
  const by = new Map((m.cells || []).map(c => [`${c.src}\u0000${c.dst}`, c]));
  const tb = table.createTBody();
  for (const s of segs) {
    const tr = tb.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = s;
    tr.appendChild(th);
    for (const d of segs) {
      const td = tr.insertCell();
      const c = by.get(`${s}\u0000${d}`);
      if (!c) { td.className = 'empty'; continue; }
      const b = button('', '', () => onCell(s, d), 'cell');
      b.title = `${s} to ${d}: open these sessions`;
      b.dataset.src = s;
      b.dataset.dst = d;
      const n = document.createElement('span');
      n.className = 'n';
      n.textContent = `${c.sessions} sessions`;
      const f = document.createElement('span');
      f.className = c.failed ? 'f bad' : 'f';
      f.textContent = `${c.failed} failed`;
      const h = document.createElement('span');
      h.className = 'h';
      h.textContent = `${c.hosts} hosts`;
      const who = document.createElement('span');
      who.className = 'sr-only';
      who.textContent = ` from ${s} to ${d}`;
      b.append(n, ' ', f, ' ', h, who);
      if (c.new) {
        const nw = document.createElement('strong');
        nw.className = 'new';
        nw.textContent = 'new pair';
        b.append(' ', nw);
        td.className = 'is-new';
      }
      td.appendChild(b);
    }
  }
}
