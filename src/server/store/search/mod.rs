//! The search index both backends keep beside executions (`index.rs`: what a batch adds),
//! and the search language compiled to SQL over it (`sql.rs`).

mod index;
mod sql;

pub use index::{docs, span_search, Doc, Scalar, SearchSink};
pub use sql::{after, agents, condition, groups, Backend, Columns, Condition, Param};
