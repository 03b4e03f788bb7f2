use crate::ui::socket::use_live;
use leptos::prelude::*;
use leptos_router::components::A;

/// A toast for each alert that starts firing while the app is open.
#[component]
pub fn AlertToasts() -> impl IntoView {
    let toasts = use_live().toasts;
    view! {
        <div class="toasts" aria-live="assertive">
            <For each=move || toasts.get() key=|t| t.0.clone() children=move |(id, text)| view! {
                <div class="toast" role="alert">
                    <span class="pill failed"><span class="dot"></span>"firing"</span>
                    <span>{text}</span>
                    <A href=format!("/alerts?alert={id}")>"Open"</A>
                </div>
            }/>
        </div>
    }
}
