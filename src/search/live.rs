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
