//! Lookups a container can make hang, kept from hanging the loop.
//!
//! Resolving a connect's path inside a process's root walks the file systems
//! the process sees: a FUSE mount it serves can leave a lookup unanswered for
//! ever (and the thread waiting in it cannot even be killed while the request
//! is with the FUSE daemon). Such a lookup runs on a helper thread; the loop waits for it at most `DEADLINE`, then goes on without the
//! answer (the caller decides what that means, always saying so). The helper
//! that did not answer is left to its read and a fresh one takes the next job;
//! at most `MAX_STUCK` can be stuck at once, after which these reads are refused
//! at once until one comes back. A mount namespace where a read stalled once is
//! not read in again (up to `SUSPECTS` of them are remembered): a container
//! that answers late each time must not cost the loop `DEADLINE` per event.
//! This is the one exception to the single
//! thread: the threads hold no state of the daemon's, run one closure at a time,
//! and are started only when the first such read is needed; idle, they sleep in
//! `recv` and never wake.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Answers come in microseconds; a helper that takes this long is taken as stuck.
/// (Reads of /proc that cannot wait on a file system stay on the loop: argv
/// (the kernel reads it only from anonymous memory), cgroup, namespaces, and
/// the executable's identity, taken from the kernel's cache.)
pub const DEADLINE: Duration = Duration::from_millis(100);
/// Helpers left stuck in a read at once, at most; the loop has then waited
/// `MAX_STUCK` x `DEADLINE` in all, and waits no more.
pub const MAX_STUCK: usize = 4;
/// Mount namespaces remembered as having stalled a read, at most.
pub const SUSPECTS: usize = 1024;

type Job = Box<dyn FnOnce() + Send>;

/// Why a read has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stalled {
    /// No answer within `DEADLINE`.
    TimedOut,
    /// `MAX_STUCK` helpers are stuck already: not tried.
    AllStuck,
    /// No helper thread could be started, or the read panicked.
    NoHelper,
    /// A read in the same mount namespace stalled before: not tried.
    Suspect,
}

