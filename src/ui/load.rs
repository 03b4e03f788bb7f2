//! Initial data through server functions, refreshed when the live connection says the
//! topic behind it changed.

use super::socket::on_topic;
use crate::error::ApiError;
use crate::stream::protocol::Topic;
use leptos::prelude::*;
use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

pub type Loaded<T> = RwSignal<Option<Result<T, ApiError>>>;

/// A 401 means the session ended: back to the sign-in page.
fn check_session<T>(result: &Result<T, ApiError>) {
    if matches!(result, Err(e) if e.code == crate::error::ErrorCode::Unauthorized) {
        super::session::to_login();
    }
}

/// Calls `fetch` once.
pub fn load_once<T, F, Fut>(fetch: F) -> Loaded<T>
where
    T: Send + Sync + 'static,
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    let data: Loaded<T> = RwSignal::new(None);
    leptos::task::spawn_local(async move {
        let result = fetch().await;
        check_session(&result);
        data.try_set(Some(result));
    });
    data
}

/// Calls `fetch` now and again whenever a snapshot or delta of `topic` arrives. The
/// previous answer stays on screen while a new one loads; answers that come back out of
/// order are dropped.
pub fn load_on<T, F, Fut>(topic: Topic, fetch: F) -> Loaded<T>
where
    T: Send + Sync + 'static,
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    load_keyed(topic, 0.0, Memo::new(|_| ()), move |_| fetch())
}

/// Calls `fetch(key)` now, again whenever `key` changes, and again when `topic` changes,
/// at most once every `every_ms` (a change inside that time is fetched when it ends).
pub fn load_keyed<K, T, F, Fut>(topic: Topic, every_ms: f64, key: Memo<K>, fetch: F) -> Loaded<T>
where
    K: Clone + PartialEq + Send + Sync + 'static,
    T: Send + Sync + 'static,
    F: Fn(K) -> Fut + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    load_keyed_while(topic, every_ms, key, Signal::stored(true), fetch)
}

/// [`load_keyed`], with changes of `topic` heeded only while `active` holds: what `key`
/// covers alone refreshes the data once `active` ends.
pub fn load_keyed_while<K, T, F, Fut>(
    topic: Topic,
    every_ms: f64,
    key: Memo<K>,
    active: Signal<bool>,
    fetch: F,
) -> Loaded<T>
where
    K: Clone + PartialEq + Send + Sync + 'static,
    T: Send + Sync + 'static,
    F: Fn(K) -> Fut + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    let data: Loaded<T> = RwSignal::new(None);
    let issued = Rc::new(Cell::new(0u64));
    let last = Rc::new(Cell::new(f64::MIN));
    let load = {
        let last = last.clone();
        Rc::new(move || {
            let n = issued.get() + 1;
            issued.set(n);
            last.set(js_sys::Date::now());
            let (issued, future) = (issued.clone(), fetch(key.get_untracked()));
            leptos::task::spawn_local(async move {
                let result = future.await;
                check_session(&result);
                if issued.get() == n {
                    data.try_set(Some(result));
                }
            });
        })
    };
    let on_key = load.clone();
    Effect::new(move |_| {
        key.track();
        on_key();
    });
    let waiting = Rc::new(Cell::new(false));
    on_topic(topic, move || {
        if waiting.get() || !active.get_untracked() {
            return;
        }
        let wait = last.get() + every_ms - js_sys::Date::now();
        if wait <= 0.0 {
            load();
            return;
        }
        waiting.set(true);
        let (load, waiting) = (load.clone(), waiting.clone());
        set_timeout(
            move || {
                waiting.set(false);
                load();
            },
            std::time::Duration::from_millis(wait as u64),
        );
    });
    data
}
