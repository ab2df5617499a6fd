import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/report/index.js';
import { landscape2d, syntheticResults } from './syntheticResults.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = !existsSync(CHROMIUM) && process.env.HESSE_REQUIRE_CHROMIUM !== '1';
if (missing) console.warn(`report browser test skipped: ${CHROMIUM} not found (apt-get install chromium, or set HESSE_REQUIRE_CHROMIUM=1 to fail instead)`);

let root: string;
let browser: Browser | undefined;
const reports: Record<'full' | 'twoD', string> = { full: '', twoD: '' };

interface Opened {
  page: Page;
  problems: string[];
  requests: string[];
}

/** Opens a report from disk and waits for every plot to finish drawing, recording what went wrong. */
async function open(indexPath: string): Promise<Opened> {
  const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(pathToFileURL(indexPath).href, { waitUntil: 'load' });
  await page.waitForFunction(() => (window as unknown as { hesseReport?: { ready?: unknown } }).hesseReport?.ready !== undefined);
  await page.evaluate(() => (window as unknown as { hesseReport: { ready: Promise<unknown> } }).hesseReport.ready);
  return { page, problems, requests };
}

/** For each plot container: did it render, and how many mark items does its SVG hold. */
async function plotState(page: Page) {
  return page.$$eval('[data-hesse-plot]', (els) =>
    els.map((el) => ({
      id: el.getAttribute('data-hesse-plot'),
      rendered: el.getAttribute('data-rendered'),
      svg: el.querySelectorAll(':scope > svg').length,
      marks: el.querySelectorAll('svg g.role-mark > *').length,
    })),
  );
}

async function tooltipAfterHovering(page: Page, selector: string): Promise<string> {
  await page.mouse.move(0, 0);
  await page.hover(selector, { force: true });
  await page.waitForSelector('#hesse-tooltip', { state: 'visible', timeout: 5000 });
  return page.$eval('#hesse-tooltip', (el) => el.textContent ?? '');
}

describe.skipIf(missing)('the HTML report in headless Chromium', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'hesse-browser-'));
    reports.full = (await writeReport(join(root, 'full'), syntheticResults(), { png: false })).index;
    const r = syntheticResults();
    r.results = { eigen: r.results.eigen!, landscape: landscape2d(11) };
    reports.twoD = (await writeReport(join(root, 'two-d'), r, { png: false })).index;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('draws every plot of a full report with no console errors and no network, and shows tooltips', async () => {
    const { page, problems, requests } = await open(reports.full);
    const state = await plotState(page);
    expect(state.map((s) => s.id)).toEqual(['eigenvalues', 'esd', 'per-layer-trace', 'per-layer-top-eigenvalue', 'landscape-1d', 'training']);
    for (const s of state) {
      expect(s, s.id!).toMatchObject({ rendered: 'true', svg: 1 });
      expect(s.marks, s.id!).toBeGreaterThan(0);
    }
    const counts = await page.evaluate(() => {
      const { rendered, failed } = (window as unknown as { hesseReport: { rendered: number; failed: number } }).hesseReport;
      return { rendered, failed };
    });
    expect(counts).toEqual({ rendered: 6, failed: 0 });

    expect(await tooltipAfterHovering(page, '[data-hesse-plot="eigenvalues"] g.mark-rect.role-mark path')).toMatch(/eigenvalue\s*41\.2/);
    expect(await tooltipAfterHovering(page, '[data-hesse-plot="esd"] g.mark-symbol.role-mark path:nth-child(40)')).toMatch(/density/);
    expect(await tooltipAfterHovering(page, '[data-hesse-plot="per-layer-trace"] g.mark-rect.role-mark path:nth-child(2)')).toContain('layer1.0.conv1.weight');
    expect(await tooltipAfterHovering(page, '[data-hesse-plot="training"] g.mark-symbol.role-mark path')).toMatch(/epoch/);

    expect(problems).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
    await page.close();
  });

  it('draws the 2-D landscape heatmap and its contour lines, with a tooltip on the cells', async () => {
    const { page, problems } = await open(reports.twoD);
    const state = await plotState(page);
    expect(state.map((s) => s.id)).toEqual(['eigenvalues', 'landscape-2d']);
    for (const s of state) expect(s, s.id!).toMatchObject({ rendered: 'true', svg: 1 });
    const cells = await page.$$eval('[data-hesse-plot="landscape-2d"] g.mark-rect.role-mark > path', (els) => els.length);
    const lines = await page.$$eval('[data-hesse-plot="landscape-2d"] g.mark-line.role-mark > path', (els) => els.length);
    expect(cells).toBe(121);
    expect(lines).toBeGreaterThan(5);
    // cells run α-major: child 5·11 + 3 + 1 is α = 0, β = −0.2, where the bowl's loss is 0.2 + 3·0.04
    expect(await tooltipAfterHovering(page, '[data-hesse-plot="landscape-2d"] g.mark-rect.role-mark > path:nth-child(59)')).toMatch(
      /α\s*0\s*β\s*[-−]0\.2\s*loss\s*0\.32\s*accuracy/,
    );
    expect(problems).toEqual([]);
    await page.close();
  });
});
