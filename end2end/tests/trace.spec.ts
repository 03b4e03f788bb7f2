import { test, expect } from '@playwright/test';
import { Dashboard } from './fixtures/dashboard';

const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');

/** One OTLP/JSON span of an agent trace. */
function span(traceId: string, spanId: string, parent: string | undefined, name: string, startMs: number, endMs: number, attrs: Record<string, string | number>) {
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
  });
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
  await expect(rows.nth(2)).toContainText('web_search');

  // The drawer shows a span's attributes.
  await rows.nth(1).click();
  const drawer = page.getByTestId('span-drawer');
  await expect(drawer).toContainText('gen_ai.request.model');
  await expect(drawer).toContainText('1.8 s');
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
