//! Who is signed in, as the server tells the browser (`GET /api/auth/me`).

use serde::{Deserialize, Serialize};

/// What a token may do. `admin` may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the dashboard, the API, the live stream and `/metrics`.
    Viewer,
    /// A viewer who may also acknowledge alerts and manage silences.
    Operator,
    /// Sends telemetry (native events, OTLP) and nothing else.
    Ingest,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Ingest, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Ingest => "ingest",
            Role::Admin => "admin",
        }
    }

    /// Reads dashboard data.
    pub fn can_read(self) -> bool {
        matches!(self, Role::Viewer | Role::Operator | Role::Admin)
    }
    /// Acknowledges alerts and manages silences.
    pub fn can_operate(self) -> bool {
        matches!(self, Role::Operator | Role::Admin)
    }
    /// Sends telemetry.
    pub fn can_ingest(self) -> bool {
        matches!(self, Role::Ingest | Role::Admin)
    }
}

/// Someone who proved a token (directly or through a session).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

/// `GET /api/auth/me`: whether sign-in is required and who is signed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SessionInfo {
    pub auth_enabled: bool,
    pub principal: Option<Principal>,
}

impl SessionInfo {
    /// Authentication is on and nobody is signed in.
    pub fn signed_out(&self) -> bool {
        self.auth_enabled && self.principal.is_none()
    }
    /// Whether the UI should offer acknowledging and silencing.
    pub fn can_operate(&self) -> bool {
        !self.auth_enabled || self.principal.as_ref().is_some_and(|p| p.role.can_operate())
    }
}

/// Where sign-in may send the browser back to (`/login?next=…`, decoded): a path of this site,
/// else `None`. Browsers read `\` as `/` and drop tabs and newlines, so `/\evil.com` and
/// `/\t/evil.com` lead off-site as `//evil.com` does: any of them, or any control character,
/// makes the whole value unsafe.
pub fn sign_in_return_path(next: &str) -> Option<&str> {
    let on_site = next.starts_with('/') && !next.starts_with("//");
    let tricks = next.contains('\\') || next.chars().any(char::is_control);
    (on_site && !tricks && !next.starts_with("/login")).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::sign_in_return_path;

    #[test]
    fn sign_in_returns_only_to_paths_of_this_site() {
        for ok in ["/", "/agents/a?range=1h", "/executions/e%2F1", "/alerts#firing"] {
            assert_eq!(sign_in_return_path(ok), Some(ok), "{ok}");
        }
        for bad in [
            "https://evil.com",
            "//evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            "/login?next=/",
            "evil.com",
            "",
        ] {
            assert_eq!(sign_in_return_path(bad), None, "{bad:?}");
        }
    }
}
