//! Folding repeated findings. A container that polls the Docker socket every
//! second would otherwise write a finding every second; an operator needs the
//! first one at once, and then how many more there were.
//!
//! Findings with the same container, executable, socket and outcome fold within
//! a window. The first is emitted at once with `count: 1`. The others are only
//! counted; when the window closes, one summary finding (the latest of them, with
//! `count` = how many) is emitted, and the next occurrence opens a new window. So
//! the counts of all emitted findings add up exactly to the events seen.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::finding::{Finding, Outcome};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    signature: &'static str,
    container: Option<String>,
    /// For containers without an id (unknown runtime), their namespaces tell them
    /// apart.
    namespaces: Option<(u64, u64)>,
    exe: Option<String>,
    exe_hex: Option<String>,
    socket: String,
    outcome: Outcome,
}

struct Window {
    closes: Instant,
    /// The latest folded finding, and how many were folded.
    latest: Option<Finding>,
    folded: u64,
}

pub struct Dedup {
    window: Duration,
    open: HashMap<Key, Window>,
}

impl Dedup {
    /// A zero window turns folding off.
    pub fn new(window: Duration) -> Dedup {
        Dedup { window, open: HashMap::new() }
    }

    /// Offers a finding seen at `now`; what is to be emitted now goes to `out`.
    pub fn offer(&mut self, f: Finding, now: Instant, out: &mut Vec<Finding>) {
        if self.window.is_zero() {
            out.push(f);
            return;
        }
        let key = Key {
            signature: f.signature.id,
            container: f.container.id.clone(),
            namespaces: f.container.namespaces.as_ref().map(|n| (n.mnt, n.pid)),
            exe: f.process.exe.clone(),
            exe_hex: f.process.exe_hex.clone(),
            socket: f.socket.watched.clone(),
            outcome: f.outcome.clone(),
        };
        let fresh = Window { closes: now + self.window, latest: None, folded: 0 };
        match self.open.get_mut(&key) {
            Some(w) if now < w.closes => {
                w.folded += f.count;
                w.latest = Some(f);
            }
            Some(w) => {
                // Closed but not expired yet: its summary is still owed.
                if let Some(mut owed) = w.latest.take() {
                    owed.set_count(w.folded);
                    out.push(owed);
                }
                *w = fresh;
                out.push(f);
            }
            None => {
                self.open.insert(key, fresh);
                out.push(f);
            }
        }
    }

    /// Summaries of the windows that have closed by `now`.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<Finding>) {
        self.open.retain(|_, w| {
            if now < w.closes {
                return true;
            }
            if let Some(mut f) = w.latest.take() {
                f.set_count(w.folded);
                out.push(f);
            }
            false
        });
    }

    /// Every summary still owed (at shutdown).
    pub fn flush(&mut self, out: &mut Vec<Finding>) {
        for (_, w) in self.open.drain() {
            if let Some(mut f) = w.latest {
                f.set_count(w.folded);
                out.push(f);
            }
        }
    }

    /// When the next window closes; `None` when none is open (no timer needed).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.open.values().map(|w| w.closes).min()
    }
}

#[cfg(test)]
mod tests {
    use super::super::finding::tests::sample;
    use super::*;

    fn with(exe: &str, errno: Option<&str>) -> Finding {
        let mut f = sample();
        f.process.exe = Some(exe.into());
        f.process.exe_hex = None;
        f.outcome = Outcome { success: errno.is_none(), errno: errno.map(Into::into) };
        f
    }

    #[test]
    fn first_at_once_then_one_summary_and_counts_add_up() {
        let t0 = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(10));
        let mut emitted = Vec::new();
        let mut seen = 0;
        for i in 0..25u64 {
            seen += 1;
            let exe = if i % 5 == 0 { "/usr/bin/curl" } else { "/usr/bin/docker" };
            d.offer(with(exe, None), t0 + Duration::from_millis(i * 100), &mut emitted);
        }
        // A failed connect is a different outcome: its own window.
        seen += 1;
        d.offer(with("/usr/bin/docker", Some("EACCES")), t0, &mut emitted);
        assert_eq!(emitted.len(), 3, "the first of each key at once");
        assert!(emitted.iter().all(|f| f.count == 1));
        assert_eq!(d.next_deadline(), Some(t0 + Duration::from_secs(10)));
        d.expire(t0 + Duration::from_millis(9_999), &mut emitted);
        assert_eq!(emitted.len(), 3);
        d.expire(t0 + Duration::from_millis(10_100), &mut emitted);
        assert_eq!(
            emitted.len(),
            5,
            "a summary each for docker and curl; none for the single EACCES"
        );
        assert_eq!(emitted.iter().map(|f| f.count).sum::<u64>(), seen);
        assert_eq!(d.next_deadline(), None);
        // After the window, the next one is emitted at once again.
        d.offer(with("/usr/bin/docker", None), t0 + Duration::from_secs(11), &mut emitted);
        assert_eq!(emitted.len(), 6);
        d.flush(&mut emitted);
        assert_eq!(emitted.iter().map(|f| f.count).sum::<u64>(), seen + 1);
    }

    #[test]
    fn a_closed_window_not_yet_expired_still_reports_its_summary() {
        let t0 = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(1));
        let mut out = Vec::new();
        d.offer(with("/x", None), t0, &mut out);
        d.offer(with("/x", None), t0 + Duration::from_millis(500), &mut out);
        d.offer(with("/x", None), t0 + Duration::from_millis(700), &mut out);
        // Offered after the window closed, before anyone expired it.
        d.offer(with("/x", None), t0 + Duration::from_secs(2), &mut out);
        assert_eq!(out.iter().map(|f| f.count).collect::<Vec<_>>(), [1, 2, 1]);
    }

    #[test]
    fn unknown_containers_fold_only_with_themselves() {
        use super::super::finding::NamespaceIds;
        let t0 = Instant::now();
        let mut d = Dedup::new(Duration::from_secs(10));
        let mut out = Vec::new();
        for mnt in [1, 2, 1] {
            let mut f = with("/x", None);
            f.container.id = None;
            f.container.namespaces = Some(NamespaceIds { mnt, pid: 9 });
            d.offer(f, t0, &mut out);
        }
        assert_eq!(out.len(), 2, "two unknown containers, each reported at once");
    }

    #[test]
    fn zero_window_disables() {
        let mut d = Dedup::new(Duration::ZERO);
        let t0 = Instant::now();
        let mut out = Vec::new();
        (0..5).for_each(|_| d.offer(with("/x", None), t0, &mut out));
        assert_eq!(out.len(), 5);
        assert_eq!(d.next_deadline(), None);
    }
}
