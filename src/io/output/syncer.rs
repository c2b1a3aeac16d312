//! The JSON lines file's fdatasync, off the event loop.
//!
//! A sync waits for the disk: up to 300 ms on a VM's disk under load, and the
//! loop reads no record meanwhile. So the loop only asks, and one thread per
//! synced file does the waiting: the second documented exception to the single
//! thread (the first is `io::lookups`). It sleeps on a condition variable, so it
//! costs no wakeup while nothing is written.
//!
//! Why a thread and not io_uring's IORING_OP_FSYNC completed in the loop: the
//! hosts this tool is for (BPF locked down) are the ones that also disable
//! io_uring (`kernel.io_uring_disabled`, seccomp profiles, Docker's default), so
//! io_uring would need this thread as its fallback anyway, and one path is one
//! path to test.
//!
//! A request names the file; a sync that starts after the request covers every
//! line written before it, so requests made while a sync runs are merged into
//! the next one.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

#[derive(Default)]
struct Wanted {
    files: Vec<Arc<File>>,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    wanted: Mutex<Wanted>,
    wake: Condvar,
    done: AtomicU64,
    failed: AtomicU64,
}

pub struct Syncer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The file's name, for messages.
    name: String,
}

impl Syncer {
    pub fn start(name: String) -> std::io::Result<Syncer> {
        let shared = Arc::new(Shared::default());
        let (s, n) = (shared.clone(), name.clone());
        let thread =
            crate::io::signals::spawn_quiet("sockwatch-sync", 128 << 10, move || run(&s, &n))?;
        Ok(Syncer { shared, thread: Some(thread), name })
    }

    /// Asks for `file` to be synced; returns at once. Falls back to syncing here
    /// if the thread is gone (it cannot be, short of a panic).
    pub fn request(&self, file: &Arc<File>) {
        if self.thread.as_ref().is_none_or(|t| t.is_finished()) {
            crate::error!("{}: the sync thread is gone; syncing on the event loop", self.name);
            sync(&self.shared, &self.name, file);
            return;
        }
        let mut w = self.shared.wanted.lock().unwrap_or_else(|e| e.into_inner());
        if !w.files.iter().any(|f| Arc::ptr_eq(f, file)) {
            w.files.push(file.clone());
        }
        drop(w);
        self.shared.wake.notify_one();
    }

    /// Syncs completed and failed so far (a failure is also logged as it happens).
    #[cfg(test)]
    fn counts(&self) -> (u64, u64) {
        (self.shared.done.load(Ordering::Relaxed), self.shared.failed.load(Ordering::Relaxed))
    }
}

impl Drop for Syncer {
    /// Lets the thread finish what was asked, then joins it.
    fn drop(&mut self) {
        self.shared.wanted.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(s: &Shared, name: &str) {
    loop {
        let files = {
            let mut w = s.wanted.lock().unwrap_or_else(|e| e.into_inner());
            while w.files.is_empty() && !w.stop {
                w = s.wake.wait(w).unwrap_or_else(|e| e.into_inner());
            }
            if w.files.is_empty() {
                return;
            }
            std::mem::take(&mut w.files)
        };
        for f in &files {
            sync(s, name, f);
        }
    }
}

fn sync(s: &Shared, name: &str, f: &File) {
    match f.sync_data() {
        Ok(()) => s.done.fetch_add(1, Ordering::Relaxed),
        Err(e) => {
            crate::warn!("{name}: fdatasync failed: {e}");
            s.failed.fetch_add(1, Ordering::Relaxed)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Polls `done` (the syncer works on its own thread) for up to 10 s.
    fn wait_until(done: impl Fn() -> bool, what: &str) {
        let t = Instant::now();
        while !done() {
            assert!(t.elapsed() < Duration::from_secs(10), "{what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn syncs_on_its_thread_and_finishes_before_it_is_dropped() {
        let path = std::env::temp_dir().join(format!("sockwatch-syncer-{}", std::process::id()));
        let f = Arc::new(File::create(&path).unwrap());
        let s = Syncer::start("test".into()).unwrap();
        s.request(&f);
        wait_until(|| s.counts().0 >= 1, "the sync never ran");
        // Requests for the same file while one is queued are merged; at drop,
        // what was asked is done.
        s.request(&f);
        s.request(&f);
        let shared = s.shared.clone();
        drop(s);
        let (done, failed) =
            (shared.done.load(Ordering::Relaxed), shared.failed.load(Ordering::Relaxed));
        assert!((2..=3).contains(&done), "{done} syncs");
        assert_eq!(failed, 0);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_failed_sync_is_counted() {
        // fdatasync on a pipe fails with EINVAL.
        let (r, _w) = nix::unistd::pipe().unwrap();
        let f = Arc::new(File::from(r));
        let s = Syncer::start("pipe".into()).unwrap();
        s.request(&f);
        wait_until(|| s.counts().1 >= 1, "the failure was not counted");
        assert_eq!(s.counts().0, 0);
    }
}
