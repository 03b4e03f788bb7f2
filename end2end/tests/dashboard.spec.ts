import { test, expect } from '@playwright/test';
import { Dashboard, ingest } from './fixtures/dashboard';

const DEMO_AGENTS = ['Research Agent', 'Writer Agent', 'Code Reviewer', 'Support Triage', 'Data Analyst', 'Planner'];

test('the overview shows KPI tiles with numbers and drawn charts', async ({ page }) => {
  const d = new Dashboard(page);
  await d.open('/');
  await expect(page.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  await expect(d.kpi('Active agents')).toHaveText(/^\d+$/);
  await expect.poll(async () => Number(await d.kpi('Active agents').textContent())).toBeGreaterThanOrEqual(8);
  await expect(d.kpi('Tokens / min')).toHaveText(/^\d/);
  await expect(page.getByTestId('connection')).toHaveText(/Live/);

  // The throughput chart is drawn: its canvas has many distinct colours, not one fill.
  const canvas = page.getByRole('img', { name: /^Executions by status/ });
  await expect(canvas).toBeVisible();
  await expect
    .poll(() =>
      canvas.evaluate((c: HTMLCanvasElement) => {
        const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        const colours = new Set<number>();
        for (let i = 0; i < data.length; i += 4 * 7) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        return colours.size;
      }),
    )
    .toBeGreaterThan(5);
});

test('the agents table lists the demo agents, sorts and filters', async ({ page }) => {
  const d = new Dashboard(page);
  await d.open('/');
  await d.nav('Agents').click();
  await expect(page).toHaveURL(/\/agents$/);
  const table = d.table('Agents');
  for (const name of DEMO_AGENTS) {
    await expect(table.getByRole('link', { name, exact: true })).toBeVisible();
  }
  await expect(d.rows('Agents')).toHaveCount(8);

  // Sort by name, descending: Writer Agent first.
  await table.getByRole('button', { name: /^Agent/ }).click();
  await expect(table.getByRole('columnheader', { name: /Agent/ }).first()).toHaveAttribute('aria-sort', 'descending');
  await expect(d.rows('Agents').first()).toContainText('Writer Agent');

  // Filter by text.
  await page.getByRole('searchbox', { name: 'Filter agents' }).fill('scraper');
  await expect(d.rows('Agents')).toHaveCount(1);
  await expect(d.rows('Agents').first()).toContainText('Scraper Agent');
});

test('an execution opens and shows its logs', async ({ page }) => {
  const d = new Dashboard(page);
  await d.open('/executions');
  await expect(d.rows('Executions').first()).toBeVisible();
  const first = d.table('Executions').locator('tbody tr').first().getByRole('link').first();
  const id = (await first.textContent())!.trim();
  // By its id: the demo keeps starting executions, so the first row may be another one by now.
  await d.table('Executions').getByRole('link', { name: id, exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/executions/${id}$`));
  await expect(page.getByRole('heading', { name: id })).toBeVisible();
  await expect(d.logView().locator('.log-line').first()).toBeVisible();
  await expect(d.logView()).toContainText(/started/);
});

test('log lines ingested during the test appear without reload', async ({ page, request }) => {
  const id = `e2e-${Date.now()}`;
  await ingest(request, [
    { type: 'agent', id: 'e2e-agent', name: 'E2E Agent' },
    { type: 'execution', id, agent_id: 'e2e-agent', status: 'RUNNING' },
    { type: 'log', execution_id: id, message: 'hello from the test' },
  ]);
  const d = new Dashboard(page);
  await d.open(`/executions/${id}`);
  await expect(d.logView()).toContainText('hello from the test');
  await expect(page.getByText('Running', { exact: true }).first()).toBeVisible();

  for (let i = 1; i <= 3; i++) {
    await ingest(request, [{ type: 'log', execution_id: id, level: 'warn', message: `live line ${i}` }]);
    await expect(d.logView()).toContainText(`live line ${i}`);
  }
  await ingest(request, [{ type: 'status', execution_id: id, status: 'COMPLETED' }]);
  await expect(page.getByText('Completed', { exact: true }).first()).toBeVisible();
});

test('agent text is rendered as text, never as markup', async ({ page, request }) => {
  const id = `xss-${Date.now()}`;
  const evil = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>';
  await ingest(request, [
    { type: 'agent', id: 'xss-agent', name: evil },
    { type: 'execution', id, agent_id: 'xss-agent', status: 'RUNNING' },
    { type: 'log', execution_id: id, message: evil },
  ]);
  const d = new Dashboard(page);
  await d.open(`/executions/${id}`);
  await expect(d.logView()).toContainText('<script>');
  expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
  await expect(page.locator('img[src="x"]')).toHaveCount(0);
});

test('unknown pages and executions say so', async ({ page }) => {
  const d = new Dashboard(page);
  await d.open('/no/such/page');
  await expect(page.getByText('Nothing here')).toBeVisible();
  await d.open('/executions/does-not-exist');
  await expect(page.getByText('Waiting for this execution')).toBeVisible();
  await expect(page.getByRole('status').filter({ hasText: 'Waiting' })).toContainText('not found');
});

test('workflows, LLM, tools and system views render with demo data', async ({ page }) => {
  const d = new Dashboard(page);
  await d.open('/');
  await d.nav('Workflows').click();
  await expect(d.table('Workflows')).toContainText('Content Pipeline');
  await d.table('Workflows').getByRole('link', { name: 'Content Pipeline' }).click();
  await expect(page.getByRole('heading', { name: 'Content Pipeline' })).toBeVisible();
  await expect(d.kpi('Executions')).toHaveText(/^\d/);
  await expect(page.getByRole('table', { name: 'Executions' })).toContainText(/research-agent|writer-agent/);
  await d.nav('Workflows').click();
  await d.nav('LLM').click();
  await expect(d.table('LLM models')).toContainText('gpt-4o');
  await expect(d.kpi('Requests')).toHaveText(/^\d/);
  await d.nav('Tools & plugins').click();
  await expect(d.table('Tools and plugins')).toContainText('Vector DB');
  await d.nav('System').click();
  await expect(page.getByRole('region', { name: 'Observatory' })).toContainText('healthy');
  await expect(page.getByRole('region', { name: /^Host / }).first()).toBeVisible();
  await expect(d.kpi('WebSocket clients')).toHaveText(/^[1-9]/);
});

test('the ingest page shows the last hour by source and the reasons for refusals', async ({ page, request }) => {
  // One bad batch, so a refusal is there to read.
  const bad = await request.post('/api/v1/events', { data: [{ type: 'log' }] });
  expect(bad.status()).toBe(400);
  const d = new Dashboard(page);
  await d.open('/');
  await d.nav('Ingest').click();
  await expect(page.getByRole('heading', { name: /Ingest, last 60 minutes/ })).toBeVisible();
  await expect(d.kpi('Items accepted')).toHaveText(/^[1-9]/);
  // Without auth, producers are anonymous; the demo feeds in-process.
  await expect(d.table('Ingest by source')).toContainText('in-process');
  await expect(d.table('Ingest by source')).toContainText('anonymous');
  await expect(d.table('Refused by reason').locator('tr[data-reason="validation"]')).toBeVisible();
  await expect(page.getByRole('img', { name: 'Items per minute' })).toBeVisible();
});
