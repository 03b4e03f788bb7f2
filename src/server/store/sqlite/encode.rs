//! A batch as the SQLite writer takes it: the JSON columns every backend encodes, the
//! batch's spans as compressed chunks, a chunk per run of one execution's spans (its id, the
//! chunk), and per search document its terms packed for retention. Encoded by the caller of
//! [`Store::commit`](super::super::Store::commit); the writer thread only binds and steps, and
//! hands the batch back so the caller also frees it.

use super::super::encode::Json;
use super::super::span_chunks;
use super::super::{StoreResult, WriteBatch};

/// What SQLite stores in forms of its own.
pub(super) struct Packed {
    /// (execution id, chunk) per run of one execution's spans.
    pub spans: Vec<(String, Vec<u8>)>,
    /// Per search document (`Json::search`), its terms: what retention deletes them by.
    pub terms: Vec<Vec<u8>>,
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
        let terms = json.search.iter().map(|d| pack_terms(d.terms.iter())).collect();
        Ok(Self {
            json,
            spans: Packed { spans, terms },
        })
    }
}

/// A document's terms, newline-separated and LZ4-compressed: they share long prefixes
/// (`attr.gen_ai.…`), and stored as text they took as much room as the terms' index itself.
pub(super) fn pack_terms<'a>(terms: impl Iterator<Item = &'a String>) -> Vec<u8> {
    let joined: Vec<&str> = terms.map(String::as_str).collect();
    lz4_flex::compress_prepend_size(joined.join("\n").as_bytes())
}

/// The terms [`pack_terms`] packed (none, if the bytes are not such a list).
pub(super) fn unpack_terms(packed: &[u8]) -> Vec<String> {
    lz4_flex::decompress_size_prepended(packed)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(|s| s.split('\n').filter(|t| !t.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}
