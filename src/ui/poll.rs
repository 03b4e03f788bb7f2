//! Loading data through server functions and refreshing it on an interval, while the
//! component that asked is alive.

use super::Connection;
use crate::error::ApiError;
use leptos::prelude::*;
use std::future::Future;

pub type Loaded<T> = RwSignal<Option<Result<T, ApiError>>>;

/// Calls `fetch` now and every `every_ms`, keeping the latest answer (and the previous
/// data while a refresh is under way). Stops when the owning component is gone.
pub fn poll<T, F, Fut>(every_ms: u32, fetch: F) -> Loaded<T>
where
    T: Send + Sync + 'static,
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    let data: Loaded<T> = RwSignal::new(None);
    let connection = use_context::<RwSignal<Connection>>();
    leptos::task::spawn_local(async move {
        loop {
            let result = fetch().await;
            if let Some(c) = connection {
                let state = match &result {
                    Err(e) if e.code == crate::error::ErrorCode::Overloaded => Connection::Offline,
                    _ => Connection::Live,
                };
                c.try_set(state);
            }
            if data.try_set(Some(result)).is_some() {
                break; // the component is gone
            }
            gloo_timers::future::TimeoutFuture::new(every_ms).await;
            if data.try_with_untracked(|_| ()).is_none() {
                break;
            }
        }
    });
    data
}
