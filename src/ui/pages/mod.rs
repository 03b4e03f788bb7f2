//! One page component per route.

pub mod agent;
pub mod agents;
pub mod alerts;
pub mod execution;
pub mod executions;
pub mod fleet;
pub mod groups;
pub mod ingest;
pub mod login;
pub mod not_found;
pub mod overview;
pub mod system;
pub mod trace;
pub mod workflow;
