use super::retire::LiveLimits;
use super::*;
use crate::model::*;
use crate::server::store::Snapshot;

const NOW: i64 = 1_800_000_000_000;

fn hub() -> Hub {
    Hub::new(PriceTable::default(), "host".into(), LiveLimits::default())
}

fn exec(id: &str, agent: &str, status: ExecutionStatus, ts: i64) -> Event {
    Event::Execution(ExecutionEvent {
        id: id.into(),
        agent_id: agent.into(),
        status: Some(status),
        timestamp: Some(ts),
        ..Default::default()
    })
}

fn status(id: &str, status: ExecutionStatus, ts: i64) -> Event {
    Event::Status(StatusEvent {
        execution_id: id.into(),
        status,
        timestamp: Some(ts),
        ..Default::default()
    })
}

fn log(id: &str, msg: &str) -> Event {
    Event::Log(LogEvent {
        execution_id: id.into(),
        message: msg.into(),
        timestamp: Some(NOW),
        ..Default::default()
    })
}

#[test]
fn lifecycle_updates_agent_counters_and_durations() {
    let h = hub();
    h.apply(
        vec![
            exec("e1", "a", ExecutionStatus::Running, NOW - 3000),
            exec("e2", "a", ExecutionStatus::Running, NOW - 2000),
        ],
        NOW,
    );
    let a = h.agent("a", NOW).unwrap();
    assert_eq!(a.tasks_in_progress, 2);
    assert_eq!(a.state, AgentState::Running);

    let applied = h.apply(
        vec![
            status("e1", ExecutionStatus::Completed, NOW - 1000),
            status("e2", ExecutionStatus::Failed, NOW),
        ],
        NOW,
    );
    assert_eq!(applied.status_changes.len(), 2);
    let a = h.agent("a", NOW).unwrap();
    assert_eq!((a.tasks_completed, a.tasks_failed, a.tasks_in_progress), (1, 1, 0));
    assert_eq!(a.avg_task_duration_ms, 2000.0);
    assert_eq!(a.state, AgentState::Error);
    let e1 = h.execution("e1").unwrap();
    assert_eq!(e1.duration_ms, Some(2000));
    assert_eq!(e1.ended_at, Some(NOW - 1000));
}

#[test]
fn status_never_goes_backwards_or_out_of_a_final_state() {
    let h = hub();
    h.apply(
        vec![
            exec("e", "a", ExecutionStatus::Running, NOW),
            status("e", ExecutionStatus::Completed, NOW),
        ],
        NOW,
    );
    let applied = h.apply(
        vec![
            status("e", ExecutionStatus::Running, NOW),
            status("e", ExecutionStatus::Failed, NOW),
        ],
        NOW,
    );
    assert!(applied.status_changes.is_empty());
    assert_eq!(h.execution("e").unwrap().status, ExecutionStatus::Completed);
    let a = h.agent("a", NOW).unwrap();
    assert_eq!((a.tasks_completed, a.tasks_failed), (1, 0));
}

#[test]
fn logs_are_numbered_without_gaps_and_persisted() {
    let h = hub();
    let applied = h.apply(vec![log("e", "one"), log("e", "two")], NOW);
    let seqs: Vec<u64> = applied.batch.logs.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, [1, 2]);
    let applied = h.apply(vec![log("e", "three")], NOW);
    assert_eq!(applied.batch.logs[0].seq, 3);
    // The execution row travels whole with its new log count.
    assert_eq!(applied.batch.executions[0].log_count, 3);
    // An execution first seen through a log line belongs to the `unknown` agent until told.
    assert_eq!(h.execution("e").unwrap().agent_id, "unknown");
    h.apply(vec![exec("e", "real", ExecutionStatus::Running, NOW)], NOW);
    assert_eq!(h.execution("e").unwrap().agent_id, "real");
}

