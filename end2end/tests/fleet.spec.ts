import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as net from 'node:net';
import { Dashboard } from './fixtures/dashboard';
import { OwnServer } from './fixtures/server';

// The machine's PostgreSQL and NATS JetStream (see README, "Scale out").
const PG = 'postgres://postgres@127.0.0.1:5432/test';
const NATS_PORT = 4222;

function psql(sql: string) {
  execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    stdio: 'ignore',
  });
}

/** Deletes a JetStream stream, speaking the NATS protocol (no client library needed). */
function deleteStream(name: string): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(NATS_PORT, '127.0.0.1');
    let asked = false;
    const done = () => {
      s.destroy();
      resolve();
    };
    s.on('data', (d) => {
      if (!asked && d.toString().startsWith('INFO')) {
        asked = true;
        s.write(`CONNECT {"verbose":false}\r\nSUB _INBOX.e2e 1\r\nPUB $JS.API.STREAM.DELETE.${name} _INBOX.e2e 0\r\n\r\n`);
      } else if (d.toString().includes('MSG _INBOX.e2e')) {
        done();
      }
    });
    s.on('error', done);
    setTimeout(done, 5_000);
  });
}

test('a browser on instance B reads the lines of an execution ingested at A as they are written', async ({ page }) => {
  const name = `obs_e2e_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  psql(`CREATE SCHEMA ${name}`);
  const args = ['--store', `${PG}?options=-c%20search_path%3D${name}`, '--bus', `nats://127.0.0.1:${NATS_PORT}`, '--bus-stream', name];
  const a = new OwnServer(args);
  const b = new OwnServer(args);
  try {
    await a.start();
    await b.start();
    const id = 'fleet-run';
    await a.ingest([
      { type: 'execution', id, agent_id: 'fleet-agent', status: 'RUNNING' },
      { type: 'log', execution_id: id, message: 'written at A' },
    ]);
    const d = new Dashboard(page);
    await page.goto(`${b.url}/executions/${id}`);
    await expect(page.getByTestId('connection')).toHaveText(/Live/);
    await expect(d.logView()).toContainText('written at A');
    for (let i = 1; i <= 5; i++) {
      await a.ingest([{ type: 'log', execution_id: id, message: `streamed ${i} through A` }]);
      await expect(d.logView()).toContainText(`streamed ${i} through A`);
    }
    await expect(page.getByTestId('log-count')).toHaveText('6 lines');
    await a.ingest([{ type: 'status', execution_id: id, status: 'COMPLETED', output: 'done' }]);
    await expect(page.getByText('Completed', { exact: true }).first()).toBeVisible();
    await page.screenshot({ path: 'test-results/fleet-b.png' });
  } finally {
    await a.stop();
    await b.stop();
    psql(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
    await deleteStream(name);
  }
});
