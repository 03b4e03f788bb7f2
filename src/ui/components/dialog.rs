use leptos::prelude::*;

/// A modal dialog with a title; Escape or the backdrop closes it.
#[component]
pub fn Dialog(
    #[prop(into)] title: String,
    on_close: impl Fn() + Copy + Send + Sync + 'static,
    children: Children,
) -> impl IntoView {
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" {
            on_close();
        }
    });
    on_cleanup(move || handle.remove());
    view! {
        <div class="backdrop" on:click=move |_| on_close()></div>
        <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dialog-title">
            <h2 id="dialog-title">{title}</h2>
            {children()}
        </div>
    }
}
