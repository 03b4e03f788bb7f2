//! The one table of what each route needs. Anything under `/api/` that is not listed needs at
//! least `Read`, and any request there that changes something needs `Operate`: a new route
//! is never public by accident.

use super::Role;
use axum::http::Method;

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Probes, sign-in, and the app shell (HTML, WASM, CSS: no data).
    Public,
    /// Dashboard data, the REST API, the live WebSocket, `/metrics`.
    Read,
    /// Acknowledging alerts, silences.
    Operate,
    /// Sending telemetry.
    Ingest,
}

impl Access {
    pub fn allowed(self, role: Role) -> bool {
        match self {
            Access::Public => true,
            Access::Read => role.can_read(),
            Access::Operate => role.can_operate(),
            Access::Ingest => role.can_ingest(),
        }
    }

    /// The roles that have it, for error messages.
    pub fn roles(self) -> &'static str {
        match self {
            Access::Public => "nothing",
            Access::Read => "the role `viewer`, `operator` or `admin`",
            Access::Operate => "the role `operator` or `admin`",
            Access::Ingest => "the role `ingest` or `admin`",
        }
    }
}

/// Server functions that change something.
const OPERATE_FNS: [&str; 6] = [
    "/api/fn/alerts/ack",
    "/api/fn/alerts/unack",
    "/api/fn/silences/create",
    "/api/fn/silences/expire",
    "/api/fn/views/save",
    "/api/fn/views/delete",
];

pub fn required(method: &Method, path: &str) -> Access {
    let reads = method == Method::GET || method == Method::HEAD;
    match path {
        "/health" | "/health/live" | "/health/ready" => Access::Public,
        "/api/auth/login" | "/api/auth/logout" | "/api/auth/me" => Access::Public,
        "/api/v1/events" | "/v1/traces" | "/v1/logs" | "/v1/metrics" => Access::Ingest,
        "/ws" | "/metrics" | "/metrics/json" => Access::Read,
        p if OPERATE_FNS.contains(&p) => Access::Operate,
        p if p.starts_with("/api/fn/") => Access::Read,
        // A preview changes nothing: it lists the alerts a silence would match.
        "/api/silences/preview" => Access::Read,
        p if p.starts_with("/api/") || p == "/api" => {
            if reads {
                Access::Read
            } else {
                Access::Operate
            }
        }
        p if p.starts_with("/v1/") => Access::Ingest,
        _ => Access::Public,
    }
}
