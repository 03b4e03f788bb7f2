//! The browser app, embedded in the binary: compressed once per file and encoding (brotli
//! or gzip, as the browser accepts), with cache headers, ETags, and index.html for every
//! path that is not a file, so client-side routes work on reload.

use crate::format::hex;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use parking_lot::Mutex;
use rust_embed::RustEmbed;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, LazyLock};

#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/dist"]
#[allow_missing = true]
struct Assets;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Encoding {
    Brotli,
    Gzip,
}

type Cache = Mutex<HashMap<(String, Encoding), Arc<Vec<u8>>>>;
static COMPRESSED: LazyLock<Cache> = LazyLock::new(Default::default);

const NOT_BUILT: &str = "<!doctype html><title>Observatory</title><p>The dashboard is not built into this binary. \
Build it with <code>trunk build --release</code>, then rebuild the server (the README's first command does both). \
The REST API, ingest and WebSocket work without it.</p>";

/// The embedded `index.html`, when the dashboard is built in.
pub fn index_html() -> Option<String> {
    Assets::get("index.html").map(|f| String::from_utf8_lossy(&f.data).into_owned())
}

pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    match Assets::get(path) {
        Some(file) => respond(path, file, &headers),
        None if !path.rsplit('/').next().unwrap_or("").contains('.') => match Assets::get("index.html") {
            Some(file) => respond("index.html", file, &headers),
            None => Html(NOT_BUILT).into_response(),
        },
        None => (StatusCode::NOT_FOUND, format!("no such file: /{path}")).into_response(),
    }
}

fn respond(path: &str, file: rust_embed::EmbeddedFile, req: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..12]));
    let cache = if path == "index.html" {
        "no-cache"
    } else if is_hashed(path) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let compressible = matches!(mime.type_().as_str(), "text")
        || ["javascript", "wasm", "json", "svg+xml", "xml"].contains(&mime.subtype().as_str());
    let accept = req
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let encoding = if !compressible || file.data.len() < 512 {
        None
    } else if accept.contains("br") {
        Some(Encoding::Brotli)
    } else if accept.contains("gzip") {
        Some(Encoding::Gzip)
    } else {
        None
    };
    let body = match encoding {
        None => match file.data {
            Cow::Borrowed(b) => Body::from(b),
            Cow::Owned(v) => Body::from(v),
        },
        Some(enc) => {
            let data = compressed(path, enc, &file.data);
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(if enc == Encoding::Brotli { "br" } else { "gzip" }),
            );
            Body::from(data.as_ref().clone())
        }
    };
    (StatusCode::OK, headers, body).into_response()
}

/// Compresses every embedded file once, at start-up (on a blocking thread), so the first
/// visitor does not wait for brotli.
pub fn warm() {
    for path in Assets::iter() {
        if let Some(file) = Assets::get(&path) {
            for enc in [Encoding::Brotli, Encoding::Gzip] {
                compressed(&path, enc, &file.data);
            }
        }
    }
}

fn compressed(path: &str, enc: Encoding, data: &[u8]) -> Arc<Vec<u8>> {
    let key = (path.to_string(), enc);
    if let Some(hit) = COMPRESSED.lock().get(&key) {
        return hit.clone();
    }
    let mut out = Vec::with_capacity(data.len() / 3);
    match enc {
        Encoding::Brotli => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: 9,
                lgwin: 22,
                ..Default::default()
            };
            let mut input = data;
            if brotli::BrotliCompress(&mut input, &mut out, &params).is_err() {
                out = data.to_vec();
            }
        }
        Encoding::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            out = match gz.write_all(data).and_then(|_| gz.finish()) {
                Ok(v) => v,
                Err(_) => data.to_vec(),
            };
        }
    }
    let out = Arc::new(out);
    COMPRESSED.lock().insert(key, out.clone());
    out
}

/// Trunk names built files `name-<hash>.ext` (a 64-bit hash in hex, leading zeros dropped):
/// those never change, cache them forever.
fn is_hashed(path: &str) -> bool {
    let stem = path.rsplit('/').next().unwrap_or(path);
    let stem = stem.split('.').next().unwrap_or(stem).trim_end_matches("_bg");
    stem.rsplit_once('-')
        .is_some_and(|(_, h)| (12..=16).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashed_names() {
        assert!(super::is_hashed("observatory-3f2a1b4c5d6e7f80_bg.wasm"));
        assert!(super::is_hashed("style-0123456789abcdef.css"));
        assert!(
            super::is_hashed("observatory-bc4d365afe8a3aa_bg.wasm"),
            "15 digits: a leading zero dropped"
        );
        assert!(!super::is_hashed("index.html"));
        assert!(!super::is_hashed("favicon.svg"));
    }
}
