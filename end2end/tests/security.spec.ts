import { test, expect, type Page } from '@playwright/test';
import { createHash } from 'node:crypto';
import { OwnServer } from './fixtures/server';

const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const TOKENS = { viewer: 'e2e-viewer-token', operator: 'e2e-operator-token', ingest: 'e2e-ingest-token' };

const SECURED = `
[alerts]
eval_interval = "500ms"
default_rules = false

[[alerts.rules]]
name = "GuardedFails"
severity = "critical"
summary = "{{agent_id}} failed"
condition = { kind = "execution_failed", agent_id = "guarded", window = "10m" }

${Object.entries(TOKENS)
  .map(([role, token]) => `[[auth.tokens]]\nname = "${role}-user"\nrole = "${role}"\nsha256 = "${sha(token)}"\n`)
  .join('\n')}
`;

async function signIn(page: Page, url: string, token: string) {
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(url);
}

test('sign in with a token, come back to the page asked for, sign out', async ({ page }) => {
  const server = new OwnServer(OwnServer.config(SECURED), TOKENS.ingest);
  await server.start();
  try {
    await page.goto(`${server.url}/agents`);
    await expect(page).toHaveURL(/\/login\?next=%2Fagents/);
    await page.getByLabel('Access token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').filter({ hasText: 'unknown token' })).toBeVisible();

    await signIn(page, `${server.url}/agents`, TOKENS.viewer);
    await expect(page.getByTestId('signed-in')).toHaveText('viewer-user · viewer');
    await expect(page.getByTestId('connection')).toHaveText('Live');
    // The cookie is the browser's only credential, and scripts cannot read it.
    expect(await page.evaluate(() => document.cookie)).toBe('');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/login$/);
    await page.goto(`${server.url}/executions`);
    await expect(page).toHaveURL(/\/login\?next=%2Fexecutions/);
  } finally {
    await server.stop();
  }
});

test('a viewer cannot acknowledge; an operator can, under their own name', async ({ page }) => {
  const server = new OwnServer(OwnServer.config(SECURED), TOKENS.ingest);
  await server.start();
  try {
    await server.ingest([
      { type: 'execution', id: 'g1', agent_id: 'guarded', status: 'RUNNING' },
      { type: 'status', execution_id: 'g1', status: 'FAILED', error: 'boom' },
    ]);
    await page.goto(`${server.url}/alerts`);
    await signIn(page, `${server.url}/alerts`, TOKENS.viewer);
    const row = page.getByRole('table', { name: 'Active alerts' }).getByRole('row').filter({ hasText: 'GuardedFails' });
    await expect(row).toContainText('firing', { timeout: 10_000 });
    const ack = row.getByRole('button', { name: 'Acknowledge' });
    await expect(ack).toBeDisabled();
    await expect(ack).toHaveAttribute('title', /need the role operator or admin/);
    // Going around the UI does not help: the server refuses the viewer's session.
    const id = await row.getAttribute('data-alert');
    const status = await page.evaluate(async (id) => {
      const r = await fetch(`/api/alerts/${id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by: 'viewer', note: 'sneaky' }) });
      return r.status;
    }, id);
    expect(status).toBe(403);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/login$/);
    await page.goto(`${server.url}/alerts`);
    await signIn(page, `${server.url}/alerts`, TOKENS.operator);
    await row.getByRole('button', { name: 'Acknowledge' }).click();
    const dialog = page.getByRole('dialog', { name: 'Acknowledge alert' });
    await expect(dialog.getByLabel('Your name')).toHaveValue('operator-user');
    await dialog.getByLabel('Note').fill('looking into it');
    await dialog.getByRole('button', { name: 'Acknowledge' }).click();
    await expect(row).toContainText('acknowledged by operator-user');
  } finally {
    await server.stop();
  }
});

test('agent names and log lines with markup render as text', async ({ page }) => {
  const server = new OwnServer();
  await server.start();
  const script = '<script>window.__xss = 1</script>';
  const img = '<img src=x onerror="window.__xss = 2">';
  try {
    await server.ingest([
      { type: 'agent', id: 'xss-agent', name: `${script} ${img}` },
      { type: 'execution', id: 'xss-exec', agent_id: 'xss-agent', status: 'RUNNING', input: img },
      { type: 'log', execution_id: 'xss-exec', level: 'error', message: `tool said ${script}` },
      { type: 'log', execution_id: 'xss-exec', level: 'info', message: `tool said ${img}` },
    ]);
    await page.goto(`${server.url}/agents`);
    await expect(page.getByText(`${script} ${img}`).first()).toBeVisible();
    await page.goto(`${server.url}/executions/xss-exec`);
    await expect(page.getByText(`tool said ${script}`)).toBeVisible();
    await expect(page.getByText(`tool said ${img}`)).toBeVisible();
    expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await page.locator('main script').count()).toBe(0);
  } finally {
    await server.stop();
  }
});
