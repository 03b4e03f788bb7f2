import { test, expect, type Page } from '@playwright/test';
import { OwnServer } from './fixtures/server';

const CONFIG = `
[alerts]
eval_interval = "500ms"
default_rules = false

[[alerts.rules]]
name = "FlakyFails"
severity = "critical"
summary = "{{agent_id}} failed {{value}} times"
condition = { kind = "execution_failed", agent_id = "flaky", window = "6s" }

[[alerts.rules]]
name = "NoisyFails"
summary = "{{agent_id}} failed"
condition = { kind = "execution_failed", agent_id = "noisy", window = "30s" }
`;

let n = 0;
async function fail(server: OwnServer, agent: string) {
  const id = `${agent}-${Date.now()}-${n++}`;
  await server.ingest([
    { type: 'execution', id, agent_id: agent, status: 'RUNNING' },
    { type: 'status', execution_id: id, status: 'FAILED', error: 'upstream 502' },
  ]);
}

function alertRow(page: Page, rule: string) {
  return page.getByRole('table', { name: 'Active alerts' }).getByRole('row').filter({ hasText: rule });
}

test('acknowledge an alert with a note, restart, still acknowledged, then it resolves', async ({ page }) => {
  const server = new OwnServer(OwnServer.config(CONFIG));
  await server.start();
  let failing: NodeJS.Timeout | undefined;
  try {
    await page.goto(`${server.url}/alerts`);
    await expect(page.getByText('All clear')).toBeVisible();

    // The agent fails repeatedly: the alert appears within seconds, with a toast.
    await fail(server, 'flaky');
    failing = setInterval(() => fail(server, 'flaky').catch(() => {}), 1000);
    const row = alertRow(page, 'FlakyFails');
    await expect(row).toContainText('firing', { timeout: 10_000 });
    await expect(page.getByRole('alert').filter({ hasText: 'FlakyFails' })).toBeVisible();
    await expect(page.getByTestId('firing-count')).toHaveText('1 firing');
    await expect(row.getByRole('link').first()).toHaveAttribute('href', /\/executions\/flaky-/);

    // Acknowledge with a note.
    await row.getByRole('button', { name: 'Acknowledge' }).click();
    const dialog = page.getByRole('dialog', { name: 'Acknowledge alert' });
    await dialog.getByLabel('Your name').fill('ana');
    await dialog.getByLabel('Note').fill('restarting the scraper');
    await dialog.getByRole('button', { name: 'Acknowledge' }).click();
    await expect(dialog).toBeHidden();
    await expect(row).toContainText('acknowledged by ana');
    await expect(row).toContainText('restarting the scraper');

    // Restart the server: still acknowledged.
    await server.stop();
    await server.start();
    await page.reload();
    await expect(alertRow(page, 'FlakyFails')).toContainText('acknowledged by ana', { timeout: 10_000 });
    await expect(page.getByRole('table', { name: 'Alert history' })).toContainText('acknowledged');

    // Stop the failures: resolved.
    clearInterval(failing);
    failing = undefined;
    const resolved = page.getByRole('table', { name: 'Resolved alerts' }).getByRole('row').filter({ hasText: 'FlakyFails' });
    await expect(resolved).toContainText('resolved', { timeout: 20_000 });
    await expect(page.getByText('All clear')).toBeVisible();
  } finally {
    if (failing) clearInterval(failing);
    await server.stop();
  }
});

test('a silence made from an alert mutes it', async ({ page }) => {
  const server = new OwnServer(OwnServer.config(CONFIG));
  await server.start();
  try {
    await fail(server, 'noisy');
    await page.goto(`${server.url}/alerts`);
    const row = alertRow(page, 'NoisyFails');
    await expect(row).toContainText('firing', { timeout: 10_000 });

    await row.getByRole('button', { name: 'Silence' }).click();
    const dialog = page.getByRole('dialog', { name: 'Silence notifications' });
    await expect(dialog.getByRole('status', { name: 'Silence preview' })).toContainText('Mutes 1 active alert now');
    await dialog.getByLabel('Your name').fill('bo');
    await dialog.getByLabel('Comment').fill('known outage');
    await dialog.getByRole('button', { name: 'Silence' }).click();
    await expect(dialog).toBeHidden();

    await expect(row).toContainText('silenced', { timeout: 10_000 });
    const silences = page.getByRole('table', { name: 'Active silences' });
    await expect(silences).toContainText('alertname=NoisyFails');
    await expect(silences).toContainText('known outage');

    await silences.getByRole('button', { name: 'Expire' }).click();
    await expect(page.getByRole('table', { name: 'Active silences' })).toBeHidden();
    await expect(row).not.toContainText('silenced', { timeout: 10_000 });
  } finally {
    await server.stop();
  }
});
