//! A query as SQL: a condition on the `executions` table (aliased `x`) with its parameters,
//! for either backend. Facts of spans and lines are looked up in the index tables, each term
//! a subquery the planner starts from when it is selective.

use crate::search::{attr_kind, index_term, Expr, Field, Measure, Term, Text};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
    Real(f64),
}

/// A condition and its parameters, numbered from `first` (`?N` or `$N`).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub sql: String,
    pub params: Vec<Param>,
}

struct Compiler {
    backend: Backend,
    first: usize,
    now: i64,
    params: Vec<Param>,
}

/// `expr` as a condition on `executions x`; parameters are numbered from `first`.
pub fn condition(expr: &Expr, backend: Backend, first: usize, now: i64) -> Condition {
    let mut c = Compiler {
        backend,
        first,
        now,
        params: Vec::new(),
    };
    let sql = c.expr(expr);
    Condition { sql, params: c.params }
}

/// The smallest text greater than every text starting with `prefix` (in byte order, which
/// both backends' `COLLATE "C"`/binary comparison use).
fn after_prefix(prefix: &str) -> String {
    let mut s = prefix.to_string();
    s.push(char::MAX);
    s
}

/// An FTS phrase: the words, quoted for FTS5 (its last word a prefix when `prefix`);
/// PostgreSQL's `phraseto_tsquery` takes plain text.
fn phrase(text: &str, backend: Backend, prefix: bool) -> String {
    match backend {
        Backend::Sqlite if prefix => format!("\"{}\"*", text.replace('"', "\"\"")),
        Backend::Sqlite => format!("\"{}\"", text.replace('"', "\"\"")),
        Backend::Postgres => text.to_string(),
    }
}

