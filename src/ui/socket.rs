//! The one live connection: a WebSocket to `/ws` that subscribes to every topic and to the
//! executions being watched, feeds each message to [`apply`], and reconnects with capped
//! exponential backoff and jitter, resuming watched executions from their last sequence
//! number.

use super::Connection;
use crate::stream::protocol::{ClientMessage, ServerMessage, Subscription, Topic};
use crate::stream::state::{apply, Followup, LiveState};
use leptos::prelude::*;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

const BACKOFF_MIN_MS: f64 = 500.0;
const BACKOFF_MAX_MS: f64 = 10_000.0;
/// Failed attempts after which the indicator says Offline (retries go on).
const OFFLINE_AFTER: u32 = 6;

/// The live state and the connection's health, for components to read.
#[derive(Clone, Copy)]
pub struct Live {
    pub state: RwSignal<LiveState>,
    pub connection: RwSignal<Connection>,
    /// Alerts that started firing since the page loaded: (alert id, text), newest last.
    pub toasts: RwSignal<Vec<(String, String)>>,
}

type Listener = (u64, Topic, Rc<dyn Fn()>);

thread_local! {
    /// Called after a message batch that moved a topic on (a snapshot or a delta arrived).
    static LISTENERS: RefCell<Vec<Listener>> = const { RefCell::new(Vec::new()) };
    static NEXT_LISTENER: Cell<u64> = const { Cell::new(1) };
}

/// Calls `f` each time `topic` moves on, until the calling component is cleaned up.
pub fn on_topic(topic: Topic, f: impl Fn() + 'static) {
    let id = NEXT_LISTENER.with(|n| n.replace(n.get() + 1));
    LISTENERS.with(|l| l.borrow_mut().push((id, topic, Rc::new(f))));
    on_cleanup(move || LISTENERS.with(|l| l.borrow_mut().retain(|(i, _, _)| *i != id)));
}

struct Socket {
    ws: Option<WebSocket>,
    attempt: u32,
    /// Messages received and not yet applied (applied together, once per frame).
    inbox: Vec<ServerMessage>,
    flush_scheduled: bool,
    // Keep the callbacks alive as long as the socket.
    _callbacks: Vec<Box<dyn std::any::Any>>,
}

thread_local! {
    static SOCKET: RefCell<Socket> = RefCell::new(Socket { ws: None, attempt: 0, inbox: Vec::new(), flush_scheduled: false, _callbacks: Vec::new() });
}

/// Creates the live state and provides it as context; [`connect`] opens the connection.
pub fn start() -> Live {
    let live = Live {
        state: RwSignal::new(LiveState::default()),
        connection: RwSignal::new(Connection::Connecting),
        toasts: RwSignal::new(Vec::new()),
    };
    provide_context(live);
    live
}

pub fn use_live() -> Live {
    expect_context::<Live>()
}

fn url() -> String {
    let loc = window().location();
    let proto = if loc.protocol().unwrap_or_default() == "https:" {
        "wss"
    } else {
        "ws"
    };
    format!("{proto}://{}/ws", loc.host().unwrap_or_default())
}

fn send(msg: &ClientMessage) {
    SOCKET.with(|s| {
        if let Some(ws) = s.borrow().ws.as_ref().filter(|ws| ws.ready_state() == WebSocket::OPEN) {
            if let Ok(text) = serde_json::to_string(msg) {
                let _ = ws.send_with_str(&text);
            }
        }
    });
}

fn subscribe_topics(topics: Vec<Topic>) {
    send(&ClientMessage::Subscribe(Subscription {
        topics: topics.into_iter().map(|t| t.as_str().to_string()).collect(),
        compact: true,
        ..Default::default()
    }));
}

fn subscribe_execution(id: &str, after_seq: Option<u64>) {
    send(&ClientMessage::Subscribe(Subscription {
        execution_id: Some(id.to_string()),
        after_seq,
        ..Default::default()
    }));
}

/// Everything again: all topics (fresh snapshots), every watched execution from its last line.
fn resubscribe_all(live: Live) {
    subscribe_topics(Topic::ALL.to_vec());
    let watched: Vec<(String, Option<u64>)> = live
        .state
        .with_untracked(|s| s.watched.iter().map(|(id, w)| (id.clone(), w.last_seq)).collect());
    for (id, after) in watched {
        subscribe_execution(&id, after);
    }
}

/// Starts streaming one execution's logs, status and metrics into the live state.
pub fn watch(live: Live, execution_id: &str) {
    live.state.update(|s| s.watch(execution_id));
    let after = live
        .state
        .with_untracked(|s| s.watched.get(execution_id).and_then(|w| w.last_seq));
    subscribe_execution(execution_id, after);
}

