//! A batch as the SQLite writer takes it: the JSON columns every backend encodes, the
//! batch's spans as compressed chunks, a chunk per run of one execution's spans (its id, the
//! chunk), and per search document its terms as tokens. Encoded by the caller of
//! [`Store::commit`](super::super::Store::commit); the writer thread only binds and steps, and
//! hands the batch back so the caller also frees it.

use super::super::encode::Json;
use super::super::span_chunks;
use super::super::{StoreResult, WriteBatch};

/// What SQLite stores in forms of its own.
pub(super) struct Packed {
    /// (execution id, chunk) per run of one execution's spans.
    pub spans: Vec<(String, Vec<u8>)>,
    /// Per search document (`Json::search`), its terms as FTS5 tokens.
    pub terms: Vec<String>,
}

pub(super) type Encoded = super::super::encode::Encoded<Packed>;

impl Encoded {
    pub(super) fn new(batch: WriteBatch) -> StoreResult<Self> {
        let spans = batch
            .spans
            .chunk_by(|a, b| a.execution_id == b.execution_id)
            .map(|run| Ok((run[0].execution_id.clone(), span_chunks::encode(run)?)))
            .collect::<StoreResult<_>>()?;
        let json = Json::new(batch)?;
        let terms = json.search.iter().map(|d| term_tokens(d.terms.iter())).collect();
        Ok(Self {
            json,
            spans: Packed { spans, terms },
        })
    }
}

/// A document's terms as FTS5 tokens: each term hex-encoded (one token whatever its
/// characters; the hex of a prefix is a prefix of the hex), separated by spaces.
pub(super) fn term_tokens<'a>(terms: impl Iterator<Item = &'a String>) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::new();
    for t in terms {
        if !out.is_empty() {
            out.push(b' ');
        }
        out.reserve(2 * t.len() + 1);
        for b in t.bytes() {
            out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    String::from_utf8(out).expect("hex digits and spaces are ASCII")
}
