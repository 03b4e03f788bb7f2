//! A query over an execution as the browser holds it: its own fields are known, what lies in
//! its spans and log lines (models, tools, attributes, text) is not. The executions list uses
//! the verdict to show a running execution that matches at once, drop one that no longer
//! does, and ask the server again only when it cannot tell.

use super::{Expr, Field, Measure, Term, Text};
use crate::model::Execution;

/// Whether an execution matches, as far as its own fields tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Yes,
    No,
    Unknown,
}

impl Verdict {
    fn not(self) -> Self {
        match self {
            Verdict::Yes => Verdict::No,
            Verdict::No => Verdict::Yes,
            Verdict::Unknown => Verdict::Unknown,
        }
    }

    fn of(b: bool) -> Self {
        if b {
            Verdict::Yes
        } else {
            Verdict::No
        }
    }
}

/// What an execution states of itself, for [`Expr::verdict`].
pub trait Known {
    fn field(&self, field: Field) -> Option<&str>;
    fn measure(&self, measure: Measure, now: i64) -> f64;
}

impl Known for Execution {
    fn field(&self, field: Field) -> Option<&str> {
        match field {
            Field::Agent => Some(&self.agent_id),
            Field::Session => self.session_id.as_deref(),
            Field::User => self.user_id.as_deref(),
            Field::Env => self.environment.as_deref(),
        }
    }

    fn measure(&self, measure: Measure, now: i64) -> f64 {
        match measure {
            Measure::Cost => self.cost_usd,
            Measure::Duration => self.elapsed_ms(now).unwrap_or(0) as f64,
            Measure::Tokens => (self.tokens_in + self.tokens_out) as f64,
        }
    }
}

