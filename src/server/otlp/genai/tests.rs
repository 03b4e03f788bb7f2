use super::attributes::*;
use super::conventions::*;
use super::*;
use crate::format::hex;
use crate::model::*;
use crate::server::ingest::Redactor;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span as OSpan, Status};
use serde_json::Value;

const T0: u64 = 1_700_000_000_000_000_000;
const TRACE: [u8; 16] = [0xab; 16];

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

fn ospan(id: u8, parent: Option<u8>, name: &str, attrs: Vec<KeyValue>, start_ms: u64, end_ms: u64) -> OSpan {
    OSpan {
        trace_id: TRACE.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: parent.map(|p| vec![0, 0, 0, 0, 0, 0, 0, p]).unwrap_or_default(),
        name: name.into(),
        kind: 1,
        start_time_unix_nano: T0 + start_ms * 1_000_000,
        end_time_unix_nano: T0 + end_ms * 1_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

fn request(spans: Vec<OSpan>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![s("service.name", "research-svc")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn agent_trace() -> Vec<OSpan> {
    vec![
        ospan(
            2,
            Some(1),
            "chat gpt-4o",
            vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.provider.name", "openai"),
                s("gen_ai.request.model", "gpt-4o"),
                s("gen_ai.response.model", "gpt-4o-2024-08-06"),
                i("gen_ai.usage.input_tokens", 1200),
                i("gen_ai.usage.output_tokens", 300),
                i("gen_ai.usage.cache_read.input_tokens", 100),
                i("gen_ai.usage.cache_creation.input_tokens", 40),
                i("gen_ai.usage.reasoning.output_tokens", 120),
                kv("gen_ai.response.time_to_first_chunk", V::DoubleValue(0.25)),
            ],
            10,
            900,
        ),
        ospan(
            3,
            Some(1),
            "execute_tool web_search",
            vec![
                s("gen_ai.operation.name", "execute_tool"),
                s("gen_ai.tool.name", "web_search"),
            ],
            910,
            1000,
        ),
        ospan(
            4,
            Some(3),
            "GET /search",
            vec![s("http.request.method", "GET")],
            920,
            990,
        ),
        ospan(
            1,
            None,
            "invoke_agent researcher",
            vec![
                s("gen_ai.operation.name", "invoke_agent"),
                s("gen_ai.agent.id", "agent-42"),
                s("gen_ai.agent.name", "researcher"),
            ],
            0,
            1500,
        ),
    ]
}

fn spans(m: &Mapped) -> Vec<&SpanEvent> {
    m.events
        .iter()
        .filter_map(|e| match e {
            Event::Span(s) => Some(s.as_ref()),
            _ => None,
        })
        .collect()
}

#[test]
fn genai_spans_map_to_llm_tool_agent_and_plain_spans() {
    let m = traces(request(agent_trace()), &Limits::default(), &Redactor::default());
    assert_eq!((m.accepted, m.rejected), (4, 0));
    let agent = m.events.iter().find_map(|e| match e {
        Event::Agent(a) => Some(a),
        _ => None,
    });
    assert_eq!(agent.unwrap().id, "agent-42");
    assert_eq!(agent.unwrap().name.as_deref(), Some("researcher"));
    let sp = spans(&m);
    assert!(sp.iter().all(|s| s.agent_id == "agent-42" && !s.agent_provisional));
    let chat = &sp[0].span;
    assert_eq!(chat.trace_id, "ab".repeat(16));
    assert_eq!(chat.execution_id, chat.trace_id);
    assert_eq!(chat.span_id, "0000000000000002");
    assert_eq!(chat.parent_span_id.as_deref(), Some("0000000000000001"));
    assert_eq!(chat.category, SpanCategory::Llm);
    assert_eq!(chat.operation.as_deref(), Some("chat"));
    assert_eq!(chat.provider.as_deref(), Some("openai"));
    assert_eq!(chat.model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!((chat.tokens_in, chat.tokens_out), (Some(1200), Some(300)));
    assert_eq!(
        (
            chat.cache_read_tokens,
            chat.cache_creation_tokens,
            chat.reasoning_tokens
        ),
        (Some(100), Some(40), Some(120))
    );
    assert_eq!(chat.ttft_ms, Some(250.0));
    assert_eq!(chat.all_attributes()["gen_ai.usage.cache_read.input_tokens"], 100);
    assert!((chat.duration_ms - 890.0).abs() < 1e-6);
    assert_eq!(chat.service.as_deref(), Some("research-svc"));
    let tool = &sp[1].span;
    assert_eq!(
        (tool.category, tool.tool_name.as_deref()),
        (SpanCategory::Tool, Some("web_search"))
    );
    let http = &sp[2].span;
    assert_eq!((http.category, http.operation.as_deref()), (SpanCategory::Other, None));
    let root = &sp[3].span;
    assert!(root.is_root());
    assert_eq!(root.category, SpanCategory::Agent);
    assert_eq!(root.agent_name.as_deref(), Some("researcher"));
    assert_eq!(root.status, SpanStatus::Unset);
}

#[test]
fn without_the_root_the_agent_is_provisional_and_falls_back_to_the_service() {
    let mut t = agent_trace();
    t.pop();
    let m = traces(request(t), &Limits::default(), &Redactor::default());
    let sp = spans(&m);
    assert!(sp.iter().all(|s| s.agent_id == "research-svc" && s.agent_provisional));
    // A sub-agent span names an agent, provisionally.
    let sub = ospan(
        9,
        Some(1),
        "invoke_agent helper",
        vec![s("gen_ai.agent.name", "helper")],
        5,
        6,
    );
    let m = traces(request(vec![sub]), &Limits::default(), &Redactor::default());
    assert_eq!(spans(&m)[0].agent_id, "helper");
    assert!(spans(&m)[0].agent_provisional);
}

/// An agent service called by another one starts its root from propagated context: its
/// parent is remote, so it is the root here, names the agent and completes the execution.
#[test]
fn a_span_whose_parent_is_remote_is_the_root_here() {
    let has = opentelemetry_proto::tonic::trace::v1::SpanFlags::ContextHasIsRemoteMask as u32;
    let is = opentelemetry_proto::tonic::trace::v1::SpanFlags::ContextIsRemoteMask as u32;
    let mut t = agent_trace();
    let root = t.last_mut().unwrap();
    root.parent_span_id = vec![0, 0, 0, 0, 0, 0, 0, 0x77];
    root.flags = has | is | 1; // remote parent, and the W3C sampled bit
    let m = traces(request(t.clone()), &Limits::default(), &Redactor::default());
    let sp = spans(&m);
    assert!(sp.iter().all(|s| s.agent_id == "agent-42" && !s.agent_provisional));
    let root = &sp[3].span;
    assert!(root.remote_parent && root.is_root());
    assert_eq!(root.parent_span_id.as_deref(), Some("0000000000000077"));
    // A local parent, or a sender that does not know, leaves it an ordinary child.
    for flags in [has, 0, is] {
        t.last_mut().unwrap().flags = flags;
        let m = traces(request(t.clone()), &Limits::default(), &Redactor::default());
        let root = &spans(&m)[3];
        assert!(!root.span.remote_parent && !root.span.is_root(), "flags {flags:#x}");
        assert!(root.agent_provisional, "flags {flags:#x}");
    }
}

#[test]
fn operation_from_the_span_name_and_deprecated_attributes() {
    let sp = ospan(
        5,
        Some(1),
        "text_completion davinci",
        vec![
            s("gen_ai.system", "openai"),
            i("gen_ai.usage.prompt_tokens", 7),
            i("gen_ai.usage.completion_tokens", 3),
            // Older and vendor spellings of the cache and reasoning counts; an unreadable
            // value under the conventions' name leaves the older one in force.
            s("gen_ai.usage.cache_read.input_tokens", "many"),
            i("gen_ai.usage.input_tokens.cached", 5),
            i("gen_ai.usage.cache_creation_input_tokens", 2),
            s("gen_ai.usage.output_tokens.reasoning", "1"),
        ],
        0,
        5,
    );
    let m = traces(request(vec![sp]), &Limits::default(), &Redactor::default());
    let span = &spans(&m)[0].span;
    assert_eq!(span.operation.as_deref(), Some("text_completion"));
    assert_eq!(span.provider.as_deref(), Some("openai"));
    assert_eq!(span.model.as_deref(), Some("davinci"));
    assert_eq!((span.tokens_in, span.tokens_out), (Some(7), Some(3)));
    assert_eq!(
        (
            span.cache_read_tokens,
            span.cache_creation_tokens,
            span.reasoning_tokens
        ),
        (Some(5), Some(2), Some(1))
    );
    assert_eq!(operation("GET /x", &[]), None);
    assert_eq!(
        operation("whatever", &[s("gen_ai.operation.name", "plan")]).as_deref(),
        Some("plan")
    );
}

#[test]
fn error_type_and_status_mark_failures() {
    let mut a = ospan(1, None, "invoke_agent x", vec![s("error.type", "timeout")], 0, 5);
    let mut b = ospan(2, Some(1), "chat m", vec![], 0, 5);
    b.status = Some(Status {
        code: status::StatusCode::Error as i32,
        message: "rate limited".into(),
    });
    a.trace_id = vec![1; 16];
    let m = traces(request(vec![a, b]), &Limits::default(), &Redactor::default());
    let sp = spans(&m);
    assert_eq!(
        (sp[0].span.status, sp[0].span.status_message.as_deref()),
        (SpanStatus::Error, Some("timeout"))
    );
    assert_eq!(
        (sp[1].span.status, sp[1].span.status_message.as_deref()),
        (SpanStatus::Error, Some("rate limited"))
    );
}

#[test]
fn old_and_new_content_events_are_kept() {
    let mut sp = ospan(
        2,
        Some(1),
        "chat m",
        vec![s(
            "gen_ai.input.messages",
            r#"[{"role":"user","parts":[{"type":"text","content":"hi"}]}]"#,
        )],
        0,
        5,
    );
    sp.events = vec![
        span::Event {
            time_unix_nano: T0 + 1,
            name: "gen_ai.user.message".into(),
            attributes: vec![s("content", "hi")],
            ..Default::default()
        },
        span::Event {
            time_unix_nano: T0 + 2,
            name: "gen_ai.client.inference.operation.details".into(),
            attributes: vec![s("gen_ai.output.messages", "[]")],
            ..Default::default()
        },
    ];
    let m = traces(request(vec![sp]), &Limits::default(), &Redactor::default());
    let span = &spans(&m)[0].span;
    assert!(span.all_attributes()["gen_ai.input.messages"]
        .as_str()
        .unwrap()
        .contains("hi"));
    let names: Vec<_> = span.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["gen_ai.user.message", "gen_ai.client.inference.operation.details"]
    );
    assert_eq!(span.events[0].attributes["content"], "hi");
    assert_eq!(span.events[1].time_unix_nano, T0 + 2);
}

#[test]
fn bad_spans_are_rejected_with_a_reason_and_the_rest_kept() {
    let mut bad_trace = ospan(1, None, "a", vec![], 0, 1);
    bad_trace.trace_id = vec![0; 16];
    let mut bad_span = ospan(2, None, "b", vec![], 0, 1);
    bad_span.span_id = vec![1, 2, 3];
    let mut no_time = ospan(3, None, "c", vec![], 0, 1);
    no_time.start_time_unix_nano = 0;
    let backwards = ospan(4, None, "d", vec![], 5, 1);
    let good = ospan(5, None, "e", vec![], 0, 1);
    let m = traces(
        request(vec![bad_trace, bad_span, no_time, backwards, good]),
        &Limits::default(),
        &Redactor::default(),
    );
    assert_eq!((m.accepted, m.rejected), (1, 4));
    let msg = m.error_message();
    assert!(msg.starts_with("4 of 5 items rejected"), "{msg}");
    assert!(msg.contains("trace_id must be 16 bytes"), "{msg}");
}

#[test]
fn long_values_are_cut_so_validation_passes() {
    let limits = Limits::default();
    let sp = ospan(
        1,
        None,
        "chat m",
        vec![s("gen_ai.input.messages", &"é".repeat(limits.max_text_len))],
        0,
        1,
    );
    let m = traces(request(vec![sp]), &limits, &Redactor::default());
    for e in &m.events {
        assert!(e.validate(&limits).is_empty(), "{:?}", e.validate(&limits));
    }
    let v = spans(&m)[0].span.all_attributes()["gen_ai.input.messages"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(v.len() <= limits.max_text_len && v.ends_with('…'));
}

#[test]
fn control_characters_leave_agent_ids_and_names_alone_keep_the_rest() {
    let sp = |agent: &str| {
        let attrs = vec![
            s("gen_ai.operation.name", "invoke_agent"),
            s("gen_ai.agent.name", agent),
        ];
        traces(
            request(vec![ospan(1, None, "invoke_agent", attrs, 0, 1)]),
            &Limits::default(),
            &Redactor::default(),
        )
    };
    for (sent, kept) in [
        ("re\nsearch\u{7f}er", "researcher"),
        ("r\u{85}é\u{9f}sumé\u{a0}", "résumé\u{a0}"),
        ("plain-agent", "plain-agent"),
    ] {
        let m = sp(sent);
        assert_eq!(spans(&m)[0].agent_id, kept, "{sent:?}");
    }
}

fn log_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![s("service.name", "research-svc")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn log_records_attach_to_the_trace_execution() {
    let rec = LogRecord {
        time_unix_nano: T0,
        severity_number: 13,
        body: Some(AnyValue {
            value: Some(V::StringValue("slow tool".into())),
        }),
        attributes: vec![s("tool", "web_search"), s("big", &"x".repeat(10_000))],
        trace_id: TRACE.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, 3],
        event_name: "agent.note".into(),
        ..Default::default()
    };
    let orphan = LogRecord {
        body: Some(AnyValue {
            value: Some(V::StringValue("no trace".into())),
        }),
        ..Default::default()
    };
    let limits = Limits::default();
    let m = logs(log_request(vec![rec, orphan]), &limits, 1);
    assert_eq!((m.accepted, m.rejected), (1, 1));
    let Event::Log(l) = &m.events[0] else { panic!() };
    assert_eq!(l.execution_id, "ab".repeat(16));
    assert_eq!(l.agent_id.as_deref(), Some("research-svc"));
    assert_eq!(l.level, LogLevel::Warn);
    assert_eq!(l.message, "slow tool");
    assert_eq!(l.span_id.as_deref(), Some("0000000000000003"));
    assert_eq!(l.timestamp, Some((T0 / 1_000_000) as i64));
    assert_eq!(l.attributes["event.name"], "agent.note");
    assert!(m.events[0].validate(&limits).is_empty());
    assert!(m.error_message().contains("trace_id"));
}

#[test]
fn log_based_genai_events_of_both_shapes_keep_their_name_and_content() {
    let kvlist = |pairs: Vec<KeyValue>| AnyValue {
        value: Some(V::KvlistValue(opentelemetry_proto::tonic::common::v1::KeyValueList {
            values: pairs,
        })),
    };
    // The deprecated shape: one event per message, the content in a map body.
    let choice = LogRecord {
        time_unix_nano: T0,
        body: Some(kvlist(vec![
            i("index", 0),
            s("finish_reason", "stop"),
            kv("message", kvlist(vec![s("content", "Paris.")]).value.unwrap()),
        ])),
        attributes: vec![s("gen_ai.system", "openai")],
        trace_id: TRACE.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, 2],
        event_name: "gen_ai.choice".into(),
        ..Default::default()
    };
    // The current shape: one event per call, the messages in attributes, no body.
    let details = LogRecord {
        time_unix_nano: T0 + 1,
        attributes: vec![
            s("gen_ai.operation.name", "chat"),
            s(
                "gen_ai.input.messages",
                r#"[{"role":"user","parts":[{"type":"text","content":"Capital of France?"}]}]"#,
            ),
            s(
                "gen_ai.output.messages",
                r#"[{"role":"assistant","parts":[{"type":"text","content":"Paris."}]}]"#,
            ),
        ],
        trace_id: TRACE.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, 2],
        event_name: "gen_ai.client.inference.operation.details".into(),
        ..Default::default()
    };
    let limits = Limits::default();
    let m = logs(log_request(vec![choice, details]), &limits, 1);
    assert_eq!((m.accepted, m.rejected), (2, 0));
    let [Event::Log(old), Event::Log(new)] = &m.events[..] else {
        panic!("{:?}", m.events)
    };
    assert_eq!(old.execution_id, "ab".repeat(16));
    assert_eq!(old.attributes["event.name"], "gen_ai.choice");
    let body: Value = serde_json::from_str(&old.message).unwrap();
    assert_eq!(body["message"]["content"], "Paris.");
    assert_eq!(body["finish_reason"], "stop");
    assert_eq!(new.message, "gen_ai.client.inference.operation.details");
    assert_eq!(
        new.attributes["event.name"],
        "gen_ai.client.inference.operation.details"
    );
    assert!(new.attributes["gen_ai.input.messages"]
        .as_str()
        .unwrap()
        .contains("Capital of France?"));
    assert!(new.attributes["gen_ai.output.messages"]
        .as_str()
        .unwrap()
        .contains("Paris."));
    assert!(m.events.iter().all(|e| e.validate(&limits).is_empty()));
}

#[test]
fn workflow_embedding_and_generate_content_spans_map_to_their_categories() {
    let spans_in = vec![
        ospan(
            1,
            None,
            "invoke_workflow triage",
            vec![s("gen_ai.workflow.name", "triage")],
            0,
            50,
        ),
        ospan(
            2,
            Some(1),
            "embeddings text-embedding-3-small",
            vec![s("gen_ai.provider.name", "openai"), i("gen_ai.usage.input_tokens", 64)],
            1,
            2,
        ),
        ospan(
            3,
            Some(1),
            "generate_content",
            vec![
                s("gen_ai.operation.name", "generate_content"),
                s("gen_ai.provider.name", "gcp.gemini"),
                s("gen_ai.request.model", "gemini-2.5-flash"),
                i("gen_ai.usage.output_tokens", 12),
            ],
            3,
            9,
        ),
    ];
    let m = traces(request(spans_in), &Limits::default(), &Redactor::default());
    let got: Vec<_> = spans(&m)
        .iter()
        .map(|e| {
            (
                e.span.category,
                e.span.model.clone(),
                e.span.tokens_in.or(e.span.tokens_out),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (SpanCategory::Workflow, None, None),
            (SpanCategory::Llm, Some("text-embedding-3-small".into()), Some(64)),
            (SpanCategory::Llm, Some("gemini-2.5-flash".into()), Some(12)),
        ]
    );
}

fn histogram(name: &str, temporality: i32, points: Vec<HistogramDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: temporality,
        })),
        ..Default::default()
    }
}

