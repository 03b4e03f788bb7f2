use crate::error::ApiError;
use leptos::prelude::*;

/// A skeleton shown while the first answer is on its way.
#[component]
pub fn Loading(#[prop(into, optional)] what: Option<String>) -> impl IntoView {
    let text = format!("Loading {}…", what.unwrap_or_default());
    view! { <div class="state loading" role="status" aria-busy="true">{text}</div> }
}

/// What went wrong, in words, and that the page will retry by itself.
#[component]
pub fn ErrorBox(error: ApiError) -> impl IntoView {
    view! {
        <div class="state error" role="alert">
            <strong>"Could not load: "</strong>
            {error.message}
            <div class="muted">"Retrying automatically."</div>
        </div>
    }
}

/// Nothing to show yet, and what would make something appear.
#[component]
pub fn Empty(#[prop(into)] title: String, #[prop(into)] hint: String) -> impl IntoView {
    view! {
        <div class="state empty">
            <strong>{title}</strong>
            <div class="muted">{hint}</div>
        </div>
    }
}
