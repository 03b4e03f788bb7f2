//! Initial data through server functions, refreshed when the live connection says the
//! topic behind it changed.

use super::live::on_topic;
use crate::error::ApiError;
use leptos::prelude::*;
use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

pub type Loaded<T> = RwSignal<Option<Result<T, ApiError>>>;

/// Calls `fetch` once.
pub fn load_once<T, F, Fut>(fetch: F) -> Loaded<T>
where
    T: Send + Sync + 'static,
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    let data: Loaded<T> = RwSignal::new(None);
    leptos::task::spawn_local(async move {
        data.try_set(Some(fetch().await));
    });
    data
}

/// Calls `fetch` now and again whenever a snapshot or delta of `topic` arrives. The
/// previous answer stays on screen while a new one loads; answers that come back out of
/// order are dropped.
pub fn load_on<T, F, Fut>(topic: &'static str, fetch: F) -> Loaded<T>
where
    T: Send + Sync + 'static,
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    let data: Loaded<T> = RwSignal::new(None);
    let issued = Rc::new(Cell::new(0u64));
    let load = Rc::new(move || {
        let n = issued.get() + 1;
        issued.set(n);
        let (issued, future) = (issued.clone(), fetch());
        leptos::task::spawn_local(async move {
            let result = future.await;
            if issued.get() == n {
                data.try_set(Some(result));
            }
        });
    });
    load();
    on_topic(topic, move || load());
    data
}
