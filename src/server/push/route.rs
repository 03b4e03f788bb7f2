//! Live log lines to the clients watching their execution: who takes an execution's lines is
//! worked out once per publish, not once per line, so a thousand watchers that fell behind
//! cost a thousand checks per publish, not per line.

use super::client::ExecSub;
use super::{frame, log_message, Client, MAX_BUFFERED};
use crate::model::LogRecord;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The clients one execution's lines go to, for one publish.
#[derive(Default)]
struct Route {
    live: Vec<Arc<Client>>,
    buffering: Vec<Arc<Client>>,
    /// Clients that fell behind, with the line (of `lines`) from which they got nothing.
    dropping: Vec<(Arc<Client>, u64)>,
    lines: u64,
}

/// Sends each line to the clients watching its execution (queued behind the backlog of
/// those still reading it).
pub(super) fn send_logs(
    logs: Vec<LogRecord>,
    watchers: &HashMap<String, HashSet<u64>>,
    clients: &HashMap<u64, Arc<Client>>,
    now: i64,
) {
    // Who takes an execution's lines is worked out once per publish, not once per line:
    // clients that can take more, by whether they read live or buffer behind a backlog.
    let mut routes: HashMap<String, Route> = HashMap::new();
    for record in logs {
        let Some(watching) = watchers.get(&record.execution_id) else {
            continue;
        };
        if !routes.contains_key(&record.execution_id) {
            let mut route = Route::default();
            for c in watching.iter().filter_map(|c| clients.get(c)) {
                // A client that is lagging gets nothing until it resyncs.
                if c.lagging.load(Ordering::Relaxed) {
                    route.dropping.push((c.clone(), 0));
                    continue;
                }
                match c.executions.lock().get(&record.execution_id) {
                    Some(ExecSub::Live) => route.live.push(c.clone()),
                    Some(ExecSub::Buffering(_)) => route.buffering.push(c.clone()),
                    None => {}
                }
            }
            routes.insert(record.execution_id.clone(), route);
        }
        let route = routes.get_mut(&record.execution_id).expect("inserted above");
        route.lines += 1;
        if route.live.is_empty() && route.buffering.is_empty() {
            continue;
        }
        let (id, seq) = (record.execution_id.clone(), record.seq);
        let f = frame(&log_message(record, now));
        // One that falls behind now leaves the route.
        let (lines, dropping) = (route.lines, &mut route.dropping);
        route.live.retain(|c| {
            c.send(f.clone());
            let lagging = c.lagging.load(Ordering::Relaxed);
            if lagging {
                dropping.push((c.clone(), lines));
            }
            !lagging
        });
        for c in &route.buffering {
            let mut subs = c.executions.lock();
            match subs.get_mut(&id) {
                Some(ExecSub::Buffering(held)) if held.len() < MAX_BUFFERED => held.push((seq, f.clone())),
                Some(ExecSub::Buffering(_)) => {
                    drop(subs);
                    c.lagging.store(true, Ordering::Relaxed);
                    c.lag.notify_one();
                }
                Some(ExecSub::Live) => c.send(f.clone()),
                None => {}
            }
        }
    }
    // Lines not sent to clients that fell behind, counted once per publish.
    for route in routes.values() {
        for (c, from) in &route.dropping {
            c.dropped.fetch_add(route.lines - from, Ordering::Relaxed);
        }
    }
}
