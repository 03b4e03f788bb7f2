//! The middleware in front of every route: the Host and Origin checks, then authentication
//! and the role the route needs (`auth::policy`), then the per-token ingest rate.

use crate::error::{ApiError, ErrorCode};
use crate::server::auth::{required, Access};
use crate::server::ingest::{ledger, Rejection};
use crate::server::otlp;
use crate::server::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let access = required(req.method(), req.uri().path());
    if let Err(e) = check_host(&state, req.headers()).and_then(|()| check_origin(&state, req.method(), req.headers())) {
        return e.into_response();
    }
    // Ingest is counted by the name of its token (`ingest::ledger`).
    let mut source = ledger::ANONYMOUS.to_string();
    match state.auth.authorize(req.headers(), access) {
        Ok(Some(principal)) => {
            source.clone_from(&principal.name);
            req.extensions_mut().insert(principal);
        }
        Ok(None) => {}
        Err(e) => {
            // Refused ingest requests are counted on `/metrics` by reason, like bad bodies.
            if access == Access::Ingest {
                state.ingest.count_rejected(Rejection::of(&e), 1);
            }
            let mut resp = if req.uri().path().starts_with("/v1/") {
                otlp::http::refusal(req.headers(), e)
            } else {
                e.into_response()
            };
            if resp.status() == StatusCode::UNAUTHORIZED {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"observatory\""),
                );
            }
            return resp;
        }
    }
    if access == Access::Ingest {
        return ledger::as_source(&source, next.run(req)).await;
    }
    next.run(req).await
}

/// With authentication off on a loopback address, only the address guards the server, and a
/// DNS-rebinding page reaches it under a name of its own: only loopback names are served
/// then. (With tokens, the token guards it, whatever name it is reached by; on a public
/// address without tokens, `--insecure` said so.) Requests without `Host` are not browsers'.
fn check_host(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.auth.enabled() || !state.config.listen.ip().is_loopback() {
        return Ok(());
    }
    let Some(host) = headers.get(header::HOST) else {
        return Ok(());
    };
    let host = host.to_str().unwrap_or("");
    if is_loopback_name(host) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Forbidden,
        format!(
            "host `{host}` is not served: without authentication Observatory answers only to localhost, 127.0.0.1 and [::1]; configure tokens to serve it under other names"
        ),
    ))
}

/// `localhost`, or a loopback address, with or without a port.
fn is_loopback_name(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Browsers send `Origin` on WebSocket upgrades and on requests that change something; it
/// must be this server's own origin or one listed in `cors_origins`. `cors = true` admits
/// any origin only for requests that carry a bearer token: never for the session cookie,
/// which the browser adds by itself, and never for an upgrade. Clients that send no Origin
/// (exporters, curl, scripts) are not browsers and pass.
fn check_origin(state: &AppState, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !upgrade && !changes {
        return Ok(());
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let listed = state.config.cors_origins.iter().any(|o| o.eq_ignore_ascii_case(origin));
    let bearer = headers.contains_key(header::AUTHORIZATION) && !upgrade;
    if listed || (state.config.cors && bearer) || same_origin(origin, headers) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Forbidden,
        format!("origin `{origin}` is not allowed: use the dashboard's own origin or add it to `cors_origins`"),
    ))
}

/// The Origin's authority is the `Host` the request was sent to (or, behind a proxy, the
/// `X-Forwarded-Host` it was sent to).
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    [header::HOST.as_str(), "x-forwarded-host"]
        .into_iter()
        .filter_map(|h| headers.get(h)?.to_str().ok())
        .any(|host| !host.is_empty() && authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_with_and_without_ports() {
        for host in [
            "localhost",
            "LocalHost:80",
            "127.0.0.1",
            "127.0.0.2:8080",
            "[::1]",
            "[::1]:9",
        ] {
            assert!(is_loopback_name(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "[::2]:80",
            "10.0.0.1",
        ] {
            assert!(!is_loopback_name(host), "{host}");
        }
    }

    #[test]
    fn same_origin_compares_the_authority_with_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin("http://127.0.0.1:8080", &h));
        assert!(same_origin("https://127.0.0.1:8080", &h));
        assert!(!same_origin("http://evil.example", &h));
        assert!(!same_origin("null", &h));
        h.insert("x-forwarded-host", "ops.example.com".parse().unwrap());
        assert!(same_origin("https://ops.example.com", &h));
    }
}
