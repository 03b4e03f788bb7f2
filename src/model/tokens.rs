//! Token counts, one shape for every place that counts them. On the wire each record keeps its
//! own field names (`tokens_in`, `cache_read_tokens`, …); [`TokenUsage`] is what code reads
//! them as, through each record's `usage()`.

/// The tokens of one LLM call, or a sum of calls. `input` counts every input token, cached ones
/// included (the GenAI conventions' `gen_ai.usage.input_tokens`); `cache_read` and
/// `cache_creation` are the parts of it read from and written to the provider's prompt cache;
/// `reasoning` is the part of `output` spent on reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
    pub reasoning: u64,
}

impl TokenUsage {
    /// Input and output tokens alone, nothing cached.
    pub fn new(input: u64, output: u64) -> Self {
        Self {
            input,
            output,
            ..Self::default()
        }
    }

    /// Input and output.
    pub fn total(&self) -> u64 {
        self.input.saturating_add(self.output)
    }
}

impl std::ops::AddAssign for TokenUsage {
    fn add_assign(&mut self, o: Self) {
        self.input = self.input.saturating_add(o.input);
        self.output = self.output.saturating_add(o.output);
        self.cache_read = self.cache_read.saturating_add(o.cache_read);
        self.cache_creation = self.cache_creation.saturating_add(o.cache_creation);
        self.reasoning = self.reasoning.saturating_add(o.reasoning);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_saturate_and_total_is_input_plus_output() {
        let mut u = TokenUsage::new(10, 5);
        u += TokenUsage {
            cache_read: 4,
            reasoning: 2,
            ..TokenUsage::new(u64::MAX, 1)
        };
        assert_eq!((u.input, u.output, u.cache_read, u.reasoning), (u64::MAX, 6, 4, 2));
        assert_eq!(u.total(), u64::MAX);
    }
}
