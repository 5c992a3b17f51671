// query.js -- the expression box: field completion from fields.json, the error under the
// expression at its position, recent queries (localStorage).
// Owns:  the completion list's DOM and keyboard handling, the recent-queries list.
// Never: parses the expression (the API does, and says where it is wrong).
// Trap:  the API's position counts bytes; for non-ASCII text the caret is placed by bytes
//        turned back into characters.

const RECENT_KEY = 'ashiato.recent';
const RECENT_MAX = 12;

export function recentQueries() {
  try { return JSON.parse(localStorage.getItem(RECENT_KEY) || '[]'); } catch (e) { return []; }
}

export function rememberQuery(expr) {
  if (!expr) return;
  const list = [expr, ...recentQueries().filter(q => q !== expr)].slice(0, RECENT_MAX);
  try { localStorage.setItem(RECENT_KEY, JSON.stringify(list)); } catch (e) { /* private mode */ }
}

export function fillRecent(select) {
  select.querySelectorAll('option:not([value=""])').forEach(o => o.remove());
  for (const q of recentQueries()) {
    const o = document.createElement('option');
    o.value = q;
    o.textContent = q.length > 70 ? `${q.slice(0, 67)}...` : q;
    select.appendChild(o);
  }
}

function charIndex(text, bytePos) {
  const enc = new TextEncoder();
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    if (bytes >= bytePos) return i;
    bytes += enc.encode(text[i]).length;
  }
  return text.length;
}

// Show message under the expression, with a caret under character `position` (bytes).
export function showError(box, text, message, position) {
  box.replaceChildren();
  if (!message) { box.hidden = true; return; }
  box.hidden = false;
  if (Number.isInteger(position) && position >= 0) {
    const i = charIndex(text, position);
    const pre = document.createElement('pre');
    pre.className = 'caret-line';
    const before = document.createElement('span');
    before.textContent = text.slice(0, i);
    const at = document.createElement('mark');
    at.textContent = text.slice(i, i + 1) || ' ';
    at.dataset.position = String(i);
    const after = document.createElement('span');
    after.textContent = text.slice(i + 1);
    pre.append(before, at, after, '\n', ' '.repeat(i), '^');
    box.appendChild(pre);
  }
  const p = document.createElement('p');
  p.textContent = Number.isInteger(position) ? `At character ${charIndex(text, position) + 1}: ${message}` : message;
  box.appendChild(p);
}

// Field completion on the word at the caret.
export function attachCompletion(input, list, fieldsPromise) {
  let fields = [], active = -1, items = [];
  fieldsPromise.then(f => { fields = f; }).catch(() => {});
  const word = () => {
    const pos = input.selectionStart ?? input.value.length;
    const m = /[A-Za-z0-9_.-]*$/.exec(input.value.slice(0, pos));
    return { start: pos - m[0].length, end: pos, text: m[0] };
  };
  const close = () => {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  };
  const pick = i => {
    const w = word(), f = items[i];
    if (!f) return;
    input.value = input.value.slice(0, w.start) + f.exp + ' ' + input.value.slice(w.end);
    const c = w.start + f.exp.length + 1;
    input.setSelectionRange(c, c);
    close();
  };
  const mark = () => [...list.children].forEach((li, i) => {
    li.setAttribute('aria-selected', i === active ? 'true' : 'false');
    if (i === active) input.setAttribute('aria-activedescendant', li.id);
  });
  input.addEventListener('input', () => {
    const w = word();
    if (w.text.length < 1 || /^[0-9]/.test(w.text)) return close();
    items = fields.filter(f => f.exp.startsWith(w.text) && f.exp !== w.text).slice(0, 12);
    if (!items.length) return close();
    list.replaceChildren(...items.map((f, i) => {
      const li = document.createElement('li');
      li.id = `completion-${i}`;
      li.setAttribute('role', 'option');
      const b = document.createElement('strong');
      b.textContent = f.exp;
      const h = document.createElement('span');
      h.textContent = ` ${f.help || f.type || ''}`;
      li.append(b, h);
      li.addEventListener('mousedown', ev => { ev.preventDefault(); pick(i); });
      return li;
    }));
    active = -1;
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  });
  input.addEventListener('keydown', ev => {
    if (list.hidden) return;
    if (ev.key === 'ArrowDown') { active = (active + 1) % items.length; mark(); ev.preventDefault(); }
    else if (ev.key === 'ArrowUp') { active = (active - 1 + items.length) % items.length; mark(); ev.preventDefault(); }
    else if ((ev.key === 'Enter' || ev.key === 'Tab') && active >= 0) { pick(active); ev.preventDefault(); }
    else if (ev.key === 'Escape') { close(); ev.preventDefault(); }
  });
  input.addEventListener('blur', () => setTimeout(close, 100));
}
