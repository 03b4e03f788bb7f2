//! WAL checkpoints on a thread and connection of their own.

use super::super::StoreResult;
use parking_lot::Mutex;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;

/// Copies committed WAL frames into the database on its own thread and connection, so the
/// writer goes on writing meanwhile. Woken after commits; checkpoints at most every 200 ms
/// (a page changed by several commits in between is copied once). `PASSIVE` never waits
/// for the writer or readers; what it cannot copy yet, the next round does.
pub(super) struct Checkpointer {
    wake: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
    /// Held for each round. SQLite runs one checkpoint at a time and answers any other busy at
    /// once, without waiting: the writer's own checkpoints take this first (see `paused`).
    round: Arc<Mutex<()>>,
}

impl Checkpointer {
    pub(super) const INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

    pub(super) fn start(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let (wake, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let round = Arc::new(Mutex::new(()));
        let held = round.clone();
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    let checkpointed = {
                        let _round = held.lock();
                        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    };
                    if let Err(e) = checkpointed {
                        tracing::warn!(error = %e, "background checkpoint failed");
                    }
                    std::thread::sleep(Self::INTERVAL);
                }
            })?;
        Ok(Self { wake, thread, round })
    }

    /// Runs `f` with no background round under way, so that a checkpoint `f` runs itself
    /// (retention's `TRUNCATE`) does all its work instead of answering busy.
    pub(super) fn paused<T>(&self, f: impl FnOnce() -> T) -> T {
        let _round = self.round.lock();
        f()
    }

    /// Asks for a checkpoint soon (coalesced with one already asked for).
    pub(super) fn wake(&self) {
        let _ = self.wake.try_send(());
    }

    /// Lets the last round finish and stops the thread.
    pub(super) fn stop(self) {
        drop(self.wake);
        let _ = self.thread.join();
    }
}
