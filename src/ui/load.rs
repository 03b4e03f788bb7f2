//! Initial data through server functions, refreshed when the live connection says the
//! topic behind it changed.

use super::live::use_live;
use crate::error::ApiError;
use leptos::prelude::*;
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

/// Calls `fetch` now and again whenever a delta of `topic` arrives (or `fetch`'s own
/// reactive inputs change). The previous answer stays on screen while a new one loads.
pub fn load_on<T, F, Fut>(topic: &'static str, fetch: F) -> Loaded<T>
where
    T: Send + Sync + 'static,
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    let live = use_live();
    let data: Loaded<T> = RwSignal::new(None);
    let seq = Memo::new(move |_| live.state.with(|s| s.seqs.get(topic).copied()));
    let fetch = Rc::new(fetch);
    Effect::new(move |_| {
        seq.track();
        let future = fetch();
        leptos::task::spawn_local(async move {
            data.try_set(Some(future.await));
        });
    });
    data
}
