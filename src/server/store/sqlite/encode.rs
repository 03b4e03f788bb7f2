//! A batch as the SQLite writer takes it: the JSON columns every backend encodes, and the
//! batch's spans as compressed chunks, a chunk per run of one execution's spans (its id, the
//! chunk). Encoded by the caller of [`Store::commit`](super::super::Store::commit); the writer
//! thread only binds and steps, and hands the batch back so the caller also frees it.

use super::super::encode::Json;
use super::super::span_chunks;
use super::super::{StoreResult, WriteBatch};

pub(super) type Encoded = super::super::encode::Encoded<Vec<(String, Vec<u8>)>>;

impl Encoded {
    pub(super) fn new(batch: WriteBatch) -> StoreResult<Self> {
        let spans = batch
            .spans
            .chunk_by(|a, b| a.execution_id == b.execution_id)
            .map(|run| Ok((run[0].execution_id.clone(), span_chunks::encode(run)?)))
            .collect::<StoreResult<_>>()?;
        Ok(Self {
            json: Json::new(batch)?,
            spans,
        })
    }
}
