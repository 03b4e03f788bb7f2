use crate::ui::socket::use_live;
use crate::ui::{Connection, Dark};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

const THEME_KEY: &str = "observatory-theme";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Dark by default; light when the user chose it (remembered in local storage).
pub fn initial_theme_is_dark() -> bool {
    storage()
        .and_then(|s| s.get_item(THEME_KEY).ok().flatten())
        .is_none_or(|saved| saved != "light")
}

pub fn apply_theme(dark: bool) {
    let mode = if dark { "dark" } else { "light" };
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = el.set_attribute("data-theme", mode);
    }
    if let Some(s) = storage() {
        let _ = s.set_item(THEME_KEY, mode);
    }
}

const LINKS: &[(&str, &str, &str)] = &[
    (
        "/",
        "Overview",
        "M3 13h8V3H3zm0 8h8v-6H3zm10 0h8V11h-8zm0-18v6h8V3z",
    ),
    (
        "/agents",
        "Agents",
        "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm0 2c-4 0-8 2-8 5v1h16v-1c0-3-4-5-8-5z",
    ),
    (
        "/executions",
        "Executions",
        "M4 6h16v2H4zm0 5h16v2H4zm0 5h10v2H4z",
    ),
    (
        "/sessions",
        "Sessions",
        "M4 4h16v11H7l-3 3zm3 4v2h10V8zm0 3v2h7v-2z",
    ),
    (
        "/users",
        "Users",
        "M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zm7 0a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM9 13c-3.3 0-7 1.7-7 4.5V20h14v-2.5C16 14.7 12.3 13 9 13zm7 0c-.5 0-1 0-1.5.1 1.5 1 2.5 2.5 2.5 4.4V20h6v-2.5c0-2.8-3.7-4.5-7-4.5z",
    ),
    (
        "/workflows",
        "Workflows",
        "M6 3a3 3 0 0 0-1 5.8V15a3 3 0 1 0 2 0v-2h6a3 3 0 0 0 3-3V8.8A3 3 0 1 0 14 8.8V10a1 1 0 0 1-1 1H7V8.8A3 3 0 0 0 6 3z",
    ),
    (
        "/llm",
        "LLM",
        "M12 2 3 7v10l9 5 9-5V7zm0 2.3L18.7 8 12 11.7 5.3 8zM5 9.7l6 3.3v6.7l-6-3.3zm8 10V13l6-3.3v6.7z",
    ),
    (
        "/plugins",
        "Tools & plugins",
        "M20 11h-1.5V7a2 2 0 0 0-2-2h-4V3.5a2.5 2.5 0 0 0-5 0V5h-4a2 2 0 0 0-2 2v3.8h1.5a2.7 2.7 0 0 1 0 5.4H1.5V20a2 2 0 0 0 2 2h3.8v-1.5a2.7 2.7 0 0 1 5.4 0V22h3.8a2 2 0 0 0 2-2v-4H20a2.5 2.5 0 0 0 0-5z",
    ),
    (
        "/system",
        "System",
        "M4 4h16v10H4zm-2 12h20v2H2zm6 3h8v2H8z",
    ),
    (
        "/ingest",
        "Ingest",
        "M12 3v10.6l-3.3-3.3-1.4 1.4L12 16.4l4.7-4.7-1.4-1.4-3.3 3.3V3zM4 15v4a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-4h-2v4H6v-4z",
    ),
    (
        "/alerts",
        "Alerts",
        "M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2zm6-6V11c0-3.1-1.6-5.6-4.5-6.3V4a1.5 1.5 0 0 0-3 0v.7C7.6 5.4 6 7.9 6 11v5l-2 2v1h16v-1z",
    ),
];

/// Alerts firing now, from the live state.
fn firing_count() -> Signal<usize> {
    let live = use_live();
    Signal::derive(move || {
        live.state.with(|s| {
            s.alerts
                .values()
                .filter(|a| a.state == crate::model::AlertState::Firing)
                .count()
        })
    })
}

