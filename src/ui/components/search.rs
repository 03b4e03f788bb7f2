//! The search box: a query of the search language, checked as it is typed (the browser
//! runs the server's parser), the problem and its place shown under the box.

use crate::search::parse;
use leptos::prelude::*;

/// `on_search` gets the query when it parses and the user presses Enter or Search.
#[component]
pub fn SearchBox(#[prop(into)] initial: String, on_search: Callback<String>) -> impl IntoView {
    let text = RwSignal::new(initial);
    let problem = Memo::new(move |_| text.with(|t| parse(t).err()));
    let submit = move || {
        if problem.get_untracked().is_none() {
            on_search.run(text.get_untracked().trim().to_string());
        }
    };
    view! {
        <form class="search" role="search" on:submit=move |ev| { ev.prevent_default(); submit(); }>
            <input
                type="search"
                aria-label="Search executions"
                data-testid="search"
                placeholder="agent:planner status:failed cost>0.05 \"rate limit\""
                spellcheck="false"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
                aria-invalid=move || problem.with(|p| p.is_some()).to_string()
            />
            <button type="submit" disabled=move || problem.with(|p| p.is_some())>"Search"</button>
            {move || problem.get().map(|e| {
                // The query up to the problem, then a marker where it is.
                let before: String = text.with(|t| t.chars().take(e.position).collect());
                view! {
                    <div class="search-error" role="alert" data-testid="search-error">
                        <code>{before}<span class="caret">"⌃"</span></code>
                        <span>{format!("At character {}: expected {}, found {}.", e.position + 1, e.expected, e.found)}</span>
                    </div>
                }
            })}
        </form>
    }
}
