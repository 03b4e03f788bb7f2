//! Reusable pieces of the browser app.

pub mod chart;
pub mod dialog;
pub mod kpi;
pub mod range;
pub mod scope;
pub mod search;
pub mod shell;
pub mod states;
pub mod status;
pub mod table;
pub mod time;
pub mod timechart;
pub mod toasts;
pub mod window;