#[test]
fn llm_calls_aggregate_per_model_with_cost_from_the_price_table() {
    let h = hub();
    h.apply(vec![exec("e", "a", ExecutionStatus::Running, NOW)], NOW);
    let call = |err: Option<&str>| {
        Event::LlmCall(LlmCallEvent {
            execution_id: Some("e".into()),
            provider: "openai".into(),
            model: "gpt-4o".into(),
            tokens_in: 1000,
            tokens_out: 500,
            latency_ms: 1100.0,
            ttft_ms: Some(100.0),
            error: err.map(String::from),
            timestamp: Some(NOW),
            ..Default::default()
        })
    };
    h.apply(
        vec![call(None), call(None), call(None), call(Some("rate limited"))],
        NOW,
    );
    let llm = h.llm(NOW);
    assert_eq!(llm.len(), 1);
    let m = &llm[0];
    assert_eq!((m.total_requests, m.successful_requests, m.failed_requests), (4, 3, 1));
    assert_eq!(m.total_tokens, 6000);
    assert_eq!(m.error_rate, 25.0);
    assert_eq!(m.time_to_first_token_ms, Some(100.0));
    assert_eq!(m.tokens_per_second, Some(500.0));
    let expected = 4.0 * (1000.0 * 2.5 + 500.0 * 10.0) / 1e6;
    assert!((m.cost_usd - expected).abs() < 1e-9);
    let e = h.execution("e").unwrap();
    assert_eq!((e.tokens_in, e.tokens_out, e.llm_calls), (4000, 2000, 4));
    assert!((h.agent("a", NOW).unwrap().cost_usd - expected).abs() < 1e-9);
}

#[test]
fn workflows_count_runs_of_their_executions() {
    let h = hub();
    let run = |id: &str| {
        Event::Execution(ExecutionEvent {
            id: id.into(),
            agent_id: "a".into(),
            workflow_id: Some("wf".into()),
            status: Some(ExecutionStatus::Running),
            timestamp: Some(NOW - 1000),
            ..Default::default()
        })
    };
    h.apply(vec![run("x"), run("y")], NOW);
    assert_eq!(h.workflows()[0].running_instances, 2);
    h.apply(
        vec![
            status("x", ExecutionStatus::Completed, NOW),
            status("y", ExecutionStatus::Failed, NOW),
        ],
        NOW,
    );
    let w = &h.workflows()[0];
    assert_eq!(
        (
            w.total_executions,
            w.successful_executions,
            w.failed_executions,
            w.running_instances
        ),
        (2, 1, 1, 0)
    );
    assert_eq!(w.avg_execution_time_ms, 1000.0);
}

#[test]
fn reported_counters_replace_derived_ones() {
    let h = hub();
    h.apply(
        vec![Event::Agent(AgentEvent {
            id: "a".into(),
            name: Some("Research Agent".into()),
            tasks_completed: Some(42),
            messages_sent: Some(158),
            state: Some(AgentState::Idle),
            timestamp: Some(NOW),
            ..Default::default()
        })],
        NOW,
    );
    h.apply(
        vec![
            exec("e", "a", ExecutionStatus::Running, NOW),
            status("e", ExecutionStatus::Completed, NOW),
        ],
        NOW,
    );
    let a = h.agent("a", NOW).unwrap();
    assert_eq!(
        (a.name.as_str(), a.tasks_completed, a.messages_sent),
        ("Research Agent", 43, 158)
    );
}

#[test]
fn overview_counts_the_fleet_and_goes_offline_when_silent() {
    let h = hub();
    h.apply(
        vec![
            exec("e1", "a", ExecutionStatus::Running, NOW - 60_000),
            exec("e2", "b", ExecutionStatus::Pending, NOW),
        ],
        NOW,
    );
    h.apply(vec![status("e1", ExecutionStatus::Completed, NOW)], NOW);
    let o = h.overview(NOW);
    assert_eq!(
        (
            o.agents_total,
            o.agents_active,
            o.executions_pending,
            o.executions_finished
        ),
        (2, 2, 1, 1)
    );
    assert_eq!(o.success_rate, Some(100.0));
    let series = h.series(TimeRange::H1, Vec::new(), NOW);
    assert_eq!(series.points.len(), TimeRange::H1.points());
    assert_eq!(series.points.last().unwrap().counts.completed, 1);
    assert_eq!(series.points.iter().map(|p| p.counts.started).sum::<u64>(), 2);
    let later = NOW + OFFLINE_AFTER_MS + 1;
    assert_eq!(h.agent("a", later).unwrap().state, AgentState::Offline);
    // b still has a pending execution, so it is running, not offline
    assert_eq!(h.agent("b", later).unwrap().state, AgentState::Running);
}

