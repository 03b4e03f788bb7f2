//! What LLM calls cost, per model, in USD per million tokens. Configurable in TOML under
//! `[prices."model-name"]`; defaults cover well-known models. Tokens read from or written to a
//! provider's prompt cache have their own prices where the provider sets one.

use crate::model::TokenUsage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// USD per million input (prompt) tokens.
    pub input: f64,
    /// USD per million output (completion) tokens.
    pub output: f64,
    /// USD per million input tokens read from the prompt cache; `input` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    /// USD per million input tokens written to the prompt cache; `input` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceTable(pub BTreeMap<String, ModelPrice>);

impl Default for PriceTable {
    fn default() -> Self {
        let p = |input, output| ModelPrice {
            input,
            output,
            cache_read: None,
            cache_write: None,
        };
        // Cached input as the providers price it: OpenAI and DeepSeek read it at a discount
        // and write it at the input price; Anthropic writes it at 1.25× and reads at 0.1×.
        let read = |p: ModelPrice, read| ModelPrice {
            cache_read: Some(read),
            ..p
        };
        let anthropic = |input: f64, output| ModelPrice {
            cache_read: Some(input * 0.1),
            cache_write: Some(input * 1.25),
            ..p(input, output)
        };
        let table = [
            ("gpt-4o", read(p(2.5, 10.0), 1.25)),
            ("gpt-4o-mini", read(p(0.15, 0.6), 0.075)),
            ("gpt-4.1", read(p(2.0, 8.0), 0.5)),
            ("gpt-4.1-mini", read(p(0.4, 1.6), 0.1)),
            ("o3", read(p(2.0, 8.0), 0.5)),
            ("o4-mini", read(p(1.1, 4.4), 0.275)),
            ("claude-sonnet-4", anthropic(3.0, 15.0)),
            ("claude-opus-4", anthropic(15.0, 75.0)),
            ("claude-haiku-3.5", anthropic(0.8, 4.0)),
            ("gemini-2.5-pro", p(1.25, 10.0)),
            ("gemini-2.5-flash", p(0.3, 2.5)),
            ("mistral-large", p(2.0, 6.0)),
            ("llama-3.1-70b", p(0.6, 0.6)),
            ("deepseek-chat", read(p(0.27, 1.1), 0.07)),
            ("text-embedding-3-small", p(0.02, 0.0)),
        ];
        Self(table.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

impl PriceTable {
    /// Cost of one call. Looks up `provider/model`, then `model`, then the longest
    /// configured name that prefixes the model (`gpt-4o-2024-08-06` → `gpt-4o`).
    ///
    /// Cached tokens are priced as cached out of `usage.input`. When they outnumber it, the
    /// producer counted input without them (as Anthropic's API does), and all of `input` is
    /// priced as uncached.
    pub fn cost(&self, provider: &str, model: &str, usage: TokenUsage) -> f64 {
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
            let cached = usage.cache_read.saturating_add(usage.cache_creation);
            let uncached = usage.input.checked_sub(cached).unwrap_or(usage.input);
            (uncached as f64 * p.input
                + usage.cache_read as f64 * p.cache_read.unwrap_or(p.input)
                + usage.cache_creation as f64 * p.cache_write.unwrap_or(p.input)
                + usage.output as f64 * p.output)
                / 1e6
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_longest_prefix() {
        let t = PriceTable::default();
        assert!((t.cost("openai", "gpt-4o", TokenUsage::new(1_000_000, 0)) - 2.5).abs() < 1e-9);
        // gpt-4o-mini must not be priced as gpt-4o
        assert!(
            (t.cost(
                "openai",
                "gpt-4o-mini-2024-07-18",
                TokenUsage::new(1_000_000, 1_000_000)
            ) - 0.75)
                .abs()
                < 1e-9
        );
        assert_eq!(t.cost("x", "unknown-model", TokenUsage::new(1000, 1000)), 0.0);
    }

    #[test]
    fn cached_input_has_its_own_price_where_the_provider_sets_one() {
        let t = PriceTable::default();
        let usage = |input, cache_read, cache_creation| TokenUsage {
            input,
            output: 0,
            cache_read,
            cache_creation,
            reasoning: 0,
        };
        // 1M input of which 600k read from the cache: 400k × 2.5 + 600k × 1.25.
        let cost = t.cost("openai", "gpt-4o", usage(1_000_000, 600_000, 0));
        assert!((cost - 1.75).abs() < 1e-9, "{cost}");
        // Anthropic: 200k uncached × 3 + 500k read × 0.3 + 300k written × 3.75.
        let cost = t.cost("anthropic", "claude-sonnet-4", usage(1_000_000, 500_000, 300_000));
        assert!((cost - (0.6 + 0.15 + 1.125)).abs() < 1e-9, "{cost}");
        // Input counted without the cached parts (Anthropic's API): all of it is uncached.
        let cost = t.cost("anthropic", "claude-sonnet-4", usage(100_000, 500_000, 0));
        assert!((cost - (0.3 + 0.15)).abs() < 1e-9, "{cost}");
        // No cache price: cached tokens cost what input does.
        let cost = t.cost("x", "llama-3.1-70b", usage(1_000_000, 600_000, 0));
        assert!((cost - 0.6).abs() < 1e-9, "{cost}");
    }

    #[test]
    fn configured_prices_may_set_cache_prices_or_leave_them_out() {
        let t: PriceTable =
            toml::from_str("[m]\ninput = 1.0\noutput = 2.0\ncache_read = 0.5\n[n]\ninput = 1.0\noutput = 2.0\n")
                .unwrap();
        assert_eq!(t.0["m"].cache_read, Some(0.5));
        assert_eq!(t.0["n"].cache_write, None);
        let err = toml::from_str::<PriceTable>("[m]\ninput = 1.0\noutput = 2.0\ncached = 0.5\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `cached`"), "{err}");
    }
}
