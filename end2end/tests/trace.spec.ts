import { test, expect } from '@playwright/test';
import { Dashboard } from './fixtures/dashboard';

const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');

/** One OTLP/JSON span of an agent trace. */
function span(traceId: string, spanId: string, parent: string | undefined, name: string, startMs: number, endMs: number, attrs: Record<string, string | number>, events: object[] = []) {
  return {
    traceId,
    spanId,
    ...(parent ? { parentSpanId: parent } : {}),
    name,
    kind: 3,
    startTimeUnixNano: String(BigInt(startMs) * 1_000_000n),
    endTimeUnixNano: String(BigInt(endMs) * 1_000_000n),
    attributes: Object.entries(attrs).map(([key, v]) => ({
      key,
      value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v },
    })),
    events,
    status: {},
  };
}

function traces(spans: object[]) {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'e2e-otel-service' } }] },
        scopeSpans: [{ scope: { name: 'e2e' }, spans }],
      },
    ],
  };
}

test('an OpenTelemetry trace runs live, then completes, and its waterfall opens a span', async ({ page, request }) => {
  const traceId = hex(Date.now(), 32);
  const root = hex(1, 16);
  const t0 = Date.now() - 5_000;
  const agent = { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'OTel Agent', 'gen_ai.agent.id': 'otel-agent' };
  const chat = span(traceId, hex(2, 16), root, 'chat gpt-4o', t0 + 100, t0 + 1_900, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.usage.input_tokens': 1200,
    'gen_ai.usage.output_tokens': 340,
    'gen_ai.usage.cache_read.input_tokens': 400,
  }, [{
    timeUnixNano: String(BigInt(t0 + 150) * 1_000_000n),
    name: 'gen_ai.user.message',
    attributes: [{ key: 'content', value: { stringValue: 'find papers on agents' } }],
  }]);
  const tool = span(traceId, hex(3, 16), root, 'execute_tool web_search', t0 + 2_000, t0 + 2_600, {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': 'web_search',
  });
  const post = (body: object) => request.post('/v1/traces', { data: body, headers: { 'content-type': 'application/json' } });

  // Children first, as exporters send them: the execution is RUNNING before its root ends.
  expect((await post(traces([chat, tool]))).status()).toBe(200);
  const d = new Dashboard(page);
  await d.open(`/executions/${traceId}`);
  await expect(page.getByText('Running', { exact: true }).first()).toBeVisible();
  const waterfall = page.getByTestId('waterfall');
  await expect(waterfall).toContainText('2 spans');

  expect((await post(traces([span(traceId, root, undefined, 'invoke_agent OTel Agent', t0, t0 + 3_000, agent)]))).status()).toBe(200);
  await expect(page.getByText('Completed', { exact: true }).first()).toBeVisible();
  await expect(waterfall).toContainText('3 spans');
  const rows = waterfall.getByRole('row');
  await expect(rows).toHaveCount(3);
  await expect(rows.first()).toContainText('invoke_agent OTel Agent');
  await expect(rows.nth(1)).toContainText('gpt-4o');
  await expect(rows.nth(1)).toContainText('1200 → 340 tok');
  // 400 of the input tokens came from the prompt cache, priced at gpt-4o's cached rate:
  // 800 × $2.50 + 400 × $1.25 + 340 × $10 per million.
  await expect(rows.nth(1)).toContainText('400 cached');
  await expect(rows.nth(1)).toContainText('$0.0059');
  await expect(rows.nth(2)).toContainText('web_search');

  // The drawer shows a span's attributes.
  await rows.nth(1).click();
  const drawer = page.getByTestId('span-drawer');
  await expect(drawer).toContainText('gen_ai.request.model');
  await expect(drawer).toContainText('1.8 s');
  await expect(drawer).toContainText('openai / gpt-4o');
  await expect(drawer).toContainText('1200 in (400 cached) → 340 out');
  await expect(drawer).toContainText('gen_ai.user.message');
  await expect(drawer).toContainText('find papers on agents');
  await drawer.getByRole('button', { name: 'Close span details' }).click();
  await expect(drawer).toHaveCount(0);

  // Collapsing the root folds its children away.
  await rows.first().getByRole('button', { name: 'Collapse' }).click();
  await expect(rows).toHaveCount(1);
  await rows.first().getByRole('button', { name: 'Expand' }).click();
  await expect(rows).toHaveCount(3);

  // The agent named by the root span has the execution.
  await d.open('/agents/otel-agent');
  await expect(page.getByRole('heading', { name: 'OTel Agent' })).toBeVisible();
});

