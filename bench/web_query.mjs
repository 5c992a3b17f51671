// web_query.mjs -- issue 12's benchmark in the browser: from pressing Enter on a selective
// query to the chart and the table drawn, on the analyst page (aggregator/web) over the 10M
// store. bench/web_query.sh starts the aggregator and runs this with one JSON argument
// {url, user, password, nodeModules, startTime, stopTime, exprs[], runs, out}; it prints one
// JSON object: per run the expression, the time, the bars and rows drawn.
// Owns:  the browser (Debian's chromium through playwright-core, headless), closed at the end.
// Never: part of ctest.
// How it times: in the page, a capture-phase keydown listener on #expr notes performance.now()
// when Enter goes down; the page bumps <html data-renders> when a render has finished (chart
// and table in the DOM); a MutationObserver on that attribute then waits two animation frames
// (the first frame holding the new chart and rows has been painted) and notes the time.
// Each run types a different expression than the one before, so each Enter is a new query.
// Each run also lists the requests the page made (path, length, ms from request start to
// response end by Chromium's resource timing).
import { join } from 'node:path';

const cfg = JSON.parse(process.argv[2]);
const { chromium } = await import(join(cfg.nodeModules, 'playwright-core', 'index.mjs'));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox'] });
const out = { runs: [] };
try {
  const ctx = await browser.newContext({ httpCredentials: { username: cfg.user, password: cfg.password },
    viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const hash = new URLSearchParams({ startTime: String(cfg.startTime), stopTime: String(cfg.stopTime) });
  await page.goto(`${cfg.url}/#${hash}`);
  await page.waitForFunction(() => Number(document.documentElement.dataset.renders || 0) >= 1,
    null, { timeout: 600000 });
  await page.evaluate(() => {
    window.__bench = { t0: 0, t1: 0 };
    document.getElementById('expr').addEventListener('keydown', ev => {
      if (ev.key === 'Enter') { window.__bench.t0 = performance.now(); window.__bench.t1 = 0; }
    }, true);
    new MutationObserver(() => {
      requestAnimationFrame(() => requestAnimationFrame(() => { window.__bench.t1 = performance.now(); }));
    }).observe(document.documentElement, { attributes: true, attributeFilter: ['data-renders'] });
  });
  // the API requests each run makes, with their times (what the page waited for)
  let reqs = [];
  page.on('requestfinished', rq => {
    const t = rq.timing();
    const u = new URL(rq.url());
    reqs.push({ path: u.pathname, length: u.searchParams.get('length'),
      ms: Math.round(t.responseEnd - (t.requestStart >= 0 ? t.requestStart : 0)) });
  });
  const total = cfg.runs * cfg.exprs.length + 1;        // the first is a warm-up
  for (let i = 0; i < total; i++) {
    const expr = cfg.exprs[i % cfg.exprs.length];
    await page.locator('#expr').fill(expr);
    await page.keyboard.press('Escape');                // close the completion list
    const before = await page.evaluate(() => Number(document.documentElement.dataset.renders || 0));
    reqs = [];
    await page.locator('#expr').press('Enter');
    await page.waitForFunction(b => Number(document.documentElement.dataset.renders || 0) > b &&
      window.__bench.t1 > 0, before, { timeout: 600000 });
    const r = await page.evaluate(() => ({
      ms: window.__bench.t1 - window.__bench.t0,
      bars: document.querySelectorAll('#chart rect.bar').length,
      rows: document.querySelectorAll('#sessions tbody tr').length,
      caption: document.getElementById('table-caption').innerText,
      status: document.getElementById('status').innerText,
    }));
    r.expr = expr;
    r.requests = reqs;
    r.warmup = i === 0;
    out.runs.push(r);
    if (i === 1) await page.screenshot({ path: join(cfg.out, 'web_query.png') });
  }
  out.screenshot = join(cfg.out, 'web_query.png');
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
