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
