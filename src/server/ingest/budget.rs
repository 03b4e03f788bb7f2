//! The ingest memory budget: bytes of request bodies in flight (read, decompressed, decoded
//! and waiting for their commit), across every route. A request takes a lease as its body
//! arrives and holds it until it is answered; when the budget is spent the request is
//! answered at once with 503 and `Retry-After`, before more of it is read, so a burst of
//! large or slow requests cannot grow the server's memory without bound.

use crate::error::{ApiError, ErrorCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// Bytes of ingest in flight, shared by every route; cheap to clone.
#[derive(Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

struct Inner {
    bytes: Arc<Semaphore>,
    capacity: usize,
    refused: AtomicU64,
}

/// Bytes held by one request, given back when it is dropped.
pub struct Lease {
    budget: Budget,
    held: Option<OwnedSemaphorePermit>,
}

impl Budget {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.min(Semaphore::MAX_PERMITS);
        Self {
            inner: Arc::new(Inner {
                bytes: Arc::new(Semaphore::new(capacity)),
                capacity,
                refused: AtomicU64::new(0),
            }),
        }
    }

    /// An empty lease, grown with [`Lease::cover`].
    pub fn lease(&self) -> Lease {
        Lease {
            budget: self.clone(),
            held: None,
        }
    }

    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Bytes held by requests in flight now.
    pub fn in_use(&self) -> usize {
        self.inner.capacity - self.inner.bytes.available_permits()
    }

    /// Requests refused because the budget was spent.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }
}

impl Lease {
    /// Bytes this lease holds.
    pub fn held(&self) -> usize {
        self.held.as_ref().map_or(0, |p| p.num_permits())
    }

    /// Grows the lease to at least `bytes`, or refuses with 503 when the budget is spent.
    pub fn cover(&mut self, bytes: usize) -> Result<(), ApiError> {
        let more = bytes.saturating_sub(self.held());
        if more == 0 {
            return Ok(());
        }
        let inner = &self.budget.inner;
        let permit = u32::try_from(more)
            .map_err(|_| TryAcquireError::NoPermits)
            .and_then(|n| inner.bytes.clone().try_acquire_many_owned(n));
        match permit {
            Ok(p) => {
                match &mut self.held {
                    Some(held) => held.merge(p),
                    None => self.held = Some(p),
                }
                Ok(())
            }
            Err(_) => {
                inner.refused.fetch_add(1, Ordering::Relaxed);
                Err(ApiError::new(
                    ErrorCode::Overloaded,
                    format!(
                        "the ingest memory budget ({} MiB, `ingest_memory`) is in use by requests in flight; retry after 1 s",
                        inner.capacity / (1024 * 1024)
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_grow_until_the_budget_is_spent_and_give_back_on_drop() {
        let budget = Budget::new(1000);
        let mut a = budget.lease();
        a.cover(600).unwrap();
        a.cover(400).unwrap();
        assert_eq!((a.held(), budget.in_use()), (600, 600), "covering less takes nothing");
        let mut b = budget.lease();
        let e = b.cover(500).unwrap_err();
        assert_eq!(e.code, ErrorCode::Overloaded);
        assert!(e.message.contains("ingest_memory"), "{}", e.message);
        assert_eq!((b.held(), budget.refused()), (0, 1), "a refused cover takes nothing");
        b.cover(400).unwrap();
        drop(a);
        assert_eq!(budget.in_use(), 400);
        b.cover(1000).unwrap();
        assert_eq!(budget.in_use(), 1000);
    }
}
