// web_sensors.mjs -- the page's sensor side driven in Debian's chromium by playwright-core
// (executablePath /usr/bin/chromium, headless). test_web_sensors.py starts the aggregator and
// sensors, stops one, then runs this with one JSON argument and reads one JSON object back
// from stdout: the chart's shading, the Sensors panel, the stacked series, the alert filter.
// Owns:  the browser and its context (closed at the end, also on failure).
// Never: asserts (pytest does); it throws only when a step cannot happen at all.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const cfg = JSON.parse(process.argv[2]);
const { chromium } = await import(join(cfg.nodeModules, 'playwright-core', 'index.mjs'));
const axeSource = readFileSync(join(cfg.nodeModules, 'axe-core', 'axe.min.js'), 'utf8');
const out = { axe: {} };
const shot = async (page, name) => {
  const path = join(cfg.out, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  (out.screenshots ||= []).push(path);
};

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox'] });
try {
  const ctx = await browser.newContext({ httpCredentials: { username: cfg.user, password: cfg.password },
    viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));
  page.on('console', m => { if (m.type() === 'error' && !/status of (4|5)\d\d/.test(m.text())) errors.push(m.text()); });
  const renders = () => page.evaluate(() => Number(document.documentElement.dataset.renders || 0));
  const after = async (action, n = 1) => {
    const before = await renders();
    await action();
    await page.waitForFunction(b => Number(document.documentElement.dataset.renders || 0) >= b, before + n);
  };
  const open = async hash => {
    await page.goto('about:blank');
    await page.goto(`${cfg.url}/#${hash}`);
    await page.waitForFunction(() => Number(document.documentElement.dataset.renders || 0) >= 1);
  };
  const axe = async view => {
    await page.evaluate(axeSource);
    out.axe[view] = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
      .map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length, target: v.nodes[0]?.target })));
  };

  // the chart of the last hour: the stopped sensor's down time shaded
  await open('date=1');
  out.shades = await page.locator('#chart rect.shade').evaluateAll(rs => rs.map(r => ({
    sensor: r.dataset.sensor, kind: r.classList.contains('down') ? 'down' : 'dropping',
    from: Number(r.dataset.from), to: Number(r.dataset.to), width: Number(r.getAttribute('width')) })));
  out.shadeTitles = await page.locator('#chart rect.shade title').allTextContents();
  out.shadeList = await page.locator('#shading li').allInnerTexts();
  out.legend = await page.locator('#chart .legend li').allInnerTexts();
  out.chartCaption = await page.locator('#chart-caption').innerText();
  await shot(page, '1-chart-shaded');
  await axe('sessions-shaded');

  // stacked by sensor, chosen with the control (the state goes into the URL)
  await after(() => page.selectOption('#stack', 'sensor'));
  out.hashAfterStack = await page.evaluate(() => location.hash);
  out.series = Object.fromEntries(await page.locator('#chart .legend li[data-series]').evaluateAll(
    ls => ls.map(l => [l.dataset.series, Number(l.dataset.total)])));
  out.stackBars = await page.locator('#chart rect.bar').count();
  out.stackCaption = await page.locator('#chart-caption').innerText();
  await shot(page, '2-stacked-by-sensor');
  await axe('sessions-stacked');

  // the Sensors panel: last seen, packets/s, drops, outbox, disk, oldest packets kept
  await after(() => page.locator('#tab-sensors').click());
  out.sensorRows = await page.locator('#sensors tbody tr').count();
  out.oldest = Object.fromEntries(await page.locator('#sensors tbody tr').evaluateAll(rows => rows.map(r => {
    const c = r.querySelector('td[data-col="oldest"]');
    return [r.dataset.sensor, { us: c && c.dataset.us ? Number(c.dataset.us) : null, text: c ? c.textContent : '' }];
  })));
  out.sensorsLastSeen = Object.fromEntries(await page.locator('#sensors tbody tr').evaluateAll(rows => rows.map(r =>
    [r.dataset.sensor, { text: r.cells[1].textContent, bad: r.cells[1].classList.contains('bad'), rate: r.cells[2].textContent }])));
  out.sensorHeaders = await page.locator('#sensors thead th').allInnerTexts();
  await shot(page, '3-sensors');
  await axe('sensors');

  // the alert filter: a wrong expression, its error under the box
  await after(() => page.locator('#tab-alerts').click());
  await page.locator('#alert-expr').fill(cfg.badAlertExpr);
  await after(() => page.locator('#alert-expr').press('Enter'));
  out.hashAfterAlert = decodeURIComponent(await page.evaluate(() => location.hash));
  out.alertError = await page.locator('#alert-expr-error').innerText();
  const mark = page.locator('#alert-expr-error mark');
  out.alertErrorPosition = (await mark.count()) ? Number(await mark.getAttribute('data-position')) : null;
  out.alertRows = await page.locator('#alerts tbody tr').count();
  await shot(page, '4-alert-filter-error');
  await axe('alerts');
  out.pageErrors = errors;
  await ctx.close();
} catch (e) {
  process.stderr.write(`partial results: ${JSON.stringify(out)}\n`);
  throw e;
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');
