//! The batch writer: how the SIP path writes to the [`Store`] without ever
//! waiting for the database (DESIGN.md, "Storage": writes must not cap SIP
//! throughput).
//!
//! [`Writer::write`] validates a [`Write`] and puts it on a bounded channel;
//! it waits only when the channel is full, which is the back-pressure that
//! keeps memory bounded when the database falls behind. One task drains the
//! channel into a batch and commits the batch in one transaction when the
//! oldest write in it is [`BatchConfig::flush_interval`] old (default 50 ms),
//! when it holds [`BatchConfig::max_batch`] keys, or when asked to
//! ([`Writer::flush`], [`Writer::close`]).
//!
//! Within a batch, writes to one key (a publication's etag, a subscription's
//! id, a rule's presentity and watcher) coalesce: the last one wins and only
//! it reaches the database. Every write replaces or removes the whole row, so
//! the stored state is the one the writes in order would have left; a NOTIFY
//! CSeq bumped a hundred times in 50 ms costs one statement.
//!
//! The durability bound, while the database answers: an acknowledged write
//! (one `write` returned `Ok` for) reaches the database within
//! `flush_interval` (+ the time the database takes); on kill -9 at most that
//! interval of writes is lost; on clean shutdown ([`Writer::close`])
//! nothing. A SQLite store commits with a full fsync, so "reaches" means
//! durable, not just handed to the OS.
//!
//! When a commit fails, the batch is kept and retried (except the last one,
//! at `close`, which is tried once and reported), with the delay
//! doubling up to [`MAX_RETRY_DELAY`]; newer writes keep coalescing into it.
//! A write the database refuses for what it carries (see
//! `Failure::is_rejection` in `store`) would block every later batch,
//! so it alone is dropped and logged and the rest are committed.
//!
//! Reads go to the [`Store`] and see only what has been committed: call
//! [`Writer::flush`] first to read your own writes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Key, Store, StoreError, Write};

/// The longest pause between two attempts to commit a failed batch.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// How the writer batches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// The longest an acknowledged write waits before its batch is
    /// committed. Default 50 ms: a crash loses at most that much, and at
    /// thousands of writes a second one transaction carries hundreds.
    pub flush_interval: Duration,
    /// A batch holding this many keys is committed without waiting for the
    /// interval. Default 512.
    pub max_batch: usize,
    /// Writes the channel holds before `write` waits. Default 8192.
    pub queue_capacity: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            flush_interval: Duration::from_millis(50),
            max_batch: 512,
            queue_capacity: 8192,
        }
    }
}

/// Counters since the writer started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Writes taken from the channel.
    pub received: u64,
    /// Writes that replaced an earlier one to the same key in a batch.
    pub coalesced: u64,
    /// Statements committed.
    pub written: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Commits that failed and were retried.
    pub failed_commits: u64,
    /// Writes the database refused, dropped.
    pub rejected: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    coalesced: AtomicU64,
    written: AtomicU64,
    batches: AtomicU64,
    failed_commits: AtomicU64,
    rejected: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Boxed: a subscription makes a `Write` some 300 bytes, and a queue of
/// commands should cost a pointer each.
enum Command {
    Write(Box<Write>),
    Flush(oneshot::Sender<Result<(), StoreError>>),
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// A handle on the writer task. Clones share the task; when the last one is
/// dropped the task commits what it holds and stops.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Command>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(store: Store, config: BatchConfig) -> Result<Writer, StoreError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StoreError::NoRuntime)?;
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let task = Task {
            store,
            flush_interval: config.flush_interval,
            max_batch: config.max_batch.max(1),
            batch: Batch::default(),
            deadline: None,
            failures: 0,
            counters: counters.clone(),
        };
        runtime.spawn(task.run(rx));
        Ok(Writer { tx, counters })
    }

    /// Queues `write`; waits only while the queue is full, never for the
    /// database. `Ok` is the acknowledgement the durability bound is about.
    pub async fn write(&self, write: Write) -> Result<(), StoreError> {
        write.validate()?;
        self.tx
            .send(Command::Write(Box::new(write)))
            .await
            .map_err(|_| StoreError::WriterStopped)
    }

    /// Queues `write` if there is room now, for callers that must not wait.
    pub fn try_write(&self, write: Write) -> Result<(), StoreError> {
        write.validate()?;
        self.tx
            .try_send(Command::Write(Box::new(write)))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::QueueFull(self.queued()),
                mpsc::error::TrySendError::Closed(_) => StoreError::WriterStopped,
            })
    }

    /// Commits every write queued before this call, and returns once the
    /// database has it.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.request(Command::Flush).await
    }

    /// Commits every write queued before the task saw this call (from any
    /// clone) and stops the task; later writes fail with
    /// [`StoreError::WriterStopped`], and so does a second `close`.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.request(Command::Close).await
    }

    /// Writes waiting in the channel (not yet in a batch).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn stats(&self) -> WriterStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WriterStats {
            received: get(&c.received),
            coalesced: get(&c.coalesced),
            written: get(&c.written),
            batches: get(&c.batches),
            failed_commits: get(&c.failed_commits),
            rejected: get(&c.rejected),
        }
    }

    async fn request(
        &self,
        command: fn(oneshot::Sender<Result<(), StoreError>>) -> Command,
    ) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(command(ack))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        done.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Queues a write without validating it, to reach the database's own
    /// refusal in tests.
    #[cfg(test)]
    pub(super) async fn write_unvalidated(&self, write: Write) -> Result<(), StoreError> {
        self.tx
            .send(Command::Write(Box::new(write)))
            .await
            .map_err(|_| StoreError::WriterStopped)
    }
}

