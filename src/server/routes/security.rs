//! Security headers on every response. The Content-Security-Policy allows this origin's
//! scripts, styles, WebAssembly and WebSocket and nothing else; Trunk's one inline loader
//! script is allowed by its hash, computed from the embedded `index.html` at start.

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::OnceLock;

pub async fn headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, csp().clone());
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    resp
}

fn csp() -> &'static HeaderValue {
    static CSP: OnceLock<HeaderValue> = OnceLock::new();
    CSP.get_or_init(|| {
        let index = super::assets::index_html().unwrap_or_default();
        let hashes: String = inline_scripts(&index)
            .map(|body| {
                use base64::Engine;
                use sha2::Digest;
                let digest = sha2::Sha256::digest(body.as_bytes());
                format!(" 'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
            })
            .collect();
        HeaderValue::from_str(&format!(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        ))
        .expect("the policy is ASCII")
    })
}

/// The bodies of `<script>` elements without `src`.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (attrs, rest) = rest.split_once('>')?;
        let (body, _) = rest.split_once("</script>")?;
        (!attrs.contains("src=")).then_some(body)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_inline_scripts_only() {
        let html = r#"<head><script src="/a.js"></script><script type="module">
import init from '/x.js';
</script></head>"#;
        let found: Vec<_> = super::inline_scripts(html).collect();
        assert_eq!(found, vec!["\nimport init from '/x.js';\n"]);
    }
}
