//! Who may do what: bearer tokens with roles, browser sessions, and per-token ingest limits.
//!
//! Tokens are configured in TOML as SHA-256 digests (`observatory token new` makes one), never
//! in clear. A presented token is hashed and compared with every configured digest in constant
//! time (`subtle`). The browser trades a token for a session once (`POST /api/auth/login`) and
//! then holds an HttpOnly, SameSite=Strict cookie; sessions live in memory, keyed by the digest
//! of their id, and end on sign-out, expiry or restart. [`policy`] says which role each route
//! needs; [`Auth::authorize`] decides, for the routes' guard on every HTTP request and for the gRPC
//! receiver.

pub mod policy;

pub use crate::model::{Principal, Role};
pub use policy::{required, Access};

pub mod signin;

use crate::error::{ApiError, ErrorCode};
use crate::format::hex;
use crate::server::clock::now_ms;
use crate::server::store::SessionRow;
use axum::http::{header, HeaderMap};
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The name of the session cookie.
pub const COOKIE: &str = "observatory_session";
/// Most live browser sessions; the oldest is dropped beyond it.
const MAX_SESSIONS: usize = 10_000;

/// One configured token: `[[auth.tokens]] name = "ci", role = "ingest", sha256 = "…"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it; recorded on acknowledgements and silences, shown in the dashboard.
    pub name: String,
    pub role: Role,
    /// Hex SHA-256 of the token.
    pub sha256: String,
}

