// Browser figures for the dashboard, printed (nothing asserted): first load to the first
// drawn chart, what the browser downloads on first load (compressed), and how long redrawing
// the 7-day charts (1,008 points per series) takes.
//
// Run against a running server (e.g. scripts/demo.sh):
//   node end2end/bench/first-load.mjs [http://127.0.0.1:8080]
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { chromium } = require('playwright');

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// 1. First load, cold cache, five times.
const firstChart = [];
let bytes = 0;
for (let i = 0; i < 5; i++) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  let transferred = 0;
  cdp.on('Network.loadingFinished', (e) => (transferred += e.encodedDataLength));
  await page.goto(base + '/', { waitUntil: 'commit' });
  await page.waitForFunction(() => document.querySelector('canvas[data-draw-ms]') !== null, null, { timeout: 30_000 });
  firstChart.push(await page.evaluate(() => performance.now()));
  await page.waitForLoadState('networkidle').catch(() => {});
  bytes = transferred;
  await context.close();
}

// 2. Redraw of the 7-day charts: toggle a legend entry and read the draw time each chart reports.
const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
const page = await context.newPage();
await page.goto(base + '/?range=7d');
await page.waitForFunction(() => document.querySelectorAll('canvas[data-draw-ms]').length >= 4);
const points = await page.evaluate(async (b) => (await (await fetch(b + '/api/series?range=7d')).json()).points.length, base);
const draws = [];
const legend = page.getByRole('button', { name: 'cancelled' });
for (let i = 0; i < 20; i++) {
  await legend.click();
  await page.waitForTimeout(50);
  draws.push(Number(await page.getByRole('img', { name: /^Executions by status/ }).getAttribute('data-draw-ms')));
}
const lineDraws = [];
const p95 = page.getByRole('button', { name: 'p95' });
for (let i = 0; i < 20; i++) {
  await p95.click();
  await page.waitForTimeout(50);
  lineDraws.push(Number(await page.getByRole('img', { name: /^Execution duration/ }).getAttribute('data-draw-ms')));
}
await browser.close();

console.log(`first load to first drawn chart: median ${median(firstChart).toFixed(0)} ms (runs: ${firstChart.map((t) => t.toFixed(0)).join(', ')})`);
console.log(`downloaded on first load (compressed, incl. API and WebSocket handshake): ${(bytes / 1024).toFixed(0)} KB`);
console.log(`redraw, stacked 7d chart (${points} steps x 3 series): median ${median(draws).toFixed(2)} ms, max ${Math.max(...draws).toFixed(2)} ms`);
console.log(`redraw, lines 7d chart (${points} steps x 3 series): median ${median(lineDraws).toFixed(2)} ms, max ${Math.max(...lineDraws).toFixed(2)} ms`);
