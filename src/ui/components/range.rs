//! The time range control: 15m · 1h · 6h · 24h · 7d, kept in the address (`?range=6h`) so
//! a chart's view can be shared.

use crate::model::TimeRange;
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_query_map};

/// The range in the address; 1h when it names none (or one that does not exist).
pub fn use_range() -> Memo<TimeRange> {
    let query = use_query_map();
    Memo::new(move |_| {
        query
            .read()
            .get("range")
            .and_then(|r| TimeRange::parse(&r))
            .unwrap_or_default()
    })
}

#[component]
pub fn RangePicker(range: Memo<TimeRange>) -> impl IntoView {
    let location = use_location();
    view! {
        <nav class="range" aria-label="Time range">
            {TimeRange::ALL
                .into_iter()
                .map(|r| {
                    let href = move || format!("{}?range={}", location.pathname.get(), r.as_str());
                    let current = move || range.get() == r;
                    view! {
                        <a href=href class:active=current aria-current=move || current().then_some("true")>
                            {r.as_str()}
                        </a>
                    }
                })
                .collect_view()}
        </nav>
    }
}
