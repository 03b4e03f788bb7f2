import { test, expect, type Locator } from '@playwright/test';
import { Dashboard } from './fixtures/dashboard';
import { OwnServer } from './fixtures/server';

/** Distinct colours on a canvas, sampled: a drawn chart has many, a blank one one or two. */
function colours(canvas: Locator) {
  return canvas.evaluate((c: HTMLCanvasElement) => {
    const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < data.length; i += 4 * 7) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
  });
}

test('the time range is in the address and every range draws its charts', async ({ page }) => {
  const d = new Dashboard(page);
  await d.open('/');
  const range = page.getByRole('navigation', { name: 'Time range' });
  await expect(range.getByRole('link', { name: '1h' })).toHaveAttribute('aria-current', 'true');
  for (const r of ['15m', '6h', '24h', '7d']) {
    await range.getByRole('link', { name: r, exact: true }).click();
    await expect(page).toHaveURL(new RegExp(`[?]range=${r}$`));
    await expect(range.getByRole('link', { name: r, exact: true })).toHaveAttribute('aria-current', 'true');
    for (const name of ['Executions by status', 'Execution duration', 'Tokens by provider', 'Error rate']) {
      const canvas = page.getByRole('img', { name: new RegExp(`^${name}`) });
      await expect.poll(() => colours(canvas), { message: `${name} at ${r}` }).toBeGreaterThan(5);
    }
  }
  // A shared link opens on its range.
  await d.open('/?range=24h');
  await expect(range.getByRole('link', { name: '24h' })).toHaveAttribute('aria-current', 'true');
});

test('legend entries hide and show their series, and the readout follows pointer and keys', async ({ page }) => {
  const d = new Dashboard(page);
  await d.open('/?range=15m');
  const figure = page.locator('figure', { has: page.getByRole('img', { name: /^Executions by status/ }) });
  const canvas = figure.getByRole('img');
  await expect.poll(() => colours(canvas)).toBeGreaterThan(5);

  const completed = figure.getByRole('button', { name: 'completed' });
  await expect(completed).toHaveAttribute('aria-pressed', 'true');
  const before = await canvas.getAttribute('data-draw-ms');
  await completed.click();
  await expect(completed).toHaveAttribute('aria-pressed', 'false');
  // Hidden: the readout no longer lists it.
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2);
  const readout = figure.getByTestId('chart-readout');
  await expect(readout).toBeVisible();
  await expect(readout).toContainText('failed');
  await expect(readout).not.toContainText('completed');
  await completed.click();
  await expect(completed).toHaveAttribute('aria-pressed', 'true');
  await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2);
  await expect(readout).toContainText('completed');
  expect(before).not.toBeNull();

  // Keyboard: focus the chart, Home reads the first step, End the last.
  await page.mouse.move(0, 0);
  await expect(readout).toHaveCount(0);
  await canvas.focus();
  await page.keyboard.press('Home');
  const first = await readout.locator('.readout-time').textContent();
  await page.keyboard.press('End');
  await expect(readout.locator('.readout-time')).not.toHaveText(first!);
  await page.keyboard.press('ArrowLeft');
  await expect(readout).toBeVisible();
});

test('agent detail and LLM pages have their charts', async ({ page }) => {
  const d = new Dashboard(page);
  await d.open('/agents/support-triage?range=15m');
  await expect(page.getByRole('heading', { name: 'Support Triage' })).toBeVisible();
  for (const name of ['Executions by status', 'Execution duration']) {
    await expect.poll(() => colours(page.getByRole('img', { name: new RegExp(`^${name}`) }))).toBeGreaterThan(5);
  }
  await d.open('/llm?range=15m');
  for (const name of ['LLM latency', 'Time to first token', 'Tokens by provider']) {
    await expect.poll(() => colours(page.getByRole('img', { name: new RegExp(`^${name}`) }))).toBeGreaterThan(5);
  }
});

test('ten thousand agents: only the rows in view are in the page, and scrolling reaches the last', async ({ page }) => {
  test.setTimeout(120_000);
  const server = new OwnServer();
  await server.start();
  try {
    const agents = Array.from({ length: 10_000 }, (_, i) => ({
      type: 'agent',
      id: `agent-${String(i).padStart(5, '0')}`,
      name: `Agent ${String(i).padStart(5, '0')}`,
      kind: i % 2 ? 'langgraph' : 'crewai',
    }));
    for (let i = 0; i < agents.length; i += 2000) await server.ingest(agents.slice(i, i + 2000));
    const d = new Dashboard(page);
    await page.goto(`${server.url}/agents`);
    await expect(page.getByText('10000 agents')).toBeVisible();
    const table = d.table('Agents');
    await expect(table).toHaveAttribute('aria-rowcount', '10001');
    await expect(table.getByRole('link', { name: 'Agent 00000' })).toBeVisible();
    expect(await d.rows('Agents').count()).toBeLessThan(100);

    await page.locator('.table-wrap.virtual').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await expect(table.getByRole('link', { name: 'Agent 09999' })).toBeVisible();
    expect(await d.rows('Agents').count()).toBeLessThan(100);

    // Sorting and filtering work on all of them, not on the rows in view.
    await table.getByRole('button', { name: /^Agent/ }).click();
    await page.locator('.table-wrap.virtual').evaluate((el) => (el.scrollTop = 0));
    await expect(d.rows('Agents').first()).toContainText('Agent 09999');
    await page.getByRole('searchbox', { name: 'Filter agents' }).fill('Agent 0424');
    await expect(d.rows('Agents')).toHaveCount(10);
  } finally {
    await server.stop();
  }
});