impl Compiler {
    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        let n = self.first + self.params.len() - 1;
        match self.backend {
            Backend::Sqlite => format!("?{n}"),
            Backend::Postgres => format!("${n}"),
        }
    }

    fn expr(&mut self, e: &Expr) -> String {
        match e {
            Expr::And(parts) if parts.is_empty() => "1=1".into(),
            Expr::Or(parts) if parts.is_empty() => "1=0".into(),
            Expr::And(parts) => self.join(parts, " AND "),
            Expr::Or(parts) => self.join(parts, " OR "),
            Expr::Not(inner) => format!("NOT ({})", self.expr(inner)),
            Expr::Term(t) => self.term(t),
        }
    }

    fn join(&mut self, parts: &[Expr], op: &str) -> String {
        let parts: Vec<String> = parts.iter().map(|p| format!("({})", self.expr(p))).collect();
        parts.join(op)
    }

    /// `column` equal to the text, or in its prefix range.
    fn text_match(&mut self, column: &str, t: &Text) -> String {
        if t.prefix {
            // Byte order on PostgreSQL too, whatever the database's collation.
            let column = match self.backend {
                Backend::Sqlite => column.to_string(),
                Backend::Postgres if column == "term" => column.to_string(),
                Backend::Postgres => format!("{column} COLLATE \"C\""),
            };
            let lo = self.bind(Param::Text(t.value.clone()));
            let hi = self.bind(Param::Text(after_prefix(&t.value)));
            format!("{column} >= {lo} AND {column} < {hi}")
        } else {
            let v = self.bind(Param::Text(t.value.clone()));
            format!("{column} = {v}")
        }
    }

    /// Executions holding an index term of `kind` (exact, or by prefix): on SQLite a token of
    /// the documents' `terms` column (the term hex-encoded), on PostgreSQL a row of
    /// `search_terms`.
    fn indexed(&mut self, kind: &str, t: &Text) -> String {
        let term = index_term(kind, &t.value);
        match self.backend {
            Backend::Sqlite => {
                let p = self.bind(Param::Text(format!(
                    "\"{}\"{}",
                    crate::format::hex(term.as_bytes()),
                    if t.prefix { "*" } else { "" }
                )));
                format!(
                    "x.seq IN (SELECT d.exec_seq FROM search_docs d WHERE d.doc IN \
                     (SELECT rowid FROM search_text WHERE search_text MATCH 'terms : ' || {p}))"
                )
            }
            Backend::Postgres => {
                let cond = self.text_match(
                    "term",
                    &Text {
                        value: term,
                        prefix: t.prefix,
                    },
                );
                format!("x.id IN (SELECT execution_id FROM search_terms WHERE {cond})")
            }
        }
    }

    /// Executions whose indexed text (`body` or `error`) holds the phrase (its last word
    /// as a prefix when `prefix`).
    fn full_text(&mut self, column: &str, text: &str, prefix: bool) -> String {
        let p = self.bind(Param::Text(phrase(text, self.backend, prefix)));
        match self.backend {
            Backend::Sqlite => format!(
                "x.seq IN (SELECT d.exec_seq FROM search_docs d WHERE d.doc IN \
                 (SELECT rowid FROM search_text WHERE search_text MATCH '{column} : ' || {p}))"
            ),
            Backend::Postgres if prefix => format!(
                "x.id IN (SELECT execution_id FROM search_text WHERE {column} @@ to_tsquery('simple', quote_literal(lower({p})) || ':*'))"
            ),
            Backend::Postgres => format!(
                "x.id IN (SELECT execution_id FROM search_text WHERE {column} @@ phraseto_tsquery('simple', {p}))"
            ),
        }
    }

    fn term(&mut self, t: &Term) -> String {
        match t {
            Term::Is(field, text) => {
                let column = match field {
                    Field::Agent => return self.text_match("x.agent_id", text),
                    Field::Session => "x.session_id",
                    Field::User => "x.user_id",
                    Field::Env => "x.env",
                };
                // False, not NULL, where unset: `NOT env:prod` holds for a run of no environment.
                format!("{column} IS NOT NULL AND {}", self.text_match(column, text))
            }
            Term::Status(s) => {
                let v = self.bind(Param::Text(s.as_str().into()));
                format!("x.status = {v}")
            }
            Term::Has(facet, text) => self.indexed(facet.key(), text),
            Term::Attr { key, value } => self.indexed(&attr_kind(key), value),
            // `error:*`: any error, typed or a failed run.
            Term::Error(text) if text.prefix && text.value.is_empty() => {
                let typed = self.indexed("error", text);
                format!("{typed} OR x.status = 'FAILED'")
            }
            Term::Error(text) => {
                let typed = self.indexed("error", text);
                let words = self.full_text("error", &text.value, text.prefix);
                format!("{typed} OR {words}")
            }
            Term::Number(measure, cmp, value) => {
                let column = match measure {
                    Measure::Cost => "x.cost".to_string(),
                    Measure::Tokens => "x.tokens".to_string(),
                    // A running execution has lasted until now; one that ended without a
                    // duration counts as none.
                    Measure::Duration => {
                        let now = self.bind(Param::Int(self.now));
                        format!(
                            "COALESCE(x.duration_ms, CASE WHEN x.status = 'RUNNING' THEN {now} - x.created_at END, 0)"
                        )
                    }
                };
                let v = match measure {
                    Measure::Tokens | Measure::Duration if value.fract() == 0.0 => Param::Int(*value as i64),
                    _ => Param::Real(*value),
                };
                let v = self.bind(v);
                format!("{column} {} {v}", cmp.sql())
            }
            Term::Since(w) => {
                let v = self.bind(Param::Int(w.resolve(self.now)));
                format!("x.created_at >= {v}")
            }
            Term::Until(w) => {
                let v = self.bind(Param::Int(w.resolve(self.now)));
                format!("x.created_at < {v}")
            }
            Term::Text(text) => self.full_text("body", text, false),
        }
    }
}

