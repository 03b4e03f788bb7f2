use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <div class="state empty">
            <strong>"Nothing here"</strong>
            <div class="muted">"This address is not a page of Observatory. " <A href="/">"Go to the overview"</A></div>
        </div>
    }
}
