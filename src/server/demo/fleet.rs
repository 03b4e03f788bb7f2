//! What the demo fleet is made of: its agents (each with its models, tools, pace and
//! failure rate), workflows, plugins, and the lines its logs say.

pub(super) struct Profile {
    pub(super) id: &'static str,
    pub(super) name: &'static str,
    pub(super) kind: &'static str,
    pub(super) workflow: Option<&'static str>,
    /// (provider, model)
    pub(super) models: &'static [(&'static str, &'static str)],
    pub(super) tools: &'static [&'static str],
    /// Typical run length in seconds (min, max).
    pub(super) secs: (u64, u64),
    pub(super) failure_rate: f64,
    pub(super) concurrency: usize,
}

pub(super) const FLEET: &[Profile] = &[
    Profile {
        id: "research-agent",
        name: "Research Agent",
        kind: "langgraph",
        workflow: Some("content-pipeline"),
        models: &[("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4")],
        tools: &["web_search", "vector_db"],
        secs: (8, 30),
        failure_rate: 0.05,
        concurrency: 2,
    },
    Profile {
        id: "writer-agent",
        name: "Writer Agent",
        kind: "crewai",
        workflow: Some("content-pipeline"),
        models: &[("anthropic", "claude-sonnet-4")],
        tools: &["vector_db"],
        secs: (10, 35),
        failure_rate: 0.04,
        concurrency: 1,
    },
    Profile {
        id: "code-reviewer",
        name: "Code Reviewer",
        kind: "openai-agents",
        workflow: Some("pr-review"),
        models: &[("openai", "o4-mini"), ("openai", "gpt-4.1")],
        tools: &["git_diff", "run_tests"],
        secs: (6, 25),
        failure_rate: 0.08,
        concurrency: 2,
    },
    Profile {
        id: "support-triage",
        name: "Support Triage",
        kind: "mofa",
        workflow: Some("ticket-routing"),
        models: &[("openai", "gpt-4o-mini")],
        tools: &["crm_lookup", "send_email"],
        secs: (3, 12),
        failure_rate: 0.03,
        concurrency: 3,
    },
    Profile {
        id: "data-analyst",
        name: "Data Analyst",
        kind: "langgraph",
        workflow: None,
        models: &[("google", "gemini-2.5-pro"), ("google", "gemini-2.5-flash")],
        tools: &["sql_query", "python_exec"],
        secs: (12, 45),
        failure_rate: 0.06,
        concurrency: 1,
    },
    Profile {
        id: "planner",
        name: "Planner",
        kind: "autogen",
        workflow: Some("pr-review"),
        models: &[("anthropic", "claude-opus-4")],
        tools: &[],
        secs: (5, 20),
        failure_rate: 0.05,
        concurrency: 1,
    },
    Profile {
        id: "batch-summarizer",
        name: "Batch Summarizer (slow)",
        kind: "custom-rust",
        workflow: None,
        models: &[("mistral", "mistral-large"), ("meta", "llama-3.1-70b")],
        tools: &["s3_fetch"],
        secs: (60, 150),
        failure_rate: 0.05,
        concurrency: 1,
    },
    Profile {
        id: "scraper-agent",
        name: "Scraper Agent (flaky)",
        kind: "crewai",
        workflow: Some("ticket-routing"),
        models: &[("deepseek", "deepseek-chat")],
        tools: &["http_fetch", "html_parse"],
        secs: (4, 15),
        failure_rate: 0.45,
        concurrency: 2,
    },
];

pub(super) const WORKFLOWS: &[(&str, &str, u64)] = &[
    ("content-pipeline", "Content Pipeline", 7),
    ("pr-review", "PR Review", 4),
    ("ticket-routing", "Ticket Routing", 5),
];

pub(super) const PLUGINS: &[(&str, &str, &str)] = &[
    ("vector_db", "Vector DB", "2.0.0"),
    ("web_search", "Web Search", "1.4.2"),
    ("sql_query", "SQL Query", "0.9.1"),
    ("python_exec", "Python Sandbox", "3.1.0"),
];

pub(super) const INFO_LINES: &[&str] = &[
    "planning next step",
    "retrieved 12 documents from the knowledge base",
    "calling model with 3 tool definitions",
    "tool result received, 2.1 KB",
    "reflecting on intermediate answer",
    "context window at 41% after summarisation",
    "handing off to downstream agent",
];
pub(super) const WARN_LINES: &[&str] = &[
    "retrying tool call after timeout (attempt 2 of 3)",
    "rate limit close: 85% of tokens per minute used",
    "response truncated at max_tokens",
];
pub(super) const ERROR_LINES: &[&str] = &[
    "tool returned HTTP 502 from upstream",
    "schema validation failed for model output",
    "parse error: unexpected token in JSON",
];
