/**
 * The HTML report looked at in a real headless Chromium (Debian's chromium, driven by playwright-core):
 * the severity chart and the expiry timeline render with non-zero size and one bar/dot per item, the
 * per-host tables and the baseline diff are there, and a screenshot is taken and is a real PNG.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { renderHtml } from '../../src/scan/reports/html.ts';
import { diffBaseline } from '../../src/scan/reports/baseline.ts';
import { tempDir } from '../helpers/tmp.ts';
import { sampleReport } from './fixtures/sample-report.ts';

const CHROMIUM = '/usr/bin/chromium';

if (!existsSync(CHROMIUM)) {
  if (process.env.CI) t.fail('Debian chromium is missing in CI (apt-get install chromium)');
  else t.skip('Debian chromium is not installed', () => {});
} else {
  const { chromium } = await import('playwright-core');
  const dir = tempDir(t, 'wardgate-html-');
  const { scan, services, baseline } = sampleReport();
  // 10.20.0.14 was scanned again and its port is closed now: its finding counts as fixed.
  const diff = diffBaseline(baseline, services, new Set([...services.map((s) => s.address), '10.20.0.14']));
  const file = join(dir, 'report.html');
  writeFileSync(file, renderHtml(scan, services, 'de', diff, new Date('2026-11-26T12:00:00Z')));

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const requests: string[] = [];
  page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
  await page.goto(`file://${file}`);

  t.test('chart, timeline, tables and diff render', async (t) => {
    const chart = await page.locator('#severity-chart').boundingBox();
    t.ok(chart && chart.width > 200 && chart.height > 100, `severity chart is ${chart?.width}x${chart?.height}`);
    const bars = await page.locator('#severity-chart g.bar').evaluateAll((gs) => gs.map((g) => ({ s: g.getAttribute('data-severity'), n: Number(g.getAttribute('data-count')), w: g.querySelector('rect')!.getBoundingClientRect().width })));
    t.equal(bars.length, 5, 'one bar per severity');
    const high = bars.find((b) => b.s === 'high')!;
    t.ok(high.n > 0 && high.w > 0, 'the high-severity bar is drawn');
    t.ok(bars.every((b) => (b.n === 0) === (b.w === 0)), 'bars drawn exactly for non-zero counts');
    const dots = await page.locator('#expiry-timeline g.cert circle').count();
    t.equal(dots, services.filter((s) => s.certificate).length, 'one timeline dot per certificate');
    const timeline = await page.locator('#expiry-timeline').boundingBox();
    t.ok(timeline && timeline.width > 500, 'timeline has its width');
    t.equal(await page.locator('section.host').count(), new Set(services.map((s) => s.address)).size, 'one table per host');
    t.equal(await page.locator('section.host table tbody tr').count(), services.length, 'one row per open port');
    t.equal(await page.locator('#baseline ul.new li').count(), diff.new.length, 'new findings listed');
    t.equal(await page.locator('#baseline ul.fixed li').count(), diff.fixed.length, 'fixed findings listed');
    t.equal(diff.fixed.length, 1, 'the closed plaintext port is a fixed finding');
    t.equal(await page.locator('script').count(), 0, 'a subject holding <script> is escaped, not executed');
    t.match(await page.locator('h1').innerText(), /Scan-Bericht/, 'German headings with --lang de');
    t.same(requests, [], 'the report loads nothing from the network');
  });

  t.test('screenshot', async (t) => {
    const png = join(dir, 'report.png');
    await page.screenshot({ path: png, fullPage: true });
    const bytes = readFileSync(png);
    t.ok(bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG');
    t.ok(bytes.length > 20000, `of ${bytes.length} bytes`);
    if (process.env.WARDGATE_KEEP_SCREENSHOT) writeFileSync(process.env.WARDGATE_KEEP_SCREENSHOT, bytes);
  });
}
