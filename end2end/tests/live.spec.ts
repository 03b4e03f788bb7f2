import { test, expect } from '@playwright/test';
import { Dashboard } from './fixtures/dashboard';
import { OwnServer } from './fixtures/server';

test('an execution streams live and survives a server restart', async ({ page }) => {
  const server = new OwnServer();
  await server.start();
  try {
    const id = 'live-restart';
    await server.ingest([
      { type: 'execution', id, agent_id: 'streamer', status: 'RUNNING' },
      { type: 'log', execution_id: id, message: 'before anything' },
    ]);
    const d = new Dashboard(page);
    await page.goto(`${server.url}/executions/${id}`);
    const status = page.getByTestId('connection');
    await expect(status).toHaveText(/Live/);
    await expect(d.logView()).toContainText('before anything');

    for (let i = 1; i <= 5; i++) {
      await server.ingest([{ type: 'log', execution_id: id, message: `streamed ${i}` }]);
      await expect(d.logView()).toContainText(`streamed ${i}`);
    }

    await server.stop();
    await expect(status).toHaveText(/Reconnecting|Offline/);
    await server.start();
    await expect(status).toHaveText(/Live/, { timeout: 30_000 });

    // Lines written after the restart stream in, after the old ones, with nothing repeated.
    await server.ingest([{ type: 'log', execution_id: id, level: 'error', message: 'after restart' }]);
    await expect(d.logView()).toContainText('after restart');
    await expect(page.getByTestId('log-count')).toHaveText('7 lines');
    await expect(d.logView().locator('.log-line').last()).toContainText('after restart');
  } finally {
    await server.stop();
  }
});

test('a subscribed execution that does not exist yet appears when it starts', async ({ page }) => {
  const server = new OwnServer();
  await server.start();
  try {
    const id = 'not-yet';
    const d = new Dashboard(page);
    await page.goto(`${server.url}/executions/${id}`);
    await expect(page.getByText('Waiting for this execution')).toBeVisible();
    await server.ingest([
      { type: 'execution', id, agent_id: 'late', status: 'RUNNING' },
      { type: 'log', execution_id: id, message: 'finally here' },
    ]);
    await expect(d.logView()).toContainText('finally here');
    await expect(page.getByRole('heading', { name: id })).toBeVisible();
  } finally {
    await server.stop();
  }
});

test('the log view follows the tail, pauses when scrolled up, and filters', async ({ page }) => {
  const server = new OwnServer();
  await server.start();
  try {
    const id = 'many-lines';
    const lines = Array.from({ length: 3000 }, (_, i) => ({ type: 'log', execution_id: id, level: i % 10 === 0 ? 'error' : 'info', message: `row ${i + 1}` }));
    await server.ingest([{ type: 'execution', id, agent_id: 'bulk', status: 'RUNNING' }, ...lines]);
    const d = new Dashboard(page);
    await page.goto(`${server.url}/executions/${id}`);
    // The backlog is the last 500 lines; only the visible ones are in the DOM.
    await expect(page.getByTestId('log-count')).toHaveText('500 lines');
    await expect(d.logView()).toContainText('row 3000');
    expect(await d.logView().locator('.log-line').count()).toBeLessThan(120);

    await d.logView().evaluate((el) => (el.scrollTop = 0));
    await expect(page.getByRole('button', { name: /Jump to latest/ })).toBeVisible();
    await server.ingest([{ type: 'log', execution_id: id, message: 'while scrolled up' }]);
    await expect(page.getByTestId('log-count')).toHaveText('501 lines');
    expect(await d.logView().evaluate((el) => el.scrollTop)).toBeLessThan(100);
    await page.getByRole('button', { name: /Jump to latest/ }).click();
    await expect(d.logView()).toContainText('while scrolled up');

    await page.getByRole('combobox', { name: 'Minimum level' }).selectOption('error');
    await expect(page.getByTestId('log-count')).toHaveText('50 of 501 lines');
    await page.getByRole('searchbox', { name: 'Search logs' }).fill('row 2991');
    await expect(page.getByTestId('log-count')).toHaveText('1 of 501 lines');
  } finally {
    await server.stop();
  }
});
