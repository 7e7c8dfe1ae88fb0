import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { simulatedModel } from '../../src/models/simulated.js';
import { router } from '../../src/router/index.js';
import { serve } from '../../src/server/serve.js';
import type { Gateway } from '../../src/server/serve.js';
import { CHROMIUM_ARGS, describeWithChromium } from '../support/chromium.js';

describeWithChromium('dashboard in headless Chromium', (executablePath) => {
  let browser: Browser;
  let gateway: Gateway;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
    // Real time, slow enough streaming (about two seconds a task) to cancel one mid-stream.
    const agent = simulatedModel({
      seed: 3,
      latency: { minMs: 20, maxMs: 60 },
      tokensPerSecond: 15,
      outputTokens: 30,
    });
    gateway = await serve({ agent, pool: { concurrency: 4 }, metricsIntervalMs: 50 });
  }, 30_000);

  afterAll(async () => {
    await browser.close();
    await gateway.close();
  });

  it('streams four prompts into four panes, settles them, and cancels one', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    await page.goto(`${gateway.url}/`);
    await page.waitForSelector('#connection:text("connected")');
    await page.fill('#prompts', 'Summarise RxJS\nExplain backpressure\nName three rivers\nWrite a haiku');
    await page.click('#submit');
    await page.locator('.pane[data-status="running"]').nth(3).waitFor();
    // Every pane's text grows while running (a locator, not a string predicate: the page's CSP forbids eval).
    await page.locator('.pane .text:empty').first().waitFor({ state: 'detached' });
    const victim = page.locator('.pane').filter({ hasText: 'Write a haiku' });
    await victim.locator('.cancel').click();
    await page.locator('.pane[data-status="fulfilled"]').nth(2).waitFor({ timeout: 15_000 });
    await expectStatus(victim, 'rejected');
    expect(await victim.locator('.error').textContent()).toMatch(/^E_CANCELLED: /);
    expect(await page.locator('.pane[data-status="fulfilled"]').count()).toBe(3);
    for (const pane of await page.locator('.pane[data-status="fulfilled"]').all()) {
      expect((await pane.locator('.text').textContent())?.length).toBeGreaterThan(10);
      expect(await pane.locator('.timing').textContent()).toMatch(/^\d+ ms, \d+ tokens, 1 attempt/);
    }
    await page.locator('#m-completed', { hasText: /^3$/ }).waitFor();
    await page.locator('#m-failed', { hasText: /^1$/ }).waitFor();
    expect(await page.textContent('#m-inflight')).toBe('0');
    expect(problems).toEqual([]);
    await page.close();
  }, 30_000);

  it('shows on each pane the deployment a router sent the task to', async () => {
    const deployment = (id: string, seed: number) => ({
      id,
      agent: simulatedModel({ seed, latency: 10, tokensPerSecond: 200, outputTokens: 5 }),
    });
    const routed = await serve({
      agent: router({ deployments: [deployment('east', 1), deployment('west', 2)], strategy: 'least-busy' }),
      pool: { concurrency: 4 },
    });
    const page = await browser.newPage();
    try {
      await page.goto(`${routed.url}/`);
      await page.waitForSelector('#connection:text("connected")');
      await page.fill('#prompts', 'First\nSecond');
      await page.click('#submit');
      await page.locator('.pane[data-status="fulfilled"]').nth(1).waitFor({ timeout: 15_000 });
      expect((await page.locator('.pane .route').allTextContents()).sort()).toEqual(['→ east', '→ west']);
    } finally {
      await page.close();
      await routed.close();
    }
  }, 30_000);

  it('fans a topic out into several panes', async () => {
    const page = await browser.newPage();
    await page.goto(`${gateway.url}/`);
    await page.waitForSelector('#connection:text("connected")');
    await page.fill('#topic', 'tide pools');
    await page.click('#fan-out');
    await page.locator('.pane[data-status="fulfilled"]').nth(4).waitFor({ timeout: 20_000 });
    expect(await page.locator('.pane .prompt').allTextContents()).toContain(
      'Write the history of tide pools.',
    );
    await page.close();
  }, 30_000);
});

async function expectStatus(
  pane: ReturnType<import('playwright-core').Page['locator']>,
  status: string,
): Promise<void> {
  await pane.and(pane.page().locator(`[data-status="${status}"]`)).waitFor();
}