fn point(attrs: Vec<KeyValue>, count: u64, sum: f64) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes: attrs,
        start_time_unix_nano: T0,
        time_unix_nano: T0 + 1_000_000_000,
        count,
        sum: Some(sum),
        ..Default::default()
    }
}

fn metric_request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn genai_histograms_become_usage_and_cumulative_series_are_differenced() {
    let model = || {
        vec![
            s("gen_ai.provider.name", "anthropic"),
            s("gen_ai.request.model", "claude"),
        ]
    };
    let with = |extra: KeyValue| {
        let mut v = model();
        v.push(extra);
        v
    };
    let req = |n: u64| {
        metric_request(vec![
            histogram(
                "gen_ai.client.token.usage",
                2,
                vec![
                    point(with(s("gen_ai.token.type", "input")), n, 100.0 * n as f64),
                    point(with(s("gen_ai.token.type", "output")), n, 10.0 * n as f64),
                ],
            ),
            histogram(
                "gen_ai.client.operation.duration",
                2,
                vec![point(model(), n, 0.5 * n as f64)],
            ),
            histogram("http.server.duration", 2, vec![point(vec![], 1, 1.0)]),
        ])
    };
    let mut cum = Cumulative::default();
    let m = metrics(req(2), &Limits::default(), &mut cum, 1);
    assert_eq!((m.accepted, m.rejected), (4, 0));
    let Event::LlmUsage(u) = &m.events[0] else { panic!() };
    assert_eq!((u.provider.as_str(), u.model.as_str()), ("anthropic", "claude"));
    assert_eq!((u.requests, u.tokens_in, u.tokens_out), (2, 200, 20));
    assert!((u.latency_ms_sum - 1000.0).abs() < 1e-6);
    // The next cumulative point counts only what was added.
    let m = metrics(req(5), &Limits::default(), &mut cum, 1);
    let Event::LlmUsage(u) = &m.events[0] else { panic!() };
    assert_eq!((u.requests, u.tokens_in, u.tokens_out), (3, 300, 30));
}

