//! The environment every page is scoped to: chosen in the top bar, remembered in local
//! storage, read by the pages that list executions, sessions and users.

use crate::api::get_environments;
use crate::ui::load::load_once;
use leptos::prelude::*;

const ENV_KEY: &str = "observatory-env";

/// The chosen environment; None for all of them.
#[derive(Clone, Copy)]
pub struct Env(pub RwSignal<Option<String>>);

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Provides the scope, restored from the last visit.
pub fn provide() {
    let saved = storage()
        .and_then(|s| s.get_item(ENV_KEY).ok().flatten())
        .filter(|e| !e.is_empty());
    let env = RwSignal::new(saved);
    Effect::new(move |_| {
        if let Some(s) = storage() {
            let _ = match env.get() {
                Some(e) => s.set_item(ENV_KEY, &e),
                None => s.remove_item(ENV_KEY),
            };
        }
    });
    provide_context(Env(env));
}

pub fn use_env() -> RwSignal<Option<String>> {
    expect_context::<Env>().0
}

/// The top bar's switcher: the environments executions name, most used first; hidden
/// while there are none.
#[component]
pub fn EnvSwitcher() -> impl IntoView {
    let env = use_env();
    let known = load_once(get_environments);
    move || {
        let mut envs = known.get().and_then(|r| r.ok()).unwrap_or_default();
        let chosen = env.get();
        if let Some(c) = &chosen {
            if !envs.contains(c) {
                envs.push(c.clone());
            }
        }
        (!envs.is_empty()).then(|| {
            view! {
                <select
                    aria-label="Environment"
                    data-testid="env-switcher"
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        env.set((!v.is_empty()).then_some(v));
                    }
                >
                    <option value="" selected=chosen.is_none()>"All environments"</option>
                    {envs
                        .into_iter()
                        .map(|e| {
                            let selected = chosen.as_deref() == Some(e.as_str());
                            view! { <option value=e.clone() selected=selected>{e.clone()}</option> }
                        })
                        .collect_view()}
                </select>
            }
        })
    }
}
