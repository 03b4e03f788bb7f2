//! One search language over executions, the same everywhere: the executions list, `GET
//! /api/executions?q=…`, export, and the browser's live matching of running executions.
//!
//! ```text
//! agent:planner status:failed model:gpt-4o cost>0.05 duration>30s
//! (tool:search OR tool:browse) NOT env:staging "rate limit"
//! attr.gen_ai.request.model="gpt-4o" session:abc user:u-42 error:Timeout* since:1h
//! ```
//!
//! Terms next to each other must all hold (AND); `OR`, `NOT` (or a leading `-`) and
//! parentheses combine them; `AND` binds tighter than `OR`. A value ending in `*` matches by
//! prefix. Words that are not `field:value` are free text, matched against span names,
//! prompts and completions, and log lines. Parsing is pure (`parse.rs`); the stores compile
//! the tree to SQL, and `live.rs` evaluates it over an execution the browser holds.

mod live;
mod parse;

pub use live::{merge, Known, Verdict};
pub use parse::{parse, ParseError};

use crate::model::ExecutionStatus;
use serde::{Deserialize, Serialize};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_LEN: usize = 2048;
/// Most terms in one query.
pub const MAX_TERMS: usize = 64;
/// Attribute values longer than this are not indexed for equality (they are searched as text).
pub const MAX_INDEXED_VALUE: usize = 128;

/// A parsed query. `Expr::And(vec![])` (the empty query) matches everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Term(Term),
}

impl Default for Expr {
    fn default() -> Self {
        Expr::all()
    }
}

impl Expr {
    pub fn all() -> Self {
        Expr::And(Vec::new())
    }

    pub fn is_all(&self) -> bool {
        matches!(self, Expr::And(v) if v.is_empty())
    }

    /// Both must hold (flattening nested ANDs).
    pub fn and(self, other: Expr) -> Expr {
        let mut parts = match self {
            Expr::And(v) => v,
            e => vec![e],
        };
        match other {
            Expr::And(v) => parts.extend(v),
            e => parts.push(e),
        }
        Expr::And(parts)
    }
}

/// A text value to compare with: exact, or by prefix (`gpt-4*`). Exact comparison of
/// identifiers (agent, model, tool …) is case-sensitive, as they are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub value: String,
    pub prefix: bool,
}

impl Text {
    pub fn exact(value: impl Into<String>) -> Self {
        Text {
            value: value.into(),
            prefix: false,
        }
    }

    pub fn matches(&self, candidate: &str) -> bool {
        if self.prefix {
            candidate.starts_with(&self.value)
        } else {
            candidate == self.value
        }
    }
}

/// A field an execution has one value of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Agent,
    Session,
    User,
    Env,
}

/// A fact about any span, LLM or tool call of an execution (an execution has many).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Facet {
    Model,
    Provider,
    Tool,
}

impl Facet {
    /// The prefix of this facet's index terms (`model=gpt-4o`).
    pub fn key(self) -> &'static str {
        match self {
            Facet::Model => "model",
            Facet::Provider => "provider",
            Facet::Tool => "tool",
        }
    }
}

/// A number of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// USD.
    Cost,
    /// Milliseconds (the query may say `30s`, `2m`, `1h`, `250ms`).
    Duration,
    /// Tokens in and out (`10k`, `1.5m` accepted).
    Tokens,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Cmp {
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Cmp::Lt => left < right,
            Cmp::Le => left <= right,
            Cmp::Eq => left == right,
            Cmp::Ge => left >= right,
            Cmp::Gt => left > right,
        }
    }

    pub fn sql(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Eq => "=",
            Cmp::Ge => ">=",
            Cmp::Gt => ">",
        }
    }
}

/// A point in time: absolute (ms since the epoch) or a span of time before now (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    At(i64),
    Ago(i64),
}

impl When {
    pub fn resolve(self, now: i64) -> i64 {
        match self {
            When::At(t) => t,
            When::Ago(d) => now - d,
        }
    }
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Term {
    Is(Field, Text),
    Status(ExecutionStatus),
    Has(Facet, Text),
    /// The error type (`error.type`, a span's status message) or the execution's error
    /// message contains the text (case-insensitive), or a type starts with it (`Timeout*`).
    Error(Text),
    /// A span attribute equals the value (as text: `42`, `true`, `gpt-4o`).
    Attr {
        key: String,
        value: Text,
    },
    Number(Measure, Cmp, f64),
    /// Created at or after.
    Since(When),
    /// Created before.
    Until(When),
    /// Free text: every word in span names, prompts, completions, errors or log lines.
    Text(String),
}

/// The index term of a facet value, an error type or an attribute: what the stores' term
/// tables hold for each execution, and what a `Has`, `Error` or `Attr` term looks up.
pub fn index_term(kind: &str, value: &str) -> String {
    let mut t = String::with_capacity(kind.len() + 1 + value.len());
    t.push_str(kind);
    t.push('=');
    t.push_str(value);
    t
}

/// The index term kind of an attribute key (`attr.gen_ai.request.model`).
pub fn attr_kind(key: &str) -> String {
    format!("attr.{key}")
}