#[test]
fn restore_rebuilds_what_apply_built() {
    let h = hub();
    let applied = h.apply(
        vec![
            exec("e", "a", ExecutionStatus::Running, NOW - 500),
            status("e", ExecutionStatus::Completed, NOW),
            log("e", "x"),
        ],
        NOW,
    );
    let snap = Snapshot {
        agents: applied.batch.agents.clone(),
        executions: applied.batch.executions.clone(),
        ..Default::default()
    };
    let again = hub();
    again.restore(snap, NOW);
    again.restore_rollups(applied.batch.rollups.clone(), NOW);
    assert_eq!(again.agent("a", NOW).unwrap().tasks_completed, 1);
    assert_eq!(again.overview(NOW).executions_finished, 1);
    assert_eq!(again.apply(vec![log("e", "y")], NOW).batch.logs[0].seq, 2);
}

fn span_event(id: &str, parent: Option<&str>, category: SpanCategory, start: i64, end: i64) -> Span {
    let mut s = Span {
        trace_id: "t1".into(),
        span_id: id.into(),
        parent_span_id: parent.map(str::to_string),
        execution_id: "t1".into(),
        name: id.into(),
        category,
        span_kind: "internal".into(),
        start_unix_nano: start as u64 * 1_000_000,
        end_unix_nano: end as u64 * 1_000_000,
        ..Default::default()
    };
    s.set_ms();
    s
}

fn span(s: Span, agent: &str, provisional: bool) -> Event {
    Event::Span(Box::new(SpanEvent {
        span: s,
        agent_id: agent.into(),
        agent_provisional: provisional,
    }))
}

#[test]
fn a_workflow_span_is_a_run_of_its_workflow() {
    let h = hub();
    let mut root = span_event("w", None, SpanCategory::Workflow, NOW - 1000, NOW);
    root.name = "invoke_workflow triage".into();
    let step = span_event("s", Some("w"), SpanCategory::Other, NOW - 900, NOW - 800);
    h.apply(vec![span(step, "svc", true)], NOW);
    h.apply(vec![span(root, "svc", true)], NOW);
    let e = h.execution("t1").unwrap();
    assert_eq!(
        (e.status, e.workflow_id.as_deref()),
        (ExecutionStatus::Completed, Some("triage"))
    );
    let w = h.workflows();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(
        (
            w[0].id.as_str(),
            w[0].total_executions,
            w[0].successful_executions,
            w[0].running_instances
        ),
        ("triage", 1, 1, 0)
    );
}