#[test]
fn exponential_histograms_count_too_and_points_without_a_model_count_as_unknown() {
    use opentelemetry_proto::tonic::metrics::v1::{ExponentialHistogram, ExponentialHistogramDataPoint, Gauge};
    let exponential = Metric {
        name: "gen_ai.client.token.usage".into(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                attributes: vec![
                    s("gen_ai.provider.name", "openai"),
                    s("gen_ai.response.model", "gpt-4o"),
                    s("gen_ai.token.type", "input"),
                ],
                time_unix_nano: T0,
                count: 3,
                sum: Some(900.0),
                ..Default::default()
            }],
            aggregation_temporality: 1,
        })),
        ..Default::default()
    };
    let gauge = Metric {
        name: "gen_ai.client.operation.duration".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![Default::default()],
        })),
        ..Default::default()
    };
    let req = metric_request(vec![
        exponential,
        histogram("gen_ai.client.operation.duration", 1, vec![point(vec![], 4, 2.0)]),
        gauge,
    ]);
    let m = metrics(req, &Limits::default(), &mut Cumulative::default(), 1);
    assert_eq!((m.accepted, m.rejected), (2, 1));
    assert!(m
        .error_message()
        .contains("gen_ai.client.operation.duration must be a histogram"));
    let usage: Vec<_> = m
        .events
        .iter()
        .map(|e| match e {
            Event::LlmUsage(u) => (u.provider.as_str(), u.model.as_str(), u.requests, u.tokens_in),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(usage, [("openai", "gpt-4o", 0, 900), ("unknown", "unknown", 4, 0)]);
}

/// OTLP/JSON through opentelemetry-proto's serde: hex ids, 64-bit integers as strings or
/// numbers, integer enums, lowerCamelCase, unknown fields ignored.
/// Found by fuzzing (otlp_protobuf): client counts near `u64::MAX` overflowed the per-model
/// sums (a panic with overflow checks, a wrapped count without). They saturate now.
#[test]
fn huge_histogram_counts_saturate_instead_of_overflowing() {
    let model = vec![s("gen_ai.request.model", "m")];
    let tokens = |kind: &str, sum: f64| {
        let mut a = model.clone();
        a.push(s("gen_ai.token.type", kind));
        point(a, 1, sum)
    };
    let req = metric_request(vec![
        histogram(
            "gen_ai.client.operation.duration",
            1,
            vec![point(model.clone(), u64::MAX, 1.0), point(model.clone(), u64::MAX, 1.0)],
        ),
        histogram(
            "gen_ai.client.token.usage",
            1,
            vec![
                tokens("input", 1e30),
                tokens("input", 1e30),
                tokens("output", f64::INFINITY),
            ],
        ),
    ]);
    let m = metrics(req, &Limits::default(), &mut Cumulative::default(), 1);
    let Event::LlmUsage(u) = &m.events[0] else { panic!() };
    assert_eq!((u.requests, u.tokens_in, u.tokens_out), (u64::MAX, u64::MAX, u64::MAX));
}

#[test]
fn otlp_json_rules_hold_for_the_generated_types() {
    let json = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
      "futureField": {"x": 1},
      "scopeSpans":[{"scope":{"name":"s"},"spans":[
        {"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","parentSpanId":"",
         "name":"chat gpt-4o","kind":3,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":1700000000500000000,
         "attributes":[{"key":"gen_ai.usage.input_tokens","value":{"intValue":"42"}},
                       {"key":"gen_ai.usage.output_tokens","value":{"intValue":7}},
                       {"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
                       {"key":"temperature","value":{"doubleValue":0.5}},
                       {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"boolValue":true}]}}}],
         "events":[{"timeUnixNano":"1700000000100000000","name":"gen_ai.choice","attributes":[]}],
         "status":{"code":2,"message":"boom"},
         "unknownSpanField":true}
      ]}]}]}"#;
    let req: ExportTraceServiceRequest = serde_json::from_str(json).unwrap();
    let s0 = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(hex(&s0.trace_id), "5b8efff798038103d269b633813fc60c");
    assert_eq!(hex(&s0.span_id), "eee19b7ec3c1b174");
    assert_eq!(s0.start_time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(s0.end_time_unix_nano, 1_700_000_000_500_000_000);
    assert_eq!(s0.events[0].time_unix_nano, 1_700_000_000_100_000_000);
    let m = traces(req, &Limits::default(), &Redactor::default());
    let span = &spans(&m)[0].span;
    assert_eq!(span.span_kind, "client");
    assert_eq!((span.tokens_in, span.tokens_out), (Some(42), Some(7)));
    assert_eq!(span.status, SpanStatus::Error);
    assert_eq!(span.all_attributes()["temperature"], 0.5);
    assert_eq!(span.all_attributes()["tags"], serde_json::json!(["a", true]));
    assert!(span.is_root());

    // Metrics: flattened oneofs, string counts and bucket counts.
    let json = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"gen_ai.client.token.usage","unit":"{token}",
      "histogram":{"aggregationTemporality":1,"dataPoints":[{"attributes":[
        {"key":"gen_ai.request.model","value":{"stringValue":"m"}},{"key":"gen_ai.token.type","value":{"stringValue":"input"}}],
        "startTimeUnixNano":"1700000000000000000","timeUnixNano":"1700000001000000000","count":"3","sum":30,
        "bucketCounts":["1","2"],"explicitBounds":[10]}]}}]}]}]}"#;
    let req: ExportMetricsServiceRequest = serde_json::from_str(json).unwrap();
    let m = metrics(req, &Limits::default(), &mut Cumulative::default(), 1);
    let Event::LlmUsage(u) = &m.events[0] else { panic!() };
    assert_eq!((u.model.as_str(), u.tokens_in), ("m", 30));

    // Logs: severity as an integer, body as AnyValue.
    let json = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":17,
      "body":{"stringValue":"oops"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}"#;
    let req: ExportLogsServiceRequest = serde_json::from_str(json).unwrap();
    let m = logs(req, &Limits::default(), 1);
    let Event::Log(l) = &m.events[0] else { panic!() };
    assert_eq!((l.level, l.message.as_str()), (LogLevel::Error, "oops"));

    // Bad hex is an error, not a silent zero id.
    let bad = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"00"}]}]}]}"#;
    assert!(serde_json::from_str::<ExportTraceServiceRequest>(bad).is_err());
}

