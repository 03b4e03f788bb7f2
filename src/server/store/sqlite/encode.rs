//! A batch as the SQLite writer takes it: the JSON columns every backend encodes, and the
//! batch's spans as compressed chunks.

use super::super::encode::Json;
use super::super::span_chunks;
use super::super::{StoreResult, WriteBatch};

/// Encoded by the caller of [`Store::commit`](super::super::Store::commit); the writer thread
/// only binds and steps, and hands the batch back so the caller also frees it.
pub(super) struct Encoded {
    json: Json,
    /// The batch's spans, a chunk per run of one execution's spans: (its id, the chunk).
    pub(super) span_chunks: Vec<(String, Vec<u8>)>,
}

impl std::ops::Deref for Encoded {
    type Target = Json;
    fn deref(&self) -> &Json {
        &self.json
    }
}

impl Encoded {
    pub(super) fn new(batch: WriteBatch) -> StoreResult<Self> {
        let span_chunks = batch
            .spans
            .chunk_by(|a, b| a.execution_id == b.execution_id)
            .map(|run| Ok((run[0].execution_id.clone(), span_chunks::encode(run)?)))
            .collect::<StoreResult<_>>()?;
        Ok(Self {
            json: Json::new(batch)?,
            span_chunks,
        })
    }
}