impl Expr {
    /// Three-valued evaluation: `Unknown` where the answer lies in spans or log lines.
    pub fn verdict(&self, e: &Execution, now: i64) -> Verdict {
        match self {
            Expr::And(parts) => parts
                .iter()
                .fold(Verdict::Yes, |acc, p| match (acc, p.verdict(e, now)) {
                    (Verdict::No, _) | (_, Verdict::No) => Verdict::No,
                    (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
                    _ => Verdict::Yes,
                }),
            Expr::Or(parts) => parts.iter().fold(Verdict::No, |acc, p| match (acc, p.verdict(e, now)) {
                (Verdict::Yes, _) | (_, Verdict::Yes) => Verdict::Yes,
                (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
                _ => Verdict::No,
            }),
            Expr::Not(inner) => inner.verdict(e, now).not(),
            Expr::Term(t) => term(t, e, now),
        }
    }
}

fn term(t: &Term, e: &Execution, now: i64) -> Verdict {
    match t {
        Term::Is(field, text) => Verdict::of(e.field(*field).is_some_and(|v| text.matches(v))),
        Term::Status(s) => Verdict::of(e.status == *s),
        Term::Number(m, cmp, v) => Verdict::of(cmp.holds(e.measure(*m, now), *v)),
        Term::Since(w) => Verdict::of(e.created_at >= w.resolve(now)),
        Term::Until(w) => Verdict::of(e.created_at < w.resolve(now)),
        Term::Error(text) => match &e.error {
            Some(message) if contains(message, text) => Verdict::Yes,
            _ => Verdict::Unknown,
        },
        Term::Has(..) | Term::Attr { .. } | Term::Text(_) => Verdict::Unknown,
    }
}

/// The error message contains the text, ignoring case.
fn contains(message: &str, text: &Text) -> bool {
    message.to_lowercase().contains(&text.value.to_lowercase())
}

/// A listing as it stands now: the executions the server found, each replaced by a newer
/// live version, and the live executions the query surely matches that the server has not
/// listed yet (a first page only: `first_page`), newest first or `oldest_first`. What the
/// live versions no longer match leaves the list at once.
pub fn merge<'a>(
    expr: &Expr,
    found: &[Execution],
    live: impl Iterator<Item = &'a Execution>,
    now: i64,
    first_page: bool,
    oldest_first: bool,
) -> Vec<Execution> {
    let mut out: Vec<Execution> = found.to_vec();
    let oldest = found.iter().map(|x| x.created_at).min();
    for x in live {
        match out.iter_mut().find(|y| y.id == x.id) {
            Some(y) if x.updated_at >= y.updated_at => *y = x.clone(),
            Some(_) => {}
            // Only what belongs on this page: newer than its oldest listed (any, for a
            // list read oldest first or an empty one).
            None if first_page
                && expr.verdict(x, now) == Verdict::Yes
                && (oldest_first || oldest.is_none_or(|o| x.created_at >= o)) =>
            {
                out.push(x.clone());
            }
            None => {}
        }
    }
    out.retain(|x| expr.verdict(x, now) != Verdict::No);
    if oldest_first {
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    } else {
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ExecutionStatus;
    use crate::search::{Cmp, Facet};

    fn run() -> Execution {
        Execution {
            id: "x".into(),
            agent_id: "planner".into(),
            status: ExecutionStatus::Running,
            started_at: Some(1_000),
            cost_usd: 0.2,
            tokens_in: 900,
            tokens_out: 300,
            session_id: Some("s-1".into()),
            ..Default::default()
        }
    }

    fn t(term: Term) -> Expr {
        Expr::Term(term)
    }

    #[test]
    fn own_fields_are_known_and_span_facts_are_not() {
        let e = run();
        let agent = t(Term::Is(Field::Agent, Text::exact("planner")));
        let cheap = t(Term::Number(Measure::Cost, Cmp::Lt, 0.1));
        let model = t(Term::Has(Facet::Model, Text::exact("gpt-4o")));
        assert_eq!(agent.verdict(&e, 0), Verdict::Yes);
        assert_eq!(cheap.verdict(&e, 0), Verdict::No);
        assert_eq!(model.verdict(&e, 0), Verdict::Unknown);
        // No wins over unknown in AND, yes wins in OR; NOT keeps unknown.
        assert_eq!(cheap.clone().and(model.clone()).verdict(&e, 0), Verdict::No);
        assert_eq!(agent.clone().and(model.clone()).verdict(&e, 0), Verdict::Unknown);
        assert_eq!(Expr::Or(vec![model.clone(), agent]).verdict(&e, 0), Verdict::Yes);
        assert_eq!(Expr::Not(Box::new(model)).verdict(&e, 0), Verdict::Unknown);
        assert_eq!(Expr::all().verdict(&e, 0), Verdict::Yes);
    }

    #[test]
    fn a_running_execution_is_measured_until_now() {
        let e = run();
        let long = t(Term::Number(Measure::Duration, Cmp::Gt, 30_000.0));
        assert_eq!(long.verdict(&e, 20_000), Verdict::No);
        assert_eq!(long.verdict(&e, 40_000), Verdict::Yes);
        let tokens = t(Term::Number(Measure::Tokens, Cmp::Ge, 1_200.0));
        assert_eq!(tokens.verdict(&e, 0), Verdict::Yes);
        let prefix = t(Term::Is(
            Field::Session,
            Text {
                value: "s-".into(),
                prefix: true,
            },
        ));
        assert_eq!(prefix.verdict(&e, 0), Verdict::Yes);
        let user = t(Term::Is(Field::User, Text::exact("u")));
        assert_eq!(user.verdict(&e, 0), Verdict::No);
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use crate::model::ExecutionStatus;

    fn x(id: &str, at: i64, status: ExecutionStatus, session: &str) -> Execution {
        Execution {
            id: id.into(),
            agent_id: "a".into(),
            status,
            created_at: at,
            updated_at: at,
            session_id: Some(session.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_matching_run_appears_and_one_that_stops_matching_leaves() {
        let q = crate::search::parse("session:s1 status:running").unwrap();
        let found = vec![x("old", 10, ExecutionStatus::Running, "s1")];
        let mut done = found[0].clone();
        done.status = ExecutionStatus::Completed;
        done.updated_at = 20;
        let live = [
            x("new", 30, ExecutionStatus::Running, "s1"),
            x("other", 40, ExecutionStatus::Running, "s2"),
        ];
        let merged = merge(&q, &found, live.iter(), 50, true, false);
        assert_eq!(merged.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["new", "old"]);
        let merged = merge(&q, &found, [done].iter().chain(&live), 50, true, false);
        assert_eq!(merged.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["new"]);
        // Past the first page, only what is listed is updated.
        let merged = merge(&q, &found, live.iter(), 50, false, false);
        assert_eq!(merged.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["old"]);
        // What the browser cannot judge (a model) stays as the server listed it.
        let q = crate::search::parse("model:gpt-4o").unwrap();
        let merged = merge(&q, &found, live.iter(), 50, true, true);
        assert_eq!(merged.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["old"]);
    }
}
