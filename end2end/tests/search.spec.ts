import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import { OwnServer } from './fixtures/server';

/** Runs of two end users in two conversations, across two environments. */
async function seed(server: OwnServer) {
  const run = (id: string, agent: string, session: string, user: string, env: string, status: string, extra = {}) => ({
    type: 'execution', id, agent_id: agent, status, session_id: session, user_id: user, environment: env,
    input: `question of ${id}`, ...extra,
  });
  await server.ingest([
    run('t1', 'support', 'conv-a', 'alice', 'production', 'COMPLETED', { output: 'answered t1' }),
    run('t2', 'support', 'conv-a', 'alice', 'production', 'FAILED', { error: 'RateLimitError: slow down' }),
    run('t3', 'billing', 'conv-b', 'bob', 'staging', 'COMPLETED'),
    { type: 'log', execution_id: 't3', message: 'refund issued for order 1234' },
    { type: 'llm_call', execution_id: 't1', provider: 'openai', model: 'gpt-4o', tokens_in: 100, tokens_out: 20, latency_ms: 300 },
  ]);
}

test('the search box filters executions, keeps its query in the address, and explains bad syntax', async ({ page }) => {
  const server = new OwnServer();
  await server.start();
  try {
    await seed(server);
    await page.goto(`${server.url}/executions`);
    const box = page.getByTestId('search');
    await box.fill('model:gpt-4o OR "refund issued"');
    await box.press('Enter');
    await expect(page).toHaveURL(/q=model%3Agpt-4o%20OR%20%22refund%20issued%22/);
    const rows = page.locator('table.data tbody tr');
    await expect(rows).toHaveCount(2);
    await expect(page.getByRole('link', { name: 't1', exact: true })).toBeVisible();
    await expect(page.getByRole('link', { name: 't3', exact: true })).toBeVisible();

    // A link reproduces the view.
    await page.goto(`${server.url}/executions?q=${encodeURIComponent('status:failed user:alice')}`);
    await expect(page.getByTestId('search')).toHaveValue('status:failed user:alice');
    await expect(rows).toHaveCount(1);
    await expect(page.getByRole('link', { name: 't2', exact: true })).toBeVisible();

    // Bad syntax is explained under the box, with where, before anything is sent.
    await box.fill('agent:support (env:production');
    const problem = page.getByTestId('search-error');
    await expect(problem).toContainText('At character 30: expected `)`, found end of query');
    await expect(page.getByRole('button', { name: 'Search' })).toBeDisabled();
    await box.fill('agent:support');
    await expect(problem).toHaveCount(0);

    // The environment switcher scopes the list.
    await page.goto(`${server.url}/executions`);
    await expect(rows).toHaveCount(3);
    await page.getByTestId('env-switcher').selectOption('staging');
    await expect(rows).toHaveCount(1);
    await expect(page.getByRole('link', { name: 't3', exact: true })).toBeVisible();
    await page.getByTestId('env-switcher').selectOption('');
    await expect(rows).toHaveCount(3);
  } finally {
    await server.stop();
  }
});

test('a running execution that matches appears live, and a saved view is listed in the navigation', async ({ page }) => {
  const server = new OwnServer();
  await server.start();
  try {
    await seed(server);
    await page.goto(`${server.url}/executions?q=${encodeURIComponent('user:alice status:running')}`);
    await expect(page.getByText('No executions match')).toBeVisible();
    await server.ingest([{ type: 'execution', id: 't4', agent_id: 'support', status: 'RUNNING', user_id: 'alice', session_id: 'conv-a' }]);
    await expect(page.getByRole('link', { name: 't4', exact: true })).toBeVisible();
    await server.ingest([{ type: 'status', execution_id: 't4', status: 'COMPLETED' }]);
    await expect(page.getByText('No executions match')).toBeVisible();

    page.once('dialog', (d) => d.accept('Alice running'));
    await page.getByRole('button', { name: 'Save view' }).click();
    const views = page.getByTestId('saved-views');
    await expect(views.getByRole('link', { name: 'Alice running' })).toBeVisible();
    // It survives a reload (it is stored), and opens its query.
    await page.goto(`${server.url}/`);
    await views.getByRole('link', { name: 'Alice running' }).click();
    await expect(page.getByTestId('search')).toHaveValue('user:alice status:running');
  } finally {
    await server.stop();
  }
});

test('a session page lists its turns in order and shows a new turn as it happens', async ({ page }) => {
  const server = new OwnServer();
  await server.start();
  try {
    await seed(server);
    await page.goto(`${server.url}/sessions`);
    await expect(page.getByRole('link', { name: 'conv-a' })).toBeVisible();
    await page.getByRole('link', { name: 'conv-a' }).click();
    await expect(page).toHaveURL(/\/sessions\/conv-a$/);
    const turns = page.getByTestId('turn');
    await expect(turns).toHaveCount(2);
    await expect(turns.nth(0)).toContainText('question of t1');
    await expect(turns.nth(1)).toContainText('RateLimitError');

    await server.ingest([
      { type: 'execution', id: 't5', agent_id: 'support', status: 'RUNNING', session_id: 'conv-a', user_id: 'alice', input: 'and one more thing' },
    ]);
    await expect(turns).toHaveCount(3);
    await expect(turns.nth(2)).toContainText('and one more thing');
    await expect(turns.nth(2)).toContainText('Running');

    await page.goto(`${server.url}/users`);
    await expect(page.getByRole('link', { name: 'alice' })).toBeVisible();
    await expect(page.getByRole('link', { name: 'bob' })).toBeVisible();
  } finally {
    await server.stop();
  }
});

test('the export button downloads the listed executions as CSV', async ({ page }) => {
  const server = new OwnServer();
  await server.start();
  try {
    await seed(server);
    await page.goto(`${server.url}/executions?q=${encodeURIComponent('session:conv-a')}`);
    await expect(page.locator('table.data tbody tr')).toHaveCount(2);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
    expect(download.suggestedFilename()).toBe('executions.csv');
    const csv = fs.readFileSync((await download.path())!, 'utf8').trim().split('\n');
    expect(csv[0]).toMatch(/^id,agent_id,status,/);
    expect(csv.slice(1).map((l) => l.split(',')[0]).sort()).toEqual(['t1', 't2']);
  } finally {
    await server.stop();
  }
});
