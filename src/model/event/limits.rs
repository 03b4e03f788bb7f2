//! The bounds every ingested item respects.

use serde::{Deserialize, Serialize};

/// Bounds every item must respect. In the config file, `[limits]` takes the default of each
/// bound it does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_id_len: usize,
    pub max_text_len: usize,
    pub max_attributes: usize,
    pub max_attribute_len: usize,
    /// Most distinct agents kept: events that would add one more are refused (400 naming
    /// `max_agents`), so a misbehaving producer cannot grow memory and every per-agent series
    /// without bound.
    pub max_agents: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_id_len: 256,
            max_text_len: 64 * 1024,
            max_attributes: 64,
            max_attribute_len: 4096,
            max_agents: 50_000,
        }
    }
}