/// `[auth]`: authentication is on when at least one token is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub tokens: Vec<TokenConfig>,
    /// How long a browser session lasts.
    #[serde(with = "crate::server::clock::human_duration")]
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` even on plain HTTP requests (behind a TLS proxy that
    /// does not send `X-Forwarded-Proto`). It is set whenever the request came over HTTPS.
    pub secure_cookie: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookie: false,
        }
    }
}

impl AuthConfig {
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Problems with the token list, naming the token.
    pub fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.tokens.iter().enumerate() {
            if t.name.trim().is_empty() || t.name.len() > 64 {
                return Err(format!("auth.tokens[{i}].name must be 1 to 64 characters"));
            }
            if !names.insert(t.name.as_str()) {
                return Err(format!("auth.tokens[{i}].name `{}` is used twice", t.name));
            }
            if decode_digest(&t.sha256).is_none() {
                return Err(format!(
                    "auth.tokens[{i}].sha256 (token `{}`) must be 64 hex digits: the SHA-256 of the token, as `observatory token hash` prints it",
                    t.name
                ));
            }
        }
        Ok(())
    }
}

struct StoredToken {
    digest: [u8; 32],
    principal: Principal,
}

struct Session {
    principal: Principal,
    /// Wall clock (ms): sessions are stored, and outlive the process.
    expires: i64,
}

/// The runtime side of [`AuthConfig`], shared by every request.
pub struct Auth {
    tokens: Vec<StoredToken>,
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    /// Bumped whenever a session ends, so sockets opened in it can close.
    ended: tokio::sync::watch::Sender<u64>,
    /// Failed sign-ins, counted and throttled.
    pub sign_ins: signin::SignIns,
    session_ttl: Duration,
    pub secure_cookie: bool,
    ingest_limit: Option<(u32, DefaultKeyedRateLimiter<String>)>,
}

/// The SHA-256 of a token, as configured.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A new random token (256 bits, URL-safe base64, prefixed so it is recognisable in a leak).
pub fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!("obs_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn decode_digest(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Auth {
    /// `ingest_per_second`: requests a second each token may send to the ingest routes; 0 for
    /// no limit.
    pub fn new(config: &AuthConfig, ingest_per_second: u32) -> Self {
        let tokens = config
            .tokens
            .iter()
            .filter_map(|t| {
                Some(StoredToken {
                    digest: decode_digest(&t.sha256)?,
                    principal: Principal {
                        name: t.name.clone(),
                        role: t.role,
                    },
                })
            })
            .collect();
        let ingest_limit = NonZeroU32::new(ingest_per_second)
            .map(|rate| (ingest_per_second, RateLimiter::keyed(Quota::per_second(rate))));
        Self {
            tokens,
            sessions: Mutex::default(),
            ended: tokio::sync::watch::Sender::new(0),
            sign_ins: signin::SignIns::default(),
            session_ttl: config.session_ttl,
            secure_cookie: config.secure_cookie,
            ingest_limit,
        }
    }

    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The holder of `token`, comparing its digest with every configured one in constant time.
    pub fn verify_token(&self, token: &str) -> Option<Principal> {
        let presented = digest(token);
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.digest.ct_eq(&presented)) {
                found = Some(t.principal.clone());
            }
        }
        found
    }

    /// Who sent these headers: a bearer token (wrong ones are an error) or a session cookie
    /// (unknown or expired ones count as signed out). `None` when neither is present.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::trim)
                .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
            return self
                .verify_token(token)
                .map(Some)
                .ok_or_else(|| unauthorized("invalid bearer token"));
        }
        Ok(session_cookie(headers).and_then(|id| self.session(id)))
    }

    /// Who may make a request that needs `access`, or the 401 / 403 / 429 to answer. `None`
    /// with authentication off, or when nobody is signed in on a public route (where a stale
    /// or wrong token does not keep anyone from the sign-in page). HTTP and gRPC (whose
    /// metadata carries the same `authorization: Bearer …`) both ask this.
    pub fn authorize(&self, headers: &HeaderMap, access: Access) -> Result<Option<Principal>, ApiError> {
        if !self.enabled() {
            return Ok(None);
        }
        if access == Access::Public {
            return Ok(self.authenticate(headers).ok().flatten());
        }
        let principal = self
            .authenticate(headers)?
            .ok_or_else(|| unauthorized("sign in, or send `Authorization: Bearer <token>`"))?;
        if !access.allowed(principal.role) {
            return Err(forbidden(&principal, access));
        }
        if access == Access::Ingest {
            self.check_ingest_rate(&principal.name)?;
        }
        Ok(Some(principal))
    }

    /// Counts one ingest request of `who` against its rate; the error says when to retry.
    pub fn check_ingest_rate(&self, who: &str) -> Result<(), ApiError> {
        let Some((rate, limiter)) = &self.ingest_limit else {
            return Ok(());
        };
        limiter.check_key(&who.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            ApiError::new(
                ErrorCode::TooManyRequests,
                format!(
                    "ingest rate limit of {rate} requests/s for `{who}` reached; retry after {} ms",
                    wait.as_millis().max(1)
                ),
            )
        })
    }

    /// Starts a session for `principal`; returns the cookie value, and the row to store
    /// (before the cookie is handed out: sessions survive a restart).
    pub fn start_session(&self, principal: Principal) -> (String, SessionRow) {
        let id = new_token();
        let now = now_ms();
        let expires = now + self.session_ttl.as_millis() as i64;
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k) {
                sessions.remove(&oldest);
            }
        }
        let key = digest(&id);
        sessions.insert(
            key,
            Session {
                principal: principal.clone(),
                expires,
            },
        );
        let row = SessionRow {
            digest: hex(&key),
            principal,
            expires_at: expires,
        };
        (id, row)
    }

    /// The digest the store keeps the request's session under.
    pub fn session_digest(&self, headers: &HeaderMap) -> Option<String> {
        session_cookie(headers).map(|id| hex(&digest(id)))
    }

    /// Ends the request's session (once the store has forgotten it), and the sockets opened in it.
    pub fn end_session(&self, headers: &HeaderMap) {
        if let Some(id) = session_cookie(headers) {
            self.sessions.lock().remove(&digest(id));
            self.ended.send_modify(|n| *n += 1);
        }
    }

    /// Sessions read back from the store at start.
    pub fn restore_sessions(&self, rows: Vec<SessionRow>) {
        let mut sessions = self.sessions.lock();
        for row in rows {
            if let Some(key) = decode_digest(&row.digest) {
                sessions.insert(
                    key,
                    Session {
                        principal: row.principal,
                        expires: row.expires_at,
                    },
                );
            }
        }
    }

    /// Sessions as the store holds them now (a fleet's instances share sign-ins and
    /// sign-outs): stored ones are added, and ones the store no longer holds end, unless
    /// started here in the last seconds (their row may still be on its way).
    pub fn sync_sessions(&self, rows: Vec<SessionRow>) {
        // Started within the last 10 s: expiring within 10 s of a fresh session's end.
        let young = now_ms() + self.session_ttl.as_millis() as i64 - 10_000;
        let stored: std::collections::HashSet<[u8; 32]> =
            rows.iter().filter_map(|r| decode_digest(&r.digest)).collect();
        let ended = {
            let mut sessions = self.sessions.lock();
            let before = sessions.len();
            sessions.retain(|k, s| stored.contains(k) || s.expires > young);
            before != sessions.len()
        };
        self.restore_sessions(rows);
        if ended {
            self.ended.send_modify(|n| *n += 1);
        }
    }

    /// The session a request is made in, when it carries no bearer token (a bearer token
    /// outranks the cookie).
    pub fn session_of(&self, headers: &HeaderMap) -> Option<[u8; 32]> {
        if headers.contains_key(header::AUTHORIZATION) {
            return None;
        }
        let key = digest(session_cookie(headers)?);
        self.sessions.lock().contains_key(&key).then_some(key)
    }

    /// Completes when the session ends: signed out, or expired (checked every minute).
    pub async fn until_ended(&self, session: [u8; 32]) {
        let mut changed = self.ended.subscribe();
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            let alive = self.sessions.lock().get(&session).is_some_and(|s| s.expires > now_ms());
            if !alive {
                return;
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = tick.tick() => {}
            }
        }
    }

    pub fn session_ttl(&self) -> Duration {
        self.session_ttl
    }

    fn session(&self, id: &str) -> Option<Principal> {
        let sessions = self.sessions.lock();
        let s = sessions.get(&digest(id))?;
        (s.expires > now_ms()).then(|| s.principal.clone())
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

pub fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
}

pub fn forbidden(principal: &Principal, access: Access) -> ApiError {
    ApiError::new(
        ErrorCode::Forbidden,
        format!(
            "`{}` has the role `{}`; this needs {}",
            principal.name,
            principal.role.as_str(),
            access.roles()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let config = AuthConfig {
            tokens: vec![
                TokenConfig {
                    name: "vera".into(),
                    role: Role::Viewer,
                    sha256: hash_token("viewer-secret"),
                },
                TokenConfig {
                    name: "otto".into(),
                    role: Role::Operator,
                    sha256: hash_token("operator-secret"),
                },
            ],
            ..Default::default()
        };
        config.validate().unwrap();
        Auth::new(&config, 2)
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        h
    }

    #[test]
    fn tokens_are_matched_by_digest() {
        let a = auth();
        assert_eq!(a.verify_token("operator-secret").unwrap().name, "otto");
        assert!(a.verify_token("operator-secre").is_none());
        assert_eq!(
            a.authenticate(&bearer("viewer-secret")).unwrap().unwrap().role,
            Role::Viewer
        );
        let err = a.authenticate(&bearer("nope")).unwrap_err();
        assert_eq!(err.code, ErrorCode::Unauthorized);
        assert!(a.authenticate(&HeaderMap::new()).unwrap().is_none());
    }

    #[test]
    fn sessions_start_resolve_and_end() {
        let a = auth();
        let (id, _) = a.start_session(a.verify_token("viewer-secret").unwrap());
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, format!("theme=dark; {COOKIE}={id}").parse().unwrap());
        assert_eq!(a.authenticate(&h).unwrap().unwrap().name, "vera");
        a.end_session(&h);
        assert!(a.authenticate(&h).unwrap().is_none());
    }

    #[test]
    fn ingest_rate_is_per_token() {
        let a = auth();
        assert!(a.check_ingest_rate("a").is_ok());
        assert!(a.check_ingest_rate("a").is_ok());
        let e = a.check_ingest_rate("a").unwrap_err();
        assert_eq!(e.code, ErrorCode::TooManyRequests);
        assert!(e.message.contains("2 requests/s"), "{}", e.message);
        assert!(a.check_ingest_rate("b").is_ok());
    }

    #[test]
    fn config_names_bad_tokens() {
        let c = AuthConfig {
            tokens: vec![TokenConfig {
                name: "x".into(),
                role: Role::Admin,
                sha256: "abc".into(),
            }],
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("auth.tokens[0].sha256"));
    }

    #[test]
    fn roles_allow_what_they_should() {
        use Access::*;
        let table = [
            (Role::Viewer, [true, true, false, false]),
            (Role::Operator, [true, true, true, false]),
            (Role::Ingest, [true, false, false, true]),
            (Role::Admin, [true, true, true, true]),
        ];
        for (role, allowed) in table {
            for (access, want) in [Public, Read, Operate, Ingest].into_iter().zip(allowed) {
                assert_eq!(access.allowed(role), want, "{role:?} {access:?}");
            }
        }
    }
}
