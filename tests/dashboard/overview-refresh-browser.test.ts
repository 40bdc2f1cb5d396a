/**
 * The overview fetched its data twice on every load: the stream opened only after the view had
 * asked for its data, and an open then means events may have been missed, so the page
 * refreshed (a second ranking and indicators, 4 MB with 200 enterprises, and a second render).
 * Now the stream opens while /me is asked and the first view waits for it: one fetch. A stream
 * that opens only after the view fetched still brings a refresh.
 *
 * The page's clock is Playwright's (page.clock): its refresh timers fire only when the test
 * runs the clock, so "no second fetch" is checked after every timer that could cause one ran.
 */
import type { BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWorkbench, type Workbench } from './workbench-fixture.js';

/** Counts the page's requests for the overview's data as it makes them (before any answer). */
const COUNT_OVERVIEW_FETCHES = `(() => {
  window.__overviewFetches = 0;
  const fetch = window.fetch.bind(window);
  window.fetch = (input, init) => {
    if (/\\/api\\/v1\\/workbench\\/(overview|ranking)/.test(String(input))) window.__overviewFetches++;
    return fetch(input, init);
  };
})()`;

describe('the overview and the stream', () => {
  let w: Workbench;
  let token: string;
  let context: BrowserContext | null = null;

  beforeAll(async () => {
    w = await startWorkbench();
    const login = await fetch(`${w.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'regulator', password: 'demo-regulator' }),
    });
    token = ((await login.json()) as { token: string }).token;
  }, 30_000);
  afterEach(async () => {
    await context?.close();
    context = null;
  });
  afterAll(async () => {
    await w?.stop();
  });

  async function openPage(): Promise<Page> {
    context = await w.browser.newContext({ viewport: { width: 1366, height: 768 } });
    await context.addInitScript(
      `sessionStorage.setItem('hazardwatch.platform.token', ${JSON.stringify(token)})`,
    );
    await context.addInitScript(COUNT_OVERVIEW_FETCHES);
    const page = await context.newPage();
    await page.clock.install();
    return page;
  }

  const fetches = async (page: Page) => Number(await page.evaluate('window.__overviewFetches'));

  it('fetches the overview once when the stream opens before the view asks for its data', async () => {
    const page = await openPage();
    await page.goto(`${w.url}/platform`);
    await page.waitForSelector('html[data-ready="true"][data-view="overview"]');
    await page.waitForSelector('#pf-connection[data-state="open"]');
    await page.clock.runFor(10_000); // every debounce and minimum interval of a refresh
    expect(await fetches(page)).toBe(1);
    expect(await page.locator('#pf-ranking tbody tr[data-enterprise-id]').count()).toBe(2);
  }, 30_000);

  it('fetches it again when the stream opens only after the view asked for its data', async () => {
    const page = await openPage();
    let release: Route | null = null;
    await page.route('**/api/v1/stream**', (route) => {
      release = route;
    });
    await page.goto(`${w.url}/platform`);
    await page.waitForSelector('#pf-connection[data-state="connecting"]');
    await page.clock.runFor(1_000); // the first view's wait for the stream
    await page.waitForSelector('html[data-ready="true"][data-view="overview"]');
    expect(await fetches(page)).toBe(1);
    expect(release).not.toBeNull();
    await release!.continue();
    await page.waitForSelector('#pf-connection[data-state="open"]');
    await page.clock.runFor(10_000);
    expect(await fetches(page)).toBe(2);
  }, 30_000);
});
