use crate::format;
use crate::ui::Now;
use leptos::prelude::*;

/// A relative time ("3 s ago") with the absolute time on hover.
#[component]
pub fn Ago(ts: i64) -> impl IntoView {
    let Now(now) = expect_context::<Now>();
    view! { <time title=format::utc(ts)>{move || format::relative(ts, now.get())}</time> }
}