impl Stalled {
    pub fn as_str(self) -> &'static str {
        match self {
            Stalled::TimedOut => "no answer within 100 ms",
            Stalled::AllStuck => "every helper is stuck in an earlier read",
            Stalled::NoHelper => "no helper thread, or the read failed",
            Stalled::Suspect => "an earlier read in this mount namespace did not answer",
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub answered: u64,
    pub timed_out: u64,
    pub refused: u64,
}

struct Helper {
    jobs: mpsc::Sender<Job>,
    sent: u64,
    /// Jobs finished, counted by the helper just before it hands the answer back.
    done: Arc<AtomicU64>,
}

struct Finished(Arc<AtomicU64>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

impl Helper {
    fn idle(&self) -> bool {
        self.done.load(Ordering::Acquire) == self.sent
    }
}

#[derive(Default)]
struct Inner {
    helpers: Vec<Helper>,
    counters: Counters,
    /// Mount namespaces (inode numbers) where a read stalled, oldest first.
    suspects: std::collections::VecDeque<u64>,
}

/// The helpers; `&self` methods so that the read-only /proc view can own it.
#[derive(Default)]
pub struct Lookups {
    inner: RefCell<Inner>,
}

impl Lookups {
    pub fn new() -> Lookups {
        Lookups::default()
    }

    /// Runs `read`, which reads in mount namespace `ns` (when known), on a
    /// helper and waits for it at most `DEADLINE`.
    pub fn run<T: Send + 'static>(
        &self,
        ns: Option<u64>,
        read: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Stalled> {
        let mut inner = self.inner.borrow_mut();
        if ns.is_some_and(|ns| inner.suspects.contains(&ns)) {
            inner.counters.refused += 1;
            return Err(Stalled::Suspect);
        }
        let Some(i) = inner.free_helper() else {
            inner.counters.refused += 1;
            return Err(if inner.stuck() >= MAX_STUCK {
                Stalled::AllStuck
            } else {
                Stalled::NoHelper
            });
        };
        let helper = &mut inner.helpers[i];
        let (tx, rx) = mpsc::sync_channel(1);
        let done = Arc::clone(&helper.done);
        let job: Job = Box::new(move || {
            // Counted done even when the read panics, so its helper is free again.
            let finished = Finished(done);
            let answer = read();
            drop(finished);
            let _ = tx.send(answer);
        });
        if helper.jobs.send(job).is_err() {
            inner.helpers.swap_remove(i);
            inner.counters.refused += 1;
            return Err(Stalled::NoHelper);
        }
        helper.sent += 1;
        match rx.recv_timeout(DEADLINE) {
            Ok(answer) => {
                inner.counters.answered += 1;
                Ok(answer)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                inner.counters.timed_out += 1;
                if let Some(ns) = ns {
                    if inner.suspects.len() == SUSPECTS {
                        inner.suspects.pop_front();
                    }
                    inner.suspects.push_back(ns);
                }
                Err(Stalled::TimedOut)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // The read panicked; its helper lives on.
                inner.counters.refused += 1;
                Err(Stalled::NoHelper)
            }
        }
    }

    pub fn counters(&self) -> Counters {
        self.inner.borrow().counters
    }

    /// Helpers still inside a read that did not answer in time.
    pub fn stuck(&self) -> usize {
        self.inner.borrow().stuck()
    }
}

impl Inner {
    fn stuck(&self) -> usize {
        self.helpers.iter().filter(|h| !h.idle()).count()
    }

    /// An idle helper (one that came back from a stuck read counts again), or a
    /// new one while fewer than `MAX_STUCK` are stuck.
    fn free_helper(&mut self) -> Option<usize> {
        if let Some(i) = self.helpers.iter().position(Helper::idle) {
            return Some(i);
        }
        if self.helpers.len() > MAX_STUCK {
            return None;
        }
        let (jobs, rx) = mpsc::channel::<Job>();
        crate::io::signals::spawn_quiet("sockwatch-lookup", 256 << 10, move || {
            for job in rx {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        })
        .ok()?;
        self.helpers.push(Helper { jobs, sent: 0, done: Arc::new(AtomicU64::new(0)) });
        Some(self.helpers.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn an_answer_comes_back() {
        let l = Lookups::new();
        assert_eq!(l.run(None, || 6 * 7), Ok(42));
        assert_eq!(l.run(None, || "again"), Ok("again"));
        assert_eq!(l.counters(), Counters { answered: 2, timed_out: 0, refused: 0 });
        assert_eq!(l.stuck(), 0);
    }

    /// Reads that never answer cost the caller `DEADLINE` each, up to
    /// `MAX_STUCK` of them; then nothing; a helper that comes back is used again.
    #[test]
    fn stuck_reads_cost_a_bounded_wait_and_helpers_come_back() {
        let l = Lookups::new();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release = Arc::new(std::sync::Mutex::new(release_rx));
        let started = Instant::now();
        for _ in 0..MAX_STUCK {
            let r = Arc::clone(&release);
            assert_eq!(
                l.run(None, move || r.lock().unwrap().recv().is_ok()),
                Err(Stalled::TimedOut)
            );
        }
        let waited = started.elapsed();
        assert!(waited >= DEADLINE * MAX_STUCK as u32, "{waited:?}");
        assert_eq!(l.stuck(), MAX_STUCK);
        // One helper is still free (MAX_STUCK + 1 in all); then none.
        assert_eq!(l.run(None, || 1), Ok(1));
        let r = Arc::clone(&release);
        assert_eq!(l.run(None, move || r.lock().unwrap().recv().is_ok()), Err(Stalled::TimedOut));
        let t = Instant::now();
        assert_eq!(l.run(None, || 2), Err(Stalled::AllStuck));
        assert!(t.elapsed() < DEADLINE, "refused at once");
        // The stuck reads end: their helpers are free again.
        for _ in 0..=MAX_STUCK {
            release_tx.send(()).unwrap();
        }
        let t = Instant::now();
        while l.stuck() > 0 {
            assert!(t.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(l.run(None, || 3), Ok(3));
        let c = l.counters();
        assert_eq!((c.timed_out, c.refused, c.answered), (MAX_STUCK as u64 + 1, 1, 2));
        assert_eq!(l.inner.borrow().helpers.len(), MAX_STUCK + 1);
    }

    #[test]
    fn a_namespace_that_stalled_once_is_not_read_in_again() {
        let l = Lookups::new();
        let (_keep, rx) = mpsc::channel::<()>();
        assert_eq!(l.run(Some(7), move || rx.recv().is_ok()), Err(Stalled::TimedOut));
        let t = Instant::now();
        assert_eq!(l.run(Some(7), || 1), Err(Stalled::Suspect));
        assert!(t.elapsed() < DEADLINE);
        assert_eq!(l.run(Some(8), || 2), Ok(2));
        assert_eq!(l.run(None, || 3), Ok(3));
    }

    #[test]
    fn a_read_that_panics_is_an_error_not_a_crash() {
        let l = Lookups::new();
        let r: Result<u8, _> = l.run(None, || panic!("a bad read"));
        // Printing the panic may take longer than the deadline.
        assert!(matches!(r, Err(Stalled::NoHelper | Stalled::TimedOut)), "{r:?}");
        let t = Instant::now();
        while l.stuck() > 0 {
            assert!(t.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(5));
        }
        // The same helper takes the next read.
        assert_eq!(l.run(None, || 5), Ok(5));
        assert_eq!(l.inner.borrow().helpers.len(), 1);
    }
}