pub fn unwatch(live: Live, execution_id: &str) {
    send(&ClientMessage::Unsubscribe(Subscription {
        execution_id: Some(execution_id.to_string()),
        ..Default::default()
    }));
    live.state.try_update(|s| s.unwatch(execution_id));
}

pub fn connect(live: Live) {
    let Ok(ws) = WebSocket::new(&url()) else {
        schedule_reconnect(live);
        return;
    };
    let on_open = Closure::<dyn FnMut()>::new(move || {
        SOCKET.with(|s| s.borrow_mut().attempt = 0);
        live.connection.set(Connection::Live);
        resubscribe_all(live);
    });
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let Some(text) = ev.data().as_string() else {
            return;
        };
        match serde_json::from_str::<ServerMessage>(&text) {
            Ok(msg) => enqueue(live, msg),
            Err(e) => leptos::logging::warn!("unreadable live message: {e}"),
        }
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
        live.state.update(|s| s.reconnecting());
        schedule_reconnect(live);
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    SOCKET.with(|s| {
        let mut s = s.borrow_mut();
        s.ws = Some(ws);
        s._callbacks = vec![Box::new(on_open), Box::new(on_message), Box::new(on_close)];
    });
}

fn schedule_reconnect(live: Live) {
    let attempt = SOCKET.with(|s| {
        let mut s = s.borrow_mut();
        s.ws = None;
        s.attempt += 1;
        s.attempt
    });
    live.connection.set(if attempt > OFFLINE_AFTER {
        Connection::Offline
    } else {
        Connection::Reconnecting
    });
    let base = (BACKOFF_MIN_MS * 2f64.powi(attempt.min(16) as i32 - 1)).min(BACKOFF_MAX_MS);
    let delay = base * (0.5 + js_sys::Math::random() * 0.5);
    set_timeout(move || connect(live), Duration::from_millis(delay as u64));
}

/// Queues a message; all queued messages are applied in one update on the next frame, so a
/// burst of log lines renders once.
fn enqueue(live: Live, msg: ServerMessage) {
    let schedule = SOCKET.with(|s| {
        let mut s = s.borrow_mut();
        s.inbox.push(msg);
        !std::mem::replace(&mut s.flush_scheduled, true)
    });
    if schedule {
        set_timeout(move || flush(live), Duration::from_millis(16));
    }
}

fn flush(live: Live) {
    let messages = SOCKET.with(|s| {
        let mut s = s.borrow_mut();
        s.flush_scheduled = false;
        std::mem::take(&mut s.inbox)
    });
    let mut followups = Vec::new();
    let mut moved = Vec::new();
    let mut fired = Vec::new();
    live.state.update(|state| {
        let seqs = state.seqs.clone();
        let had_alerts = state.has_snapshot(Topic::Alerts);
        let was_firing = firing(state);
        for msg in messages {
            if let Some(f) = apply(state, msg) {
                followups.push(f);
            }
        }
        moved = state
            .seqs
            .iter()
            .filter(|(t, s)| seqs.get(*t) != Some(*s))
            .map(|(t, _)| *t)
            .collect();
        if had_alerts {
            fired = firing(state)
                .into_iter()
                .filter(|id| !was_firing.contains(id))
                .filter_map(|id| {
                    state
                        .alerts
                        .get(&id)
                        .map(|a| (id.clone(), format!("{}: {}", a.rule, a.summary)))
                })
                .collect();
        }
    });
    for (id, text) in fired {
        live.toasts.update(|t| t.push((id.clone(), text)));
        set_timeout(
            move || live.toasts.update(|t| t.retain(|(i, _)| *i != id)),
            Duration::from_secs(8),
        );
    }
    let listeners: Vec<Rc<dyn Fn()>> = LISTENERS.with(|l| {
        l.borrow()
            .iter()
            .filter(|(_, t, _)| moved.iter().any(|m| m == t))
            .map(|(_, _, f)| f.clone())
            .collect()
    });
    for f in listeners {
        f();
    }
    for f in followups {
        match f {
            Followup::Resubscribe(topics) => subscribe_topics(topics),
            Followup::ResumeExecution {
                execution_id,
                after_seq,
            } => subscribe_execution(&execution_id, after_seq),
            Followup::ResyncAll => resubscribe_all(live),
        }
    }
}

fn firing(state: &LiveState) -> std::collections::HashSet<String> {
    state
        .alerts
        .values()
        .filter(|a| a.state == crate::model::AlertState::Firing)
        .map(|a| a.id.clone())
        .collect()
}
