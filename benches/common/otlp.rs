//! Agent traces as OTLP/HTTP protobuf batches (per trace one `invoke_agent` root, three
//! `chat` and two `execute_tool` spans with the attributes GenAI instrumentations send), and a
//! sender that replays them with several requests in flight.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SPANS_PER_BATCH: usize = 512;

fn kv(k: &str, v: V) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}
fn s(k: &str, v: &str) -> KeyValue {
    kv(k, V::StringValue(v.into()))
}
fn i(k: &str, v: i64) -> KeyValue {
    kv(k, V::IntValue(v))
}

/// splitmix64's finaliser: distinct inputs give distinct, evenly spread outputs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The six spans of one agent run, children first (the order exporters send them in).
fn trace(n: u64, t0: u64) -> Vec<Span> {
    let mut trace_id = [0u8; 16];
    // Random-looking, as SDKs make them (W3C trace ids are random): the store's indexes see
    // keys all over their range, not appended in order.
    trace_id[..8].copy_from_slice(&mix(n).to_be_bytes());
    trace_id[8..].copy_from_slice(&mix(n ^ 0x9e37_79b9_7f4a_7c15).to_be_bytes());
    let sid = |k: u64| ((n << 3) | k).to_be_bytes().to_vec();
    let ms = 1_000_000u64;
    let span = |k: u64, parent: Option<u64>, name: &str, kind: i32, start: u64, end: u64, attrs: Vec<KeyValue>| Span {
        trace_id: trace_id.to_vec(),
        span_id: sid(k),
        parent_span_id: parent.map(sid).unwrap_or_default(),
        name: name.into(),
        kind,
        start_time_unix_nano: t0 + start * ms,
        end_time_unix_nano: t0 + end * ms,
        attributes: attrs,
        status: Some(Status::default()),
        flags: 0x301,
        ..Default::default()
    };
    let chat = |k: u64, start: u64, tokens: i64| {
        span(
            k,
            Some(1),
            "chat gpt-4o",
            3,
            start,
            start + 800,
            vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.provider.name", "openai"),
                s("gen_ai.request.model", "gpt-4o"),
                s("gen_ai.response.model", "gpt-4o-2024-08-06"),
                s("gen_ai.response.id", &format!("chatcmpl-{n:x}{k}")),
                kv(
                    "gen_ai.response.finish_reasons",
                    V::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(V::StringValue("stop".into())),
                        }],
                    }),
                ),
                kv("gen_ai.request.temperature", V::DoubleValue(0.2)),
                i("gen_ai.request.max_tokens", 1024),
                i("gen_ai.usage.input_tokens", tokens),
                i("gen_ai.usage.output_tokens", tokens / 8),
                s("server.address", "api.openai.com"),
                i("server.port", 443),
            ],
        )
    };
    let tool = |k: u64, start: u64, name: &str| {
        span(
            k,
            Some(1),
            &format!("execute_tool {name}"),
            1,
            start,
            start + 120,
            vec![
                s("gen_ai.operation.name", "execute_tool"),
                s("gen_ai.tool.name", name),
                s("gen_ai.tool.type", "function"),
                s("gen_ai.tool.call.id", &format!("call_{n:x}{k}")),
            ],
        )
    };
    vec![
        chat(2, 10, 1200),
        tool(3, 820, "web_search"),
        chat(4, 950, 2400),
        tool(5, 1760, "read_url"),
        chat(6, 1900, 3100),
        span(
            1,
            None,
            "invoke_agent researcher",
            1,
            0,
            2750,
            vec![
                s("gen_ai.operation.name", "invoke_agent"),
                s("gen_ai.agent.id", &format!("agent-{}", n % 16)),
                s("gen_ai.agent.name", &format!("researcher-{}", n % 16)),
                s("gen_ai.provider.name", "openai"),
                s("gen_ai.conversation.id", &format!("conv-{n:x}")),
            ],
        ),
    ]
}

pub fn batches(count: usize) -> Vec<Vec<u8>> {
    let t0 = observatory::server::now_ms() as u64 * 1_000_000;
    let resource = Resource {
        attributes: vec![
            s("service.name", "research-agents"),
            s("service.version", "1.4.2"),
            s("telemetry.sdk.language", "python"),
            s("telemetry.sdk.name", "opentelemetry"),
            s("telemetry.sdk.version", "1.38.0"),
            s("host.name", "agent-host-1"),
        ],
        ..Default::default()
    };
    let mut all = (0u64..).flat_map(|n| trace(n + 1, t0 + n * 1_000_000));
    (0..count)
        .map(|_| {
            let spans: Vec<Span> = all.by_ref().take(SPANS_PER_BATCH).collect();
            ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(resource.clone()),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: "opentelemetry.instrumentation.openai_v2".into(),
                            version: "2.1b0".into(),
                            ..Default::default()
                        }),
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
            .encode_to_vec()
        })
        .collect()
}

pub async fn run(url: &str, batches: Arc<Vec<Vec<u8>>>, concurrency: usize) -> (Duration, Vec<f64>, usize) {
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next, batches, url) = (client.clone(), next.clone(), batches.clone(), url.to_string());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut refused = 0;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = batches.get(i) else { break };
                    loop {
                        let sent = Instant::now();
                        let resp = client
                            .post(&url)
                            .header("content-type", "application/x-protobuf")
                            .body(body.clone())
                            .send()
                            .await
                            .expect("request");
                        if resp.status().as_u16() == 503 {
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                        assert!(resp.status().is_success(), "{}", resp.status());
                        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                        break;
                    }
                }
                (latencies, refused)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut refused = 0;
    for w in workers {
        let (l, r) = w.await.unwrap();
        latencies.extend(l);
        refused += r;
    }
    let elapsed = started.elapsed();
    latencies.sort_by(f64::total_cmp);
    (elapsed, latencies, refused)
}
