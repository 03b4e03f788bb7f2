//! The browser app: an app shell (navigation, top bar, connection state) around one page
//! component per route.

mod components;
mod load;
mod pages;
mod session;
mod socket;

use components::shell::{Nav, TopBar};
use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The state of the live connection, as the top bar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting,
    Offline,
}

/// The wall clock, ticking once a second, for relative times and running durations.
#[derive(Clone, Copy)]
pub struct Now(pub RwSignal<i64>);

/// Saved views (named queries), listed in the navigation.
#[derive(Clone, Copy)]
pub struct SavedViews(pub RwSignal<Vec<crate::model::SavedView>>);

/// Dark (true) or light theme.
#[derive(Clone, Copy)]
pub struct Dark(pub RwSignal<bool>);

pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

pub fn mount() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

#[component]
pub fn App() -> impl IntoView {
    let now = RwSignal::new(now_ms());
    provide_context(Now(now));
    let live = socket::start();
    let views = RwSignal::new(Vec::new());
    provide_context(SavedViews(views));
    components::scope::provide();
    session::start(move || {
        socket::connect(live);
        leptos::task::spawn_local(async move {
            if let Ok(v) = crate::api::get_views().await {
                views.set(v);
            }
        });
    });
    let dark = RwSignal::new(components::shell::initial_theme_is_dark());
    provide_context(Dark(dark));
    Effect::new(move |_| components::shell::apply_theme(dark.get()));
    let handle = set_interval_with_handle(move || now.set(now_ms()), std::time::Duration::from_secs(1));
    on_cleanup(move || {
        if let Ok(h) = handle {
            h.clear();
        }
    });

    view! {
        <Router>
            <div class="shell">
                <Nav/>
                <div class="main">
                    <TopBar/>
                    <main class="content" id="content">
                        <Routes fallback=|| view! { <pages::not_found::NotFound/> }>
                            <Route path=path!("/") view=pages::overview::OverviewPage/>
                            <Route path=path!("/agents") view=pages::agents::AgentsPage/>
                            <Route path=path!("/agents/:id") view=pages::agent::AgentPage/>
                            <Route path=path!("/executions") view=pages::executions::ExecutionsPage/>
                            <Route path=path!("/executions/:id") view=pages::execution::ExecutionPage/>
                            <Route path=path!("/sessions") view=pages::groups::SessionsPage/>
                            <Route path=path!("/sessions/:id") view=pages::groups::SessionPage/>
                            <Route path=path!("/users") view=pages::groups::UsersPage/>
                            <Route path=path!("/users/:id") view=pages::groups::UserPage/>
                            <Route path=path!("/alerts") view=pages::alerts::AlertsPage/>
                            <Route path=path!("/workflows") view=pages::fleet::WorkflowsPage/>
                            <Route path=path!("/workflows/:id") view=pages::workflow::WorkflowPage/>
                            <Route path=path!("/llm") view=pages::fleet::LlmPage/>
                            <Route path=path!("/plugins") view=pages::fleet::PluginsPage/>
                            <Route path=path!("/system") view=pages::system::SystemPage/>
                            <Route path=path!("/ingest") view=pages::ingest::IngestPage/>
                            <Route path=path!("/login") view=pages::login::LoginPage/>
                        </Routes>
                    </main>
                    <components::toasts::AlertToasts/>
                </div>
            </div>
        </Router>
    }
}