/// The statements of a grouped listing (sessions or users): the page of groups (its last
/// two parameters are the limit and the offset) and the count of groups, over `cond`.
pub fn groups(by: crate::model::GroupBy, cond: &Condition, backend: Backend) -> (String, String) {
    let g = format!("x.{}", by.column());
    let agents = match backend {
        Backend::Sqlite => "group_concat(DISTINCT x.agent_id)",
        Backend::Postgres => "string_agg(DISTINCT x.agent_id, ',')",
    };
    let n = cond.params.len() + 1;
    let (limit, offset) = match backend {
        Backend::Sqlite => (format!("?{n}"), format!("?{}", n + 1)),
        Backend::Postgres => (format!("${n}"), format!("${}", n + 1)),
    };
    let page = format!(
        "SELECT {g}, COUNT(*), CAST(SUM(CASE WHEN x.status = 'FAILED' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN x.status IN ('PENDING', 'RUNNING') THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(x.cost) AS DOUBLE PRECISION), CAST(SUM(x.tokens) AS BIGINT), CAST(SUM(COALESCE(x.duration_ms, 0)) AS BIGINT), \
         MIN(x.created_at), MAX(x.updated_at), {agents} \
         FROM executions x WHERE {g} IS NOT NULL AND ({}) GROUP BY {g} ORDER BY MAX(x.updated_at) DESC, {g} \
         LIMIT {limit} OFFSET {offset}",
        cond.sql
    );
    let count = format!(
        "SELECT COUNT(DISTINCT {g}) FROM executions x WHERE {g} IS NOT NULL AND ({})",
        cond.sql
    );
    (page, count)
}

/// A group's agents from their comma-joined list, a few at most.
pub fn agents(joined: Option<String>) -> Vec<String> {
    let mut agents: Vec<String> = joined
        .unwrap_or_default()
        .split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    agents.sort();
    agents.truncate(8);
    agents
}

/// The condition of a listing's cursor (newest first, ties by id), numbered from `first`.
pub fn after(cursor: &super::super::Cursor, backend: Backend, first: usize) -> Condition {
    let p = |n: usize| match backend {
        Backend::Sqlite => format!("?{n}"),
        Backend::Postgres => format!("${n}"),
    };
    let id = match backend {
        Backend::Sqlite => "x.id",
        Backend::Postgres => "x.id COLLATE \"C\"",
    };
    Condition {
        sql: format!(
            "x.created_at < {} OR (x.created_at = {} AND {id} > {})",
            p(first),
            p(first + 1),
            p(first + 2)
        ),
        params: vec![
            Param::Int(cursor.created_at),
            Param::Int(cursor.created_at),
            Param::Text(cursor.id.clone()),
        ],
    }
}

/// The columns a query filters on, from an execution (both backends write them).
pub struct Columns<'a> {
    pub session_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub env: Option<&'a str>,
    pub cost: f64,
    pub tokens: i64,
    pub duration_ms: Option<i64>,
}

impl<'a> From<&'a crate::model::Execution> for Columns<'a> {
    fn from(x: &'a crate::model::Execution) -> Self {
        Columns {
            session_id: x.session_id.as_deref(),
            user_id: x.user_id.as_deref(),
            env: x.environment.as_deref(),
            cost: x.cost_usd,
            tokens: (x.tokens_in + x.tokens_out).min(i64::MAX as u64) as i64,
            duration_ms: x.duration_ms.map(|d| d.min(i64::MAX as u64) as i64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ExecutionStatus;

    #[test]
    fn terms_become_conditions_with_numbered_parameters() {
        let q = crate::search::parse("agent:planner model:gpt-4* cost>0.05 NOT status:failed").unwrap();
        let c = condition(&q, Backend::Postgres, 3, 0);
        assert_eq!(
            c.sql,
            "(x.agent_id = $3) AND (x.id IN (SELECT execution_id FROM search_terms WHERE term >= $4 AND term < $5)) \
             AND (x.cost > $6) AND (NOT (x.status = $7))"
        );
        assert_eq!(c.params[1], Param::Text("model=gpt-4".into()));
        assert_eq!(c.params[3], Param::Real(0.05));
        assert_eq!(c.params[4], Param::Text(ExecutionStatus::Failed.as_str().into()));
    }

    #[test]
    fn free_text_is_a_quoted_fts_phrase() {
        let q = crate::search::parse(r#""say \"hi\"""#).unwrap();
        let c = condition(&q, Backend::Sqlite, 1, 0);
        assert!(c.sql.contains("MATCH 'body : ' || ?1"), "{}", c.sql);
        assert_eq!(c.params, vec![Param::Text(r#""say ""hi""""#.into())]);
    }
}
