//! One client of the push: its bounded queue (in messages and in bytes), its subscriptions,
//! and its budget of subscribe messages.

use super::{frame, Frame};
use crate::stream::protocol::{ServerMessage, Topic};
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};

/// Messages queued per client before it is considered lagging.
pub const CLIENT_QUEUE: usize = 4096;
/// Bytes queued per client before it is considered lagging: snapshots of a large store are
/// megabytes each, so a bound in messages alone is no bound on memory.
pub const CLIENT_QUEUE_BYTES: usize = 16 << 20;
/// Executions one connection may watch at once.
pub const MAX_WATCHED: usize = 32;
/// Subscribe messages a connection may send per second, and at once: each one builds
/// snapshots or reads a backlog.
pub const SUBSCRIBE_RATE: u32 = 20;
pub const SUBSCRIBE_BURST: u32 = 40;

pub(super) enum ExecSub {
    /// Backlog being read: live lines wait here, by seq.
    Buffering(Vec<(u64, Frame)>),
    Live,
}

pub struct Client {
    pub id: u64,
    pub(super) tx: mpsc::Sender<Frame>,
    /// Bytes of the frames in `tx`, against [`CLIENT_QUEUE_BYTES`].
    pub(super) queued_bytes: Arc<AtomicUsize>,
    pub(super) subscribes: governor::DefaultDirectRateLimiter,
    pub(super) topics: RwLock<HashSet<Topic>>,
    pub(super) executions: Mutex<HashMap<String, ExecSub>>,
    pub(super) compact: AtomicBool,
    pub(super) lagging: AtomicBool,
    pub(super) lag: Notify,
    pub(super) dropped: AtomicU64,
}

impl Client {
    /// Queues a frame without waiting. A queue full in messages or in bytes marks the client
    /// lagging.
    pub(super) fn send(&self, f: Frame) {
        if self.lagging.load(Ordering::Relaxed) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let len = f.len();
        let fits = self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len <= CLIENT_QUEUE_BYTES;
        let sent = fits && !matches!(self.tx.try_send(f), Err(mpsc::error::TrySendError::Full(_)));
        if !sent {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.lagging.store(true, Ordering::Relaxed);
            self.lag.notify_one();
        }
    }

    /// Whether one more subscribe message is within the connection's rate.
    pub(super) fn may_subscribe(&self) -> bool {
        self.subscribes.check().is_ok()
    }

    pub(super) fn send_msg(&self, msg: &ServerMessage) {
        self.send(frame(msg));
    }
}

/// A client's queue, read by its connection: what it takes leaves the client's byte count.
pub struct Inbox {
    pub(super) rx: mpsc::Receiver<Frame>,
    pub(super) queued_bytes: Arc<AtomicUsize>,
}

impl Inbox {
    pub async fn recv(&mut self) -> Option<Frame> {
        let f = self.rx.recv().await?;
        self.queued_bytes.fetch_sub(f.len(), Ordering::Relaxed);
        Some(f)
    }

    pub fn try_recv(&mut self) -> Result<Frame, mpsc::error::TryRecvError> {
        let f = self.rx.try_recv()?;
        self.queued_bytes.fetch_sub(f.len(), Ordering::Relaxed);
        Ok(f)
    }
}