test('an agent service called by another completes at its entry span, whose parent is in another service', async ({ page, request }) => {
  const traceId = hex(Date.now() + 7, 32);
  const caller = hex(0xca11e4, 16);
  const entry = hex(1, 16);
  const t0 = Date.now() - 4_000;
  const chat = span(traceId, hex(2, 16), entry, 'chat gpt-4o', t0 + 100, t0 + 900, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.request.model': 'gpt-4o',
  });
  // Started from the caller's traceparent: both is-remote bits of `flags` are set.
  const server = { ...span(traceId, entry, caller, 'invoke_agent Planner', t0, t0 + 1_000, {
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.agent.name': 'Planner',
  }), kind: 2, flags: 0x300 };
  const res = await request.post('/v1/traces', { data: traces([chat, server]), headers: { 'content-type': 'application/json' } });
  expect(res.status()).toBe(200);

  const d = new Dashboard(page);
  await d.open(`/executions/${traceId}`);
  await expect(page.getByText('Completed', { exact: true }).first()).toBeVisible();
  const rows = page.getByTestId('waterfall').getByRole('row');
  await expect(rows).toHaveCount(2);
  await rows.first().click();
  const drawer = page.getByTestId('span-drawer');
  await expect(drawer).toContainText(`${caller} in another service`);
  await expect(drawer).toContainText('e2e-otel-service');
});

test('a trace of 10,000 spans renders only the rows in view and scrolls to its last span', async ({ page, request }) => {
  const traceId = hex(Date.now() + 7, 32);
  const root = hex(1, 16);
  const t0 = Date.now() - 60_000;
  const steps = 9_999;
  const children = Array.from({ length: steps }, (_, i) => {
    const n = i + 1;
    const at = t0 + 5 * n;
    return n % 3 === 0
      ? span(traceId, hex(n + 1, 16), root, `chat step-${n}`, at, at + 4, {
          'gen_ai.operation.name': 'chat',
          'gen_ai.request.model': 'gpt-4o-mini',
          'gen_ai.usage.input_tokens': 100,
          'gen_ai.usage.output_tokens': 10,
        })
      : span(traceId, hex(n + 1, 16), root, `GET /step-${n}`, at, at + 3, { 'http.request.method': 'GET' });
  });
  const post = (spans: object[]) =>
    request.post('/v1/traces', { data: traces(spans), headers: { 'content-type': 'application/json' } });
  for (let i = 0; i < steps; i += 5_000) {
    const resp = await post(children.slice(i, i + 5_000));
    expect(resp.status(), await resp.text()).toBe(200);
  }
  const agent = { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'Long Agent' };
  expect((await post([span(traceId, root, undefined, 'invoke_agent Long Agent', t0, t0 + 5 * steps + 10, agent)])).status()).toBe(200);

  const d = new Dashboard(page);
  await d.open(`/executions/${traceId}`);
  const waterfall = page.getByTestId('waterfall');
  await expect(waterfall).toContainText('10000 spans');
  // The earliest rows are in the page, the rest stand behind a spacer.
  const grid = page.getByRole('treegrid', { name: 'Spans' });
  const rows = grid.getByRole('row');
  await expect(rows.first()).toContainText('invoke_agent Long Agent');
  await expect(waterfall.getByText('GET /step-1', { exact: true })).toBeVisible();
  expect(await rows.count()).toBeLessThan(100);

  // Scrolled to the end, the last span is there and the first is gone.
  await grid.evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await expect(waterfall.getByText(`chat step-${steps}`, { exact: true })).toBeVisible();
  await expect(waterfall.getByText('GET /step-1', { exact: true })).toHaveCount(0);
  expect(await rows.count()).toBeLessThan(100);

  // Its drawer opens from there; collapsing the root folds all 9,999 children away.
  await waterfall.getByText(`chat step-${steps}`, { exact: true }).click();
  await expect(page.getByTestId('span-drawer')).toContainText('gpt-4o-mini');
  await grid.evaluate((el) => { el.scrollTop = 0; });
  await rows.first().getByRole('button', { name: 'Collapse' }).click();
  await expect(rows).toHaveCount(1);
});
