// web_e2e.mjs -- the analyst page driven in Debian's chromium by playwright-core (no browser
// download: executablePath /usr/bin/chromium), headless. test_web.py starts the aggregator
// and sensors, then runs this with one JSON argument and reads one JSON object back from
// stdout: what each step saw, and where the downloads and screenshots are.
// Owns:  the browser and its contexts (closed at the end, also on failure).
// Never: asserts what pytest can check (pcap contents): it reports; it throws only when a
//        step cannot happen at all (an element never appears).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const cfg = JSON.parse(process.argv[2]);
const { chromium } = await import(join(cfg.nodeModules, 'playwright-core', 'index.mjs'));
const axeSource = readFileSync(join(cfg.nodeModules, 'axe-core', 'axe.min.js'), 'utf8');
const out = {};
const shot = async (page, name) => {
  const path = join(cfg.out, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  (out.screenshots ||= []).push(path);
};

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox'] });
try {
  const ctx = await browser.newContext({ httpCredentials: { username: cfg.user, password: cfg.password },
    viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));
  page.on('console', m => { if (m.type() === 'error' && !/status of (4|5)\d\d/.test(m.text())) errors.push(m.text()); });
  const rows = () => page.locator('#sessions tbody tr');
  const texts = async sel => page.locator(sel).allInnerTexts();
  const renders = () => page.evaluate(() => Number(document.documentElement.dataset.renders || 0));
  // do `action`, then wait until the page has finished `n` more renders
  const after = async (action, n = 1) => {
    const before = await renders();
    await action();
    await page.waitForFunction(b => Number(document.documentElement.dataset.renders || 0) >= b, before + n);
  };
  const ready = async () => page.waitForFunction(() => Number(document.documentElement.dataset.renders || 0) >= 1);

  // 1. log in with digest auth: the page loads and its first query answers
  const resp = await page.goto(cfg.url + '/');
  out.loginStatus = resp.status();
  out.csp = resp.headers()['content-security-policy'] || '';
  await ready();
  out.statusAfterLogin = await page.locator('#status').innerText();
  await shot(page, '1-login');

  // 2. the seed's expression, typed, all time: chart and rows
  await page.selectOption('#range', '-1');
  await page.locator('#expr').click();
  await page.keyboard.type(cfg.seed);
  await page.keyboard.press('Escape');
  await after(() => page.keyboard.press('Enter'));
  out.seedBars = await page.locator('#chart rect.bar').count();
  out.seedRows = await rows().count();
  out.seedCaption = await page.locator('#table-caption').innerText();
  out.seedSrcs = await texts('#sessions tbody td[data-col="src"]');
  out.hashAfterSeed = await page.evaluate(() => location.hash);
  await shot(page, '2-seed-expression');

  // field completion from fields.json
  await page.locator('#expr').fill('');
  await page.locator('#expr').type('ip.pro');
  out.completions = await texts('#completions li strong');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  out.completed = await page.locator('#expr').inputValue();

  // 3. zoom to the scan minute: all sessions, drag across the minute, then the seconds
  await page.locator('#expr').fill('');
  await after(() => page.keyboard.press('Enter'));
  const drag = async (fromMs, toMs) => {
    const svg = page.locator('#chart svg');
    const g = await svg.evaluate(s => ({ ...s.dataset, box: s.getBoundingClientRect().toJSON() }));
    const scale = g.box.width / Number(g.width);
    const x = t => g.box.x + scale * (Number(g.plotLeft) + (t - Number(g.fromMs)) / (Number(g.toMs) - Number(g.fromMs)) * (Number(g.plotRight) - Number(g.plotLeft)));
    const y = g.box.y + g.box.height / 2;
    await page.mouse.move(x(fromMs), y);
    await page.mouse.down();
    await page.mouse.move((x(fromMs) + x(toMs)) / 2, y, { steps: 4 });
    await page.mouse.move(x(toMs), y, { steps: 4 });
    await after(() => page.mouse.up());
  };
  out.allBars = await page.locator('#chart rect.bar').count();
  const minute = Math.floor(cfg.scanStartMs / 60000) * 60000;
  await drag(minute + 500, minute + 59500);
  out.zoom1 = decodeURIComponent(await page.evaluate(() => location.hash));
  out.zoom1Caption = await page.locator('#chart-caption').innerText();
  await drag(cfg.scanStartMs, cfg.scanStopMs + 100);
  out.zoom2 = decodeURIComponent(await page.evaluate(() => location.hash));
  out.zoomSrcs = await texts('#sessions tbody td[data-col="src"]');
  out.zoomTotal = await page.locator('#table-caption').innerText();
  await shot(page, '3-zoom-scan');
  await after(() => page.locator('#zoom-out').click());
  out.afterZoomOut = decodeURIComponent(await page.evaluate(() => location.hash));

  // 4. the lateral-movement alert, then its evidence sessions in one click
  await after(() => page.locator('#tab-alerts').click());
  out.alertRules = await page.locator('#alerts tbody tr').evaluateAll(t => t.map(r => r.dataset.rule));
  out.approved = await texts('#alerts .badge.approved');
  await page.locator('#alert-filter').fill('lateral');
  out.filteredAlerts = await page.locator('#alerts tbody tr').count();
  await shot(page, '4a-alerts');
  await after(() => page.locator('#alerts tbody tr[data-rule="lateral_movement"] button.evidence').click());
  out.evidenceRows = await rows().count();
  out.evidenceSrcs = await texts('#sessions tbody td[data-col="src"]');
  out.evidenceExpr = await page.locator('#expr').inputValue();
  await shot(page, '4b-evidence-sessions');

  // 5. one session's pcap from its row, and the alert's pcap from the alert
  await rows().first().locator('button.open').click();
  await page.waitForFunction(() => /"session_id"/.test(document.getElementById('session-doc').textContent));
  const doc = JSON.parse(await page.locator('#session-doc').innerText());
  out.sessionId = doc.ashiato.session_id;
  out.sessionPackets = doc.network.packets;
  out.linked = await texts('#session-linked li');
  const [dl1] = await Promise.all([page.waitForEvent('download'), page.locator('#session-pcap').click()]);
  out.sessionPcap = join(cfg.out, 'session.pcap');
  await dl1.saveAs(out.sessionPcap);
  await page.waitForFunction(() => /Downloaded/.test(document.getElementById('session-msg').textContent));
  await shot(page, '5a-session-pcap');
  await page.keyboard.press('Escape');
  await after(() => page.locator('#tab-alerts').click());
  const [dl2] = await Promise.all([page.waitForEvent('download'),
    page.locator('#alerts tbody tr[data-rule="lateral_movement"] button.evidence-pcap').click()]);
  out.alertPcap = join(cfg.out, 'alert.pcap');
  await dl2.saveAs(out.alertPcap);
  await page.waitForFunction(() => /Downloaded/.test(document.getElementById('alerts-msg').textContent));
  out.alertPcapMsg = await page.locator('#alerts-msg').innerText();
  await shot(page, '5b-alert-pcap');

  // 6. the segment matrix: the lateral sweep's cell to its sessions
  await after(() => page.locator('#tab-matrix').click());
  await page.locator('#expr').fill('');
  await page.selectOption('#range', '-1');
  await after(() => page.locator('#expr').press('Enter'));
  const cell = page.locator(`#matrix button.cell[data-src="${cfg.lateralSrcSeg}"][data-dst="${cfg.lateralDstSeg}"]`);
  out.matrixCell = await cell.innerText();
  out.matrixCellName = await cell.textContent();
  await shot(page, '6a-matrix');
  await after(() => cell.click());
  out.matrixExpr = await page.locator('#expr').inputValue();
  out.matrixCaption = await page.locator('#table-caption').innerText();
  await shot(page, '6b-matrix-sessions');

  // a wrong expression: the error under it, at its position
  await page.locator('#expr').fill(cfg.badExpr);
  await after(() => page.locator('#expr').press('Enter'));
  out.badPosition = Number(await page.locator('#expr-error mark').getAttribute('data-position'));
  out.badMessage = await page.locator('#expr-error p').innerText();
  await shot(page, '7-bad-expression');

  // an expired pcap: a clear message, no download
  await page.goto('about:blank');
  await page.goto(`${cfg.url}/#view=sessions&date=-1&expression=${encodeURIComponent(`id == ${cfg.expiredId}`)}`);
  await ready();
  await rows().first().locator('button.open').click();
  await page.waitForFunction(() => /"session_id"/.test(document.getElementById('session-doc').textContent));
  let downloads = 0;
  page.on('download', () => { downloads++; });
  await page.locator('#session-pcap').click();
  await page.waitForFunction(() => !/Fetching/.test(document.getElementById('session-msg').textContent) &&
    document.getElementById('session-msg').textContent.length > 0);
  out.expiredMsg = await page.locator('#session-msg').innerText();
  out.expiredDownloads = downloads;
  await shot(page, '8-expired-pcap');
  await page.keyboard.press('Escape');

  // keyboard: Tab order reaches the expression with a visible focus ring; Enter searches;
  // a row opens with Enter, Escape closes
  await page.goto('about:blank');
  await page.goto(`${cfg.url}/#date=-1`);
  await ready();
  await page.keyboard.press('Tab');
  out.firstTab = await page.evaluate(() => document.activeElement.textContent.trim());
  const ring = async () => page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return { id: document.activeElement.id, tag: document.activeElement.tagName, style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
  });
  const seen = [];
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press('Tab');
    seen.push(await ring());
  }
  out.focusRing = seen;
  await page.locator('#expr').focus();
  await page.keyboard.type(`ip.src == ${cfg.lateralSrc}`);
  await page.keyboard.press('Escape');
  await after(() => page.keyboard.press('Enter'));
  await rows().first().locator('button.open').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('session').open);
  out.dialogFocus = await page.evaluate(() => document.activeElement.id);
  await shot(page, '9-keyboard-dialog');
  await page.keyboard.press('Escape');
  out.dialogClosed = await page.evaluate(() => !document.getElementById('session').open);

  // readable at 1280x800 and 1920x1080: no page-wide horizontal scroll; axe-core on each view
  out.layout = {};
  out.axe = {};
  for (const [w, h] of [[1280, 800], [1920, 1080]]) {
    await page.setViewportSize({ width: w, height: h });
    for (const view of ['sessions', 'alerts', 'matrix', 'sensors']) {
      await page.goto('about:blank');
      await page.goto(`${cfg.url}/#view=${view}&date=-1&expression=${encodeURIComponent(cfg.seed)}`);
      await ready();
      out.layout[`${view}-${w}x${h}`] = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      await shot(page, `10-${view}-${w}x${h}`);
      if (w === 1280) {
        await page.evaluate(axeSource);
        const r = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
          .map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length, target: v.nodes[0]?.target })));
        out.axe[view] = r;
      }
    }
  }
  out.pageErrors = errors;
  await ctx.close();

  // a wrong password, and no credentials (logged out): no data
  for (const [name, creds] of [['wrongPassword', { username: cfg.user, password: 'not-the-password' }],
    ['loggedOut', null]]) {
    const c = await browser.newContext(creds ? { httpCredentials: creds } : {});
    const p = await c.newPage();
    // chromium either shows the 401 answer or, when the credentials it was given are refused,
    // stops the navigation with ERR_INVALID_AUTH_CREDENTIALS: both leave no data on screen
    let status = 0, navError = '';
    try {
      status = (await p.goto(`${cfg.url}/#date=-1&expression=${encodeURIComponent(cfg.seed)}`)).status();
    } catch (e) { navError = e.message.split('\n')[0]; }
    await p.waitForTimeout(500);
    const body = await p.evaluate(() => document.body ? document.body.innerText : '');
    out[name] = { status, navError, rows: await p.locator('#sessions tbody tr').count(),
      hasAddresses: /198\.18\.|192\.168\./.test(body) };
    const jr = await p.request.get(`${cfg.url}/sessions.json?date=-1&length=1`);
    out[name].api = jr.status();
    await p.screenshot({ path: join(cfg.out, `11-${name}.png`) });
    await c.close();
  }
} catch (e) {
  process.stderr.write(`partial results: ${JSON.stringify(out)}\n`);
  throw e;
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');
