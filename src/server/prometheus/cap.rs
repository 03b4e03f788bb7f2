//! Bounded label cardinality: the first `limit` distinct values of a label keep their own
//! series; later ones are folded into [`OTHER`].

use parking_lot::Mutex;
use std::collections::HashSet;

/// The label value that stands for every value past the cap.
pub const OTHER: &str = "other";

pub struct LabelCap {
    limit: usize,
    admitted: Mutex<HashSet<String>>,
}

impl LabelCap {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            admitted: Mutex::new(HashSet::new()),
        }
    }

    /// `value` itself if it was admitted before or there is room; otherwise [`OTHER`].
    /// Admission is permanent, so a series never moves into or out of `other`.
    pub fn label(&self, value: &str) -> String {
        let mut admitted = self.admitted.lock();
        if admitted.contains(value) {
            return value.to_string();
        }
        if admitted.len() < self.limit {
            admitted.insert(value.to_string());
            return value.to_string();
        }
        OTHER.to_string()
    }

    /// How many distinct values hold their own series.
    pub fn admitted(&self) -> usize {
        self.admitted.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_past_the_cap_fold_into_other() {
        let cap = LabelCap::new(2);
        assert_eq!(cap.label("a"), "a");
        assert_eq!(cap.label("b"), "b");
        assert_eq!(cap.label("c"), OTHER);
        assert_eq!(cap.label("d"), OTHER);
        assert_eq!(cap.admitted(), 2);
    }

    #[test]
    fn admitted_values_keep_their_series() {
        let cap = LabelCap::new(1);
        assert_eq!(cap.label("a"), "a");
        assert_eq!(cap.label("b"), OTHER);
        assert_eq!(cap.label("a"), "a", "a value admitted once stays admitted");
        assert_eq!(cap.label("b"), OTHER, "a folded value stays folded");
    }

    #[test]
    fn a_zero_cap_folds_everything() {
        let cap = LabelCap::new(0);
        assert_eq!(cap.label("a"), OTHER);
        assert_eq!(cap.admitted(), 0);
    }
}
