use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The lifecycle of an execution: PENDING → RUNNING → COMPLETED / FAILED / CANCELLED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    #[default]
    #[serde(alias = "pending")]
    Pending,
    #[serde(alias = "running")]
    Running,
    #[serde(alias = "completed")]
    Completed,
    #[serde(alias = "failed")]
    Failed,
    #[serde(alias = "cancelled", alias = "canceled", alias = "CANCELED")]
    Cancelled,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 5] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
    /// Position in the lifecycle; a status change never goes backwards.
    pub fn rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Running => 1,
            _ => 2,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecutionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "PENDING" => Ok(Self::Pending),
            "RUNNING" => Ok(Self::Running),
            "COMPLETED" => Ok(Self::Completed),
            "FAILED" => Ok(Self::Failed),
            "CANCELLED" | "CANCELED" => Ok(Self::Cancelled),
            _ => Err(format!(
                "unknown status `{s}`: expected PENDING, RUNNING, COMPLETED, FAILED or CANCELLED"
            )),
        }
    }
}

/// What an agent is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    #[default]
    Idle,
    Running,
    Error,
    Offline,
}

impl AgentState {
    pub const ALL: [AgentState; 4] = [Self::Idle, Self::Running, Self::Error, Self::Offline];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Error => "error",
            Self::Offline => "offline",
        }
    }
}

impl FromStr for AgentState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "idle" | "ready" | "stopped" => Ok(Self::Idle),
            "running" | "busy" | "active" => Ok(Self::Running),
            "error" | "failed" => Ok(Self::Error),
            "offline" => Ok(Self::Offline),
            _ => Err(format!(
                "unknown agent state `{s}`: expected idle, running, error or offline"
            )),
        }
    }
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    Fatal,
}

impl LogLevel {
    pub const ALL: [LogLevel; 6] = [
        Self::Trace,
        Self::Debug,
        Self::Info,
        Self::Warn,
        Self::Error,
        Self::Fatal,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Fatal => "fatal",
        }
    }
}

impl FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "trace" => Ok(Self::Trace),
            "debug" => Ok(Self::Debug),
            "info" | "information" | "notice" => Ok(Self::Info),
            "warn" | "warning" => Ok(Self::Warn),
            "error" | "err" => Ok(Self::Error),
            "fatal" | "critical" | "crit" => Ok(Self::Fatal),
            _ => Err(format!(
                "unknown level `{s}`: expected trace, debug, info, warn, error or fatal"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parses_any_case_and_serialises_upper() {
        assert_eq!("running".parse::<ExecutionStatus>(), Ok(ExecutionStatus::Running));
        assert_eq!("Canceled".parse::<ExecutionStatus>(), Ok(ExecutionStatus::Cancelled));
        assert!("done".parse::<ExecutionStatus>().is_err());
        let json = serde_json::to_string(&ExecutionStatus::Completed).unwrap();
        assert_eq!(json, "\"COMPLETED\"");
        let back: ExecutionStatus = serde_json::from_str("\"failed\"").unwrap();
        assert_eq!(back, ExecutionStatus::Failed);
    }

    #[test]
    fn lifecycle_never_goes_backwards() {
        assert!(ExecutionStatus::Pending.rank() < ExecutionStatus::Running.rank());
        assert!(ExecutionStatus::Running.rank() < ExecutionStatus::Failed.rank());
        assert!(ExecutionStatus::Cancelled.is_terminal());
        assert!(!ExecutionStatus::Running.is_terminal());
    }

    #[test]
    fn levels_order_by_severity() {
        assert!(LogLevel::Trace < LogLevel::Warn && LogLevel::Error < LogLevel::Fatal);
        assert_eq!("WARNING".parse::<LogLevel>(), Ok(LogLevel::Warn));
    }
}