#[test]
fn spans_run_an_execution_until_the_root_ends_and_count_llm_and_tool_calls() {
    let h = hub();
    let mut chat = span_event("c", Some("r"), SpanCategory::Llm, NOW - 900, NOW - 500);
    chat.provider = Some("openai".into());
    chat.model = Some("gpt-4o".into());
    chat.tokens_in = Some(1000);
    chat.tokens_out = Some(100);
    chat.cache_read_tokens = Some(600);
    chat.reasoning_tokens = Some(30);
    let mut tool = span_event("t", Some("r"), SpanCategory::Tool, NOW - 400, NOW - 300);
    tool.tool_name = Some("search".into());
    tool.status = SpanStatus::Error;
    let applied = h.apply(vec![span(chat, "svc", true), span(tool, "svc", true)], NOW);
    let e = h.execution("t1").unwrap();
    assert_eq!(e.status, ExecutionStatus::Running);
    assert_eq!((e.agent_id.as_str(), e.llm_calls, e.tool_calls), ("svc", 1, 1));
    assert_eq!((e.tokens_in, e.tokens_out), (1000, 100));
    assert_eq!(e.trace_id.as_deref(), Some("t1"));
    assert_eq!(applied.batch.spans.len(), 2);
    // Priced with gpt-4o's cached-input price: 400 × 2.5 + 600 × 1.25 + 100 × 10 per million.
    let cost = applied.batch.spans[0].cost_usd.unwrap();
    assert!((cost - 0.00275).abs() < 1e-12, "llm spans carry their cost: {cost}");
    let llm = &h.llm(NOW)[0];
    assert_eq!(
        (
            llm.prompt_tokens,
            llm.cache_read_tokens,
            llm.cache_creation_tokens,
            llm.reasoning_tokens
        ),
        (1000, 600, 0, 30)
    );
    // The stored spans hold the calls: no llm_calls / tool_calls rows besides them.
    assert!(applied.batch.llm_calls.is_empty() && applied.batch.tool_calls.is_empty());
    assert!(applied.batch.spans[1].failed());
    assert_eq!(h.plugins()[0].error_count, 1);
    assert_eq!(h.agent("svc", NOW).unwrap().tasks_in_progress, 1);

    // The root names the agent: the execution moves to it, then completes.
    let root = span_event("r", None, SpanCategory::Agent, NOW - 1000, NOW);
    let applied = h.apply(vec![span(root, "researcher", false)], NOW);
    let e = h.execution("t1").unwrap();
    assert_eq!(e.status, ExecutionStatus::Completed);
    assert_eq!(e.agent_id, "researcher");
    assert_eq!(
        (e.started_at, e.ended_at, e.duration_ms),
        (Some(NOW - 1000), Some(NOW), Some(1000))
    );
    let a = h.agent("researcher", NOW).unwrap();
    assert_eq!((a.tasks_completed, a.tasks_in_progress, a.tokens_in), (1, 0, 1000));
    // The service-name fallback had nothing else: it is gone, from memory and the store.
    assert!(h.agent("svc", NOW).is_none());
    assert_eq!(applied.batch.removed_agents, ["svc"]);
    assert!(applied.batch.agents.iter().all(|a| a.id != "svc"));
    assert!(applied.topics.contains(&crate::stream::protocol::Topic::Agents));

    // A late child of a finished execution is kept but changes nothing.
    let late = span_event("late", Some("r"), SpanCategory::Other, NOW - 10, NOW - 5);
    let applied = h.apply(vec![span(late, "svc", true)], NOW);
    assert_eq!(applied.batch.spans.len(), 1);
    assert_eq!(h.execution("t1").unwrap().status, ExecutionStatus::Completed);
}

#[test]
fn a_fallback_agent_stays_while_it_has_executions_or_was_announced() {
    let h = hub();
    let child = |trace: &str| {
        let mut s = span_event("c", Some("r"), SpanCategory::Other, NOW - 900, NOW - 500);
        (s.trace_id, s.execution_id) = (trace.into(), trace.into());
        s
    };
    let root = |trace: &str| {
        let mut s = span_event("r", None, SpanCategory::Agent, NOW - 1000, NOW);
        (s.trace_id, s.execution_id) = (trace.into(), trace.into());
        s
    };
    // Two traces wait under the service name; one moves: the fallback keeps the other.
    h.apply(vec![span(child("a"), "svc", true), span(child("b"), "svc", true)], NOW);
    let applied = h.apply(vec![span(root("a"), "researcher", false)], NOW);
    assert!(applied.batch.removed_agents.is_empty());
    assert_eq!(h.agent("svc", NOW).unwrap().tasks_in_progress, 1);
    let applied = h.apply(vec![span(root("b"), "researcher", false)], NOW);
    assert_eq!(applied.batch.removed_agents, ["svc"]);

    // A service that is also announced as an agent is an agent of its own: it stays.
    h.apply(
        vec![
            span(child("c"), "svc2", true),
            Event::Agent(AgentEvent {
                id: "svc2".into(),
                ..Default::default()
            }),
        ],
        NOW,
    );
    let applied = h.apply(vec![span(root("c"), "researcher", false)], NOW);
    assert!(applied.batch.removed_agents.is_empty());
    assert_eq!(h.agent("svc2", NOW).unwrap().tasks_in_progress, 0);
}

#[test]
fn a_failed_root_span_fails_the_execution() {
    let h = hub();
    let mut root = span_event("r", None, SpanCategory::Agent, NOW - 10, NOW);
    root.status = SpanStatus::Error;
    root.status_message = Some("timeout".into());
    h.apply(vec![span(root, "a", false)], NOW);
    let e = h.execution("t1").unwrap();
    assert_eq!(
        (e.status, e.error.as_deref()),
        (ExecutionStatus::Failed, Some("timeout"))
    );
}

