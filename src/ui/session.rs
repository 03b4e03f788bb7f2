//! Who is signed in. The app asks `GET /api/auth/me` once at start; with authentication on
//! and nobody signed in, every page but `/login` sends the browser to `/login?next=…`, and a
//! request answered 401 later (the session ended) does the same.

use crate::model::{Principal, SessionInfo};
use leptos::prelude::*;

/// `None` until the server has answered.
#[derive(Clone, Copy)]
pub struct Session(pub RwSignal<Option<SessionInfo>>);

impl Session {
    pub fn principal(&self) -> Option<Principal> {
        self.0.with(|s| s.as_ref().and_then(|s| s.principal.clone()))
    }
    /// Authentication is on and nobody is signed in.
    pub fn signed_out(&self) -> bool {
        self.0.with(|s| s.as_ref().is_some_and(SessionInfo::signed_out))
    }
    /// Whether acknowledging and silencing are offered (always, with authentication off).
    pub fn can_operate(&self) -> bool {
        self.0.with(|s| s.as_ref().is_none_or(SessionInfo::can_operate))
    }
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// Provides the session and calls `ready` once someone may see data.
pub fn start(ready: impl FnOnce() + 'static) -> Session {
    let session = Session(RwSignal::new(None));
    provide_context(session);
    leptos::task::spawn_local(async move {
        let info = match gloo_net::http::Request::get("/api/auth/me").send().await {
            Ok(resp) if resp.ok() => resp.json::<SessionInfo>().await.unwrap_or_default(),
            _ => SessionInfo::default(),
        };
        let signed_out = info.signed_out();
        session.0.set(Some(info));
        if signed_out {
            to_login();
        } else {
            ready();
        }
    });
    session
}

/// Sends the browser to the sign-in page, to come back here after (unless already there).
pub fn to_login() {
    let loc = window().location();
    let path = loc.pathname().unwrap_or_default();
    if path == "/login" {
        return;
    }
    let here = format!("{path}{}", loc.search().unwrap_or_default());
    let next = js_sys::encode_uri_component(&here);
    let _ = loc.replace(&format!("/login?next={next}"));
}

pub async fn sign_out() {
    let _ = gloo_net::http::Request::post("/api/auth/logout").send().await;
    let _ = window().location().replace("/login");
}