/// The left navigation: icons and labels, collapsible.
#[component]
pub fn Nav() -> impl IntoView {
    let collapsed = RwSignal::new(false);
    let firing = firing_count();
    let location = use_location();
    let active = move |href: &str| {
        let path = location.pathname.get();
        if href == "/" {
            path == "/"
        } else {
            path.starts_with(href)
        }
    };
    view! {
        <nav class="nav" class:collapsed=move || collapsed.get() aria-label="Main">
            <div class="brand">
                <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
                    <circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2"/>
                    <circle cx="12" cy="12" r="3" fill="currentColor"/>
                </svg>
                <span class="label">"Observatory"</span>
            </div>
            <ul>
                {LINKS
                    .iter()
                    .map(|(href, label, icon)| {
                        let href = *href;
                        view! {
                            <li>
                                <A href=href attr:class=move || if active(href) { "navlink active" } else { "navlink" }>
                                    <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
                                        <path d=*icon fill="currentColor"/>
                                    </svg>
                                    <span class="label">{*label}</span>
                                    {(href == "/alerts").then(|| view! {
                                        {move || (firing.get() > 0).then(|| view! { <span class="badge" aria-label=format!("{} firing", firing.get())>{firing.get()}</span> })}
                                    })}
                                </A>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <SavedViewLinks/>
            <button
                class="collapse"
                aria-label=move || if collapsed.get() { "Expand navigation" } else { "Collapse navigation" }
                on:click=move |_| collapsed.update(|c| *c = !*c)
            >
                {move || if collapsed.get() { "»" } else { "«" }}
            </button>
        </nav>
    }
}

/// Saved views under the links, each a link to its query.
#[component]
fn SavedViewLinks() -> impl IntoView {
    let views = expect_context::<crate::ui::SavedViews>().0;
    move || {
        let list = views.get();
        (!list.is_empty()).then(|| {
            view! {
                <div class="views-title">"Saved views"</div>
                <div class="views" data-testid="saved-views">
                    {list
                        .into_iter()
                        .map(|v| {
                            let href = format!("/executions?q={}", crate::ui::pages::executions::encode(&v.query));
                            view! { <A href=href attr:class="view-link" attr:title=v.query.clone()>{v.name.clone()}</A> }
                        })
                        .collect_view()}
                </div>
            }
        })
    }
}

/// The top bar: page title, environment, connection indicator, theme switch.
#[component]
pub fn TopBar() -> impl IntoView {
    let connection = use_live().connection;
    let Dark(dark) = expect_context::<Dark>();
    let session = crate::ui::session::use_session();
    let location = use_location();
    let title = move || {
        let path = location.pathname.get();
        match path.split('/').nth(1).unwrap_or("") {
            "" => "Overview",
            "agents" if path.len() > "/agents/".len() => "Agent",
            "agents" => "Agents",
            "executions" if path.len() > "/executions/".len() => "Execution",
            "executions" => "Executions",
            "sessions" if path.len() > "/sessions/".len() => "Session",
            "sessions" => "Sessions",
            "users" if path.len() > "/users/".len() => "User",
            "users" => "Users",
            "alerts" => "Alerts",
            "workflows" if path.len() > "/workflows/".len() => "Workflow",
            "workflows" => "Workflows",
            "llm" => "LLM providers and models",
            "plugins" => "Tools and plugins",
            "system" => "System",
            "ingest" => "Ingest health",
            "login" => "Sign in",
            _ => "Not found",
        }
    };
    let (label, class) = (
        move || match connection.get() {
            Connection::Connecting => "Connecting",
            Connection::Live => "Live",
            Connection::Reconnecting => "Reconnecting",
            Connection::Offline => "Offline",
        },
        move || match connection.get() {
            Connection::Connecting => "conn connecting",
            Connection::Live => "conn live",
            Connection::Reconnecting => "conn connecting",
            Connection::Offline => "conn offline",
        },
    );
    view! {
        <header class="topbar">
            <h1 class="title">{title}</h1>
            <div class="spacer"></div>
            <crate::ui::components::scope::EnvSwitcher/>
            {
                let firing = firing_count();
                move || (firing.get() > 0).then(|| view! {
                    <A href="/alerts" attr:class="firing" attr:data-testid="firing-count">{format!("{} firing", firing.get())}</A>
                })
            }
            // Signed out, there is no live connection to speak of.
            <span class=class role="status" aria-live="polite" data-testid="connection" hidden=move || session.signed_out()>
                <span class="dot"></span>
                {label}
            </span>
            {move || session.principal().map(|p| view! {
                <span class="who" data-testid="signed-in">{p.name} " · " {p.role.as_str()}</span>
                <button class="ghost" on:click=move |_| leptos::task::spawn_local(crate::ui::session::sign_out())>"Sign out"</button>
            })}
            <button
                class="ghost"
                aria-label=move || if dark.get() { "Switch to light theme" } else { "Switch to dark theme" }
                on:click=move |_| dark.update(|d| *d = !*d)
            >
                {move || if dark.get() { "☀" } else { "☾" }}
            </button>
        </header>
    }
}
