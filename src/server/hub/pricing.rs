//! What LLM calls cost, per model, in USD per million tokens. Configurable in TOML under
//! `[prices."model-name"]`; defaults cover well-known models.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// USD per million input (prompt) tokens.
    pub input: f64,
    /// USD per million output (completion) tokens.
    pub output: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceTable(pub BTreeMap<String, ModelPrice>);

impl Default for PriceTable {
    fn default() -> Self {
        let p = |input, output| ModelPrice { input, output };
        let table = [
            ("gpt-4o", p(2.5, 10.0)),
            ("gpt-4o-mini", p(0.15, 0.6)),
            ("gpt-4.1", p(2.0, 8.0)),
            ("gpt-4.1-mini", p(0.4, 1.6)),
            ("o3", p(2.0, 8.0)),
            ("o4-mini", p(1.1, 4.4)),
            ("claude-sonnet-4", p(3.0, 15.0)),
            ("claude-opus-4", p(15.0, 75.0)),
            ("claude-haiku-3.5", p(0.8, 4.0)),
            ("gemini-2.5-pro", p(1.25, 10.0)),
            ("gemini-2.5-flash", p(0.3, 2.5)),
            ("mistral-large", p(2.0, 6.0)),
            ("llama-3.1-70b", p(0.6, 0.6)),
            ("deepseek-chat", p(0.27, 1.1)),
            ("text-embedding-3-small", p(0.02, 0.0)),
        ];
        Self(table.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

impl PriceTable {
    /// Cost of one call. Looks up `provider/model`, then `model`, then the longest
    /// configured name that prefixes the model (`gpt-4o-2024-08-06` → `gpt-4o`).
    pub fn cost(&self, provider: &str, model: &str, tokens_in: u64, tokens_out: u64) -> f64 {
        let price = self
            .0
            .get(&format!("{provider}/{model}"))
            .or_else(|| self.0.get(model))
            .or_else(|| {
                self.0
                    .iter()
                    .filter(|(name, _)| model.starts_with(name.as_str()))
                    .max_by_key(|(name, _)| name.len())
                    .map(|(_, p)| p)
            });
        price.map_or(0.0, |p| {
            (tokens_in as f64 * p.input + tokens_out as f64 * p.output) / 1e6
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_longest_prefix() {
        let t = PriceTable::default();
        assert!((t.cost("openai", "gpt-4o", 1_000_000, 0) - 2.5).abs() < 1e-9);
        // gpt-4o-mini must not be priced as gpt-4o
        assert!((t.cost("openai", "gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000) - 0.75).abs() < 1e-9);
        assert_eq!(t.cost("x", "unknown-model", 1000, 1000), 0.0);
    }
}
