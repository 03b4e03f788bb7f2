//! `/login`: trade an access token for a session cookie, then go back where the user was.

use leptos::prelude::*;

#[component]
pub fn LoginPage() -> impl IntoView {
    let token = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        let body = serde_json::json!({ "token": token.get_untracked() });
        leptos::task::spawn_local(async move {
            let answer = match gloo_net::http::Request::post("/api/auth/login").json(&body) {
                Ok(request) => request.send().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            busy.set(false);
            match answer {
                // A full load: the app starts again, signed in, with its live connection.
                Ok(resp) if resp.ok() => {
                    let _ = window().location().replace(&next_page());
                }
                Ok(resp) => {
                    let message = resp
                        .json::<crate::error::ApiError>()
                        .await
                        .map(|e| e.message)
                        .unwrap_or_else(|_| format!("sign-in failed ({})", resp.status()));
                    error.set(Some(message));
                }
                Err(e) => error.set(Some(format!("cannot reach the server: {e}"))),
            }
        });
    };
    view! {
        <section class="login">
            <form class="panel login-card" on:submit=submit>
                <h2>"Sign in to Observatory"</h2>
                <p class="sub">"Paste the access token you were given. It is kept by the server as a session; this browser keeps only a cookie."</p>
                <label>
                    "Access token"
                    <input
                        type="password"
                        name="token"
                        autocomplete="current-password"
                        required
                        autofocus=true
                        prop:value=move || token.get()
                        on:input=move |ev| token.set(event_target_value(&ev))
                    />
                </label>
                {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <button type="submit" class="primary" disabled=move || busy.get()>"Sign in"</button>
            </form>
        </section>
    }
}

/// `?next=` when it is a path on this site ([`crate::model::sign_in_return_path`]), else the
/// overview.
fn next_page() -> String {
    let search = window().location().search().unwrap_or_default();
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|kv| kv.strip_prefix("next="))
        .and_then(|v| js_sys::decode_uri_component(v).ok())
        .map(String::from)
        .filter(|p| crate::model::sign_in_return_path(p).is_some())
        .unwrap_or_else(|| "/".into())
}