#[test]
fn usage_metrics_count_only_for_models_without_calls() {
    let h = hub();
    let usage = |model: &str| {
        Event::LlmUsage(LlmUsageEvent {
            provider: "p".into(),
            model: model.into(),
            requests: 4,
            failed_requests: 1,
            tokens_in: 400,
            tokens_out: 40,
            latency_ms_sum: 2000.0,
            timestamp: Some(NOW),
        })
    };
    let call = Event::LlmCall(LlmCallEvent {
        provider: "p".into(),
        model: "spanned".into(),
        tokens_in: 10,
        latency_ms: 5.0,
        timestamp: Some(NOW),
        ..Default::default()
    });
    h.apply(vec![call, usage("spanned"), usage("metered")], NOW);
    let llm = h.llm(NOW);
    let spanned = llm.iter().find(|l| l.model == "spanned").unwrap();
    assert_eq!((spanned.total_requests, spanned.prompt_tokens), (1, 10));
    let metered = llm.iter().find(|l| l.model == "metered").unwrap();
    assert_eq!(
        (
            metered.total_requests,
            metered.failed_requests,
            metered.prompt_tokens,
            metered.completion_tokens
        ),
        (4, 1, 400, 40)
    );
    assert!((metered.avg_latency_ms - 500.0).abs() < 1e-9);
}

#[test]
fn agents_past_the_limit_fold_into_one_and_finish_there() {
    let h = Hub::new(
        PriceTable::default(),
        "host".into(),
        LiveLimits {
            max_agents: 1,
            ..Default::default()
        },
    );
    let applied = h.apply(
        vec![
            exec("e1", "a", ExecutionStatus::Running, NOW),
            exec("e2", "b", ExecutionStatus::Running, NOW),
            exec("e3", "c", ExecutionStatus::Running, NOW),
        ],
        NOW,
    );
    assert_eq!(applied.folded, 2);
    let ids: Vec<String> = h.agents(NOW).into_iter().map(|a| a.id).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(h.agent(OVERFLOW_AGENT, NOW).unwrap().tasks_in_progress, 2);
    assert_eq!(
        h.execution("e2").unwrap().agent_id,
        "b",
        "the execution keeps its agent"
    );
    // Their ends count where their starts did.
    h.apply(vec![status("e2", ExecutionStatus::Completed, NOW + 5)], NOW + 5);
    let o = h.agent(OVERFLOW_AGENT, NOW + 5).unwrap();
    assert_eq!((o.tasks_in_progress, o.tasks_completed), (1, 1));
    assert!(h.agent("b", NOW + 5).is_none());
}

#[test]
fn idle_entities_retire_from_the_live_set_and_stay_out_at_restore() {
    let h = hub();
    let day = 24 * 3600 * 1000;
    let applied = h.apply(
        vec![
            exec("old", "gone", ExecutionStatus::Completed, NOW - 2 * day),
            exec("busy", "busy", ExecutionStatus::Running, NOW - 2 * day),
            exec("new", "fresh", ExecutionStatus::Completed, NOW - 1000),
        ],
        NOW,
    );
    let retired = h.retire(NOW);
    assert_eq!(retired.agents, ["gone"], "in progress or recent agents stay");
    let ids: Vec<String> = h.agents(NOW).into_iter().map(|a| a.id).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(h.retire(NOW).is_empty(), "nothing twice");

    // What the store still holds of it stays out of a restored hub too.
    let again = hub();
    again.restore(
        Snapshot {
            agents: applied.batch.agents,
            ..Default::default()
        },
        NOW,
    );
    assert!(again.agent("gone", NOW).is_none());
    assert!(again.agent("fresh", NOW).is_some());
}

#[test]
fn the_fold_forecast_counts_only_events_of_agents_without_room() {
    let h = Hub::new(
        PriceTable::default(),
        "host".into(),
        LiveLimits {
            max_agents: 1,
            ..Default::default()
        },
    );
    let events = vec![
        exec("e1", "a", ExecutionStatus::Running, NOW),
        exec("e2", "a", ExecutionStatus::Running, NOW),
        exec("e3", "b", ExecutionStatus::Running, NOW),
    ];
    assert_eq!(h.agents_to_fold(&events), 1, "`a` takes the one slot; only `b` folds");
    assert_eq!(h.apply(events, NOW).folded, 1, "as apply decides");
}