#[test]
fn attributes_are_encoded_as_the_map_would_be() {
    use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, ArrayValue, KeyValueList};
    let kv = |k: &str, v: Option<V>| KeyValue {
        key: k.into(),
        value: v.map(|v| AnyValue { value: Some(v) }),
        ..Default::default()
    };
    let kvs = vec![
        kv("z", Some(V::StringValue("quote \" and \\ and \n é".into()))),
        kv("a", Some(V::IntValue(-7))),
        kv("", Some(V::IntValue(1))),
        kv("d", Some(V::DoubleValue(0.2))),
        kv("nan", Some(V::DoubleValue(f64::NAN))),
        kv("inf", Some(V::DoubleValue(f64::NEG_INFINITY))),
        kv("whole", Some(V::DoubleValue(3.0))),
        kv("b", Some(V::BoolValue(true))),
        kv("a", Some(V::StringValue("later wins".into()))),
        kv("none", None),
        kv("bytes", Some(V::BytesValue(vec![1, 0xab]))),
        kv(
            "arr",
            Some(V::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(V::StringValue("stop".into())),
                }],
            })),
        ),
        kv(
            "obj",
            Some(V::KvlistValue(KeyValueList {
                values: vec![kv("y", Some(V::IntValue(1))), kv("x", None)],
            })),
        ),
        kv("long", Some(V::StringValue("é".repeat(40)))),
        kv(
            "longarr",
            Some(V::ArrayValue(ArrayValue {
                values: (0..20)
                    .map(|i| AnyValue {
                        value: Some(V::IntValue(i)),
                    })
                    .collect(),
            })),
        ),
        kv(&"k".repeat(300), Some(V::IntValue(2))),
    ];
    for (count, len) in [(256, 64), (3, 64), (256, 10_000)] {
        let map = attributes(&kvs, count, len);
        let want = serde_json::to_string(&map).unwrap();
        assert_eq!(attributes_json(&kvs, count, len, &Redactor::default()).unwrap(), want);
    }
    assert_eq!(attributes_json(&[], 256, 64, &Redactor::default()), None);
}