/// Pending writes, one per key, in the order their keys first appeared.
/// Rows of different keys are independent, so that order is as good as
/// arrival order.
#[derive(Default)]
struct Batch {
    writes: Vec<Write>,
    index: HashMap<Key, usize>,
}

impl Batch {
    /// Adds `write`; true if it replaced an earlier write to its key.
    fn push(&mut self, write: Write) -> bool {
        let key = write.key();
        match self.index.get(&key).and_then(|&i| self.writes.get_mut(i)) {
            Some(slot) => {
                *slot = write;
                true
            }
            None => {
                self.index.insert(key, self.writes.len());
                self.writes.push(write);
                false
            }
        }
    }

    fn remove(&mut self, i: usize) -> Option<Write> {
        if i >= self.writes.len() {
            return None;
        }
        let gone = self.writes.swap_remove(i);
        self.index.remove(&gone.key());
        if let Some(moved) = self.writes.get(i) {
            self.index.insert(moved.key(), i);
        }
        Some(gone)
    }

    fn len(&self) -> usize {
        self.writes.len()
    }

    fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    fn clear(&mut self) {
        self.writes.clear();
        self.index.clear();
    }
}

struct Task {
    store: Store,
    flush_interval: Duration,
    max_batch: usize,
    batch: Batch,
    /// When the batch must be committed: `flush_interval` after its first
    /// write arrived, or the retry time after a failed commit.
    deadline: Option<Instant>,
    /// Failed commits in a row; while there are any, a full batch waits for
    /// the retry time instead of hammering a database that is down.
    failures: u32,
    counters: Arc<Counters>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            let deadline = self.deadline;
            let due = async move {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let command = tokio::select! {
                command = rx.recv() => command,
                () = due => {
                    if let Err(e) = self.flush().await {
                        tracing::warn!(error = %e, pending = self.batch.len(), "store commit failed; will retry");
                    }
                    continue;
                }
            };
            match command {
                Some(Command::Write(write)) => {
                    self.push(*write);
                    if self.batch.len() >= self.max_batch && self.failures == 0 {
                        if let Err(e) = self.flush().await {
                            tracing::warn!(error = %e, pending = self.batch.len(), "store commit failed; will retry");
                        }
                    }
                }
                Some(Command::Flush(ack)) => {
                    let _ = ack.send(self.flush().await);
                }
                Some(Command::Close(ack)) => {
                    // Whatever was queued before the channel closed was
                    // acknowledged, so it goes into the last batch too.
                    rx.close();
                    let mut acks = vec![ack];
                    while let Some(command) = rx.recv().await {
                        match command {
                            Command::Write(write) => self.push(*write),
                            Command::Flush(ack) | Command::Close(ack) => acks.push(ack),
                        }
                    }
                    self.finish(acks).await;
                    return;
                }
                None => {
                    self.finish(Vec::new()).await;
                    return;
                }
            }
        }
    }

    fn push(&mut self, write: Write) {
        Counters::add(&self.counters.received, 1);
        if self.batch.push(write) {
            Counters::add(&self.counters.coalesced, 1);
        }
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.flush_interval);
        }
    }

    /// The last commit; every waiter hears how it went.
    async fn finish(&mut self, acks: Vec<oneshot::Sender<Result<(), StoreError>>>) {
        let result = self.flush().await;
        if let Err(e) = &result {
            tracing::error!(error = %e, lost = self.batch.len(), "store writer stopped without committing");
        }
        for ack in acks {
            let _ = ack.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Unflushed {
                    lost: self.batch.len(),
                    reason: e.to_string(),
                }),
            });
        }
    }

    /// Commits the batch. A write the database refuses is dropped and the
    /// rest are tried again at once: each round removes one write, so this
    /// ends.
    async fn flush(&mut self) -> Result<(), StoreError> {
        while !self.batch.is_empty() {
            match self.store.commit(&self.batch.writes).await {
                Ok(()) => {
                    Counters::add(&self.counters.written, self.batch.len() as u64);
                    Counters::add(&self.counters.batches, 1);
                    self.batch.clear();
                }
                Err(failure)
                    if failure.is_rejection()
                        && failure.write.is_some_and(|i| i < self.batch.len()) =>
                {
                    if let Some(write) = failure.write.and_then(|i| self.batch.remove(i)) {
                        Counters::add(&self.counters.rejected, 1);
                        tracing::error!(write = %write.key(), error = %failure.error, "store refused a write; dropped");
                    }
                }
                Err(failure) => {
                    Counters::add(&self.counters.failed_commits, 1);
                    self.failures = self.failures.saturating_add(1);
                    let delay = self
                        .flush_interval
                        .max(Duration::from_millis(10))
                        .saturating_mul(1 << self.failures.min(16))
                        .min(MAX_RETRY_DELAY);
                    self.deadline = Some(Instant::now() + delay);
                    return Err(StoreError::Database(failure.error));
                }
            }
        }
        self.failures = 0;
        self.deadline = None;
        Ok(())
    }
}
