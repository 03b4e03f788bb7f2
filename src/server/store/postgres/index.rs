//! The search index's rows of a group (`store/search/`): each execution's terms and its
//! words as `tsvector`s, in the executions' day partitions, in the group's transaction.

use super::text::pg_text;
use crate::server::store::search::Doc;
use crate::server::store::StoreResult;
use tokio_postgres::Transaction;

/// Longest text of one search row indexed (a `tsvector` must stay under 1 MB).
const MAX_INDEXED_TEXT: usize = 256 * 1024;

/// What the group adds to the search index, in its executions' partitions; a document of an
/// execution the store does not hold has nothing to find it by and is left out.
pub(super) async fn write<'a>(tx: &Transaction<'_>, docs: impl Iterator<Item = &'a Doc>) -> StoreResult<()> {
    let (mut term_ids, mut terms) = (Vec::new(), Vec::new());
    let (mut text_ids, mut bodies, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for doc in docs {
        for t in &doc.terms {
            term_ids.push(doc.execution_id.as_str());
            terms.push(pg_text(t));
        }
        if !doc.body.is_empty() || !doc.error.is_empty() {
            text_ids.push(doc.execution_id.as_str());
            bodies.push(pg_text(cut(&doc.body)));
            errors.push(pg_text(cut(&doc.error)));
        }
    }
    if !term_ids.is_empty() {
        tx.execute(
            "INSERT INTO search_terms (exec_created, execution_id, term) \
             SELECT x.created_at, u.id, u.term FROM unnest($1::text[], $2::text[]) AS u(id, term) \
             JOIN executions x ON x.id = u.id ON CONFLICT DO NOTHING",
            &[&term_ids, &terms],
        )
        .await?;
    }
    if !text_ids.is_empty() {
        tx.execute(
            "INSERT INTO search_text (exec_created, execution_id, body, error) \
             SELECT x.created_at, u.id, to_tsvector('simple', u.body), to_tsvector('simple', u.error) \
             FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, body, error) JOIN executions x ON x.id = u.id",
            &[&text_ids, &bodies, &errors],
        )
        .await?;
    }
    Ok(())
}

/// At most [`MAX_INDEXED_TEXT`] bytes of `s`, cut at a character boundary.
fn cut(s: &str) -> &str {
    if s.len() <= MAX_INDEXED_TEXT {
        return s;
    }
    let mut end = MAX_INDEXED_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
