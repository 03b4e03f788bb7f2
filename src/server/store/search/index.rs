//! What a batch adds to the search index, the same for every backend: per execution, its
//! exact-match terms (`model=gpt-4o`, `tool=search`, `error=TimeoutError`,
//! `attr.gen_ai.request.model=gpt-4o`) and its free text (span names, prompts and completions,
//! log lines) with its error text apart. Computed by the committing task, not the writer.

use super::super::WriteBatch;
use crate::model::{Attributes, Span, SpanSearch};
use crate::search::{attr_kind, index_term, Facet, MAX_INDEXED_VALUE};
use serde_json::Value;
use std::collections::HashMap;

/// One execution's share of one batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Doc {
    pub execution_id: String,
    /// Distinct, sorted.
    pub terms: Vec<String>,
    /// Words to find: span names, content, log lines, the run's input and output.
    pub body: String,
    /// Error types and messages.
    pub error: String,
}

impl Doc {
    fn text(&mut self, s: &str) {
        push_text(&mut self.body, s);
    }

    fn error(&mut self, s: &str) {
        push_text(&mut self.error, s);
    }

    fn term(&mut self, kind: &str, value: &str) {
        push_term(&mut self.terms, kind, value);
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.body.is_empty() && self.error.is_empty()
    }
}

fn push_text(to: &mut String, s: &str) {
    if s.is_empty() {
        return;
    }
    if !to.is_empty() {
        to.push('\n');
    }
    to.push_str(s);
}

/// Attributes whose text is content to search, not a value to compare: prompts,
/// completions, messages, tool arguments and results (every long text is content too).
fn is_content(key: &str) -> bool {
    const CONTENT: [&str; 9] = [
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "input.value",
        "output.value",
    ];
    CONTENT.iter().any(|c| key.starts_with(c)) || key.ends_with(".content") || key.ends_with(".message")
}

/// Docs by execution, in the order first touched.
#[derive(Default)]
struct Docs {
    order: Vec<Doc>,
    at: HashMap<String, usize>,
}

impl Docs {
    fn of(&mut self, id: &str) -> &mut Doc {
        let i = match self.at.get(id) {
            Some(i) => *i,
            None => {
                self.order.push(Doc {
                    execution_id: id.to_string(),
                    ..Default::default()
                });
                self.at.insert(id.to_string(), self.order.len() - 1);
                self.order.len() - 1
            }
        };
        &mut self.order[i]
    }
}

/// The index rows of a batch, an entry per execution it touches with anything to index.
/// Spans give up the share the OTLP mapper worked out for them (moved, not copied).
pub fn docs(batch: &mut WriteBatch) -> Vec<Doc> {
    let mut docs = Docs::default();
    for s in &mut batch.spans {
        span(docs.of(&s.execution_id), s);
    }
    for c in &batch.llm_calls {
        if let Some(id) = &c.execution_id {
            let d = docs.of(id);
            d.term(Facet::Model.key(), &c.model);
            d.term(Facet::Provider.key(), &c.provider);
            if let Some(e) = &c.error {
                d.error(e);
            }
        }
    }
    for c in &batch.tool_calls {
        if let Some(id) = &c.execution_id {
            let d = docs.of(id);
            d.term(Facet::Tool.key(), &c.name);
            if let Some(e) = &c.error {
                d.error(e);
            }
        }
    }
    for l in &batch.logs {
        docs.of(&l.execution_id).text(&l.message);
    }
    // A run's own input, output and error, once it has ended (a running execution is written
    // again with every change; its ending is written once or, rarely, a few times).
    for x in batch.executions.iter().filter(|x| x.status.is_terminal()) {
        let d = docs.of(&x.id);
        for t in [&x.input, &x.output].into_iter().flatten() {
            d.text(t);
        }
        if let Some(e) = &x.error {
            d.error(e);
        }
    }
    let mut order = docs.order;
    order.retain(|d| !d.is_empty());
    for d in &mut order {
        d.terms.sort_unstable();
        d.terms.dedup();
    }
    order
}

fn span(d: &mut Doc, s: &mut Span) {
    d.text(&s.name);
    for (facet, value) in [
        (Facet::Model, &s.model),
        (Facet::Provider, &s.provider),
        (Facet::Tool, &s.tool_name),
    ] {
        if let Some(v) = value {
            d.term(facet.key(), v);
        }
    }
    if let Some(m) = &s.status_message {
        d.error(m);
    }
    let search = match s.search.take() {
        Some(pre) => *pre,
        None => span_search(&s.all_attributes()),
    };
    d.terms.extend(search.terms);
    d.text(&search.text);
    d.error(&search.error);
    // Events after redaction (the ingest queue redacts their maps), so always from here.
    let mut events = SearchSink::default();
    for (k, v) in s.events.iter().flat_map(|e| e.attributes.iter()) {
        if let Value::String(t) = v {
            events.event_attribute(k, t);
        }
    }
    d.terms.extend(events.0.terms);
    d.text(&events.0.text);
    d.error(&events.0.error);
}

/// A span's share of the index from its attribute map (native spans; OTLP's come worked out
/// by the mapper with the same [`SearchSink`]).
pub fn span_search(attributes: &Attributes) -> SpanSearch {
    let mut sink = SearchSink::default();
    for (k, v) in attributes {
        match v {
            Value::String(t) => sink.attribute(k, Scalar::Text(t)),
            Value::Number(n) => sink.attribute(k, Scalar::Other(&n.to_string())),
            Value::Bool(b) => sink.attribute(k, Scalar::Other(if *b { "true" } else { "false" })),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(t) => sink.attribute(k, Scalar::Text(t)),
                        Value::Number(n) => sink.attribute(k, Scalar::Other(&n.to_string())),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    sink.0
}

/// One attribute value as the index takes it: text, or a number or boolean as text.
pub enum Scalar<'a> {
    Text(&'a str),
    Other(&'a str),
}

/// Builds a [`SpanSearch`] an attribute at a time.
#[derive(Default)]
pub struct SearchSink(pub SpanSearch);

impl SearchSink {
    pub fn attribute(&mut self, key: &str, value: Scalar<'_>) {
        let s = &mut self.0;
        match value {
            Scalar::Text(t) if is_content(key) || t.len() > MAX_INDEXED_VALUE => push_text(&mut s.text, t),
            Scalar::Text(t) | Scalar::Other(t) => {
                if key == "error.type" {
                    push_text(&mut s.error, t);
                    push_term(&mut s.terms, "error", t);
                }
                push_term(&mut s.terms, &attr_kind(key), t);
            }
        }
    }

    pub fn event_attribute(&mut self, key: &str, value: &str) {
        let s = &mut self.0;
        match key {
            "exception.type" => {
                push_term(&mut s.terms, "error", value);
                push_text(&mut s.error, value);
            }
            "exception.message" => push_text(&mut s.error, value),
            _ => push_text(&mut s.text, value),
        }
    }
}

fn push_term(terms: &mut Vec<String>, kind: &str, value: &str) {
    if !value.is_empty() && value.len() <= MAX_INDEXED_VALUE {
        terms.push(index_term(kind, value));
    }
}
