//! Who forked whom, for processes that may already be gone.
//!
//! A client that connects and exits at once is gone before sockwatch reads /proc,
//! and so may its parent be (`runc exec` exits as soon as the process runs). The
//! kernel's process connector reports every fork and exit; this table remembers
//! the parent of each recent process, so the lookup can climb past dead ancestors
//! to a living one (a shell in the container, or the runtime's shim). Bounded:
//! exited processes are forgotten first, oldest first.

use std::collections::{HashMap, VecDeque};

/// A process event from the kernel's process connector (cn_proc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEvent {
    Fork {
        parent: u32,
        child: u32,
    },
    Exit {
        pid: u32,
    },
    /// A new program: what was read of the process before may no longer hold
    /// (runc init joins a container's namespaces, then execs the workload).
    Exec {
        pid: u32,
    },
    /// Anything else (uid changes, threads); ignored.
    Other,
}

const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// Parses one `struct proc_event` (after the netlink and connector headers). Only
/// whole processes count: a thread's fork or exit (pid != tgid) is `Other`.
pub fn parse_proc_event(b: &[u8]) -> Option<ProcEvent> {
    let u32_at = |o: usize| b.get(o..o + 4).map(|s| u32::from_ne_bytes(s.try_into().unwrap()));
    // what, cpu, timestamp_ns, then the event data at offset 16.
    let what = u32_at(0)?;
    Some(match what {
        PROC_EVENT_FORK => {
            let (parent_tgid, child_pid, child_tgid) = (u32_at(20)?, u32_at(24)?, u32_at(28)?);
            if child_pid != child_tgid {
                ProcEvent::Other
            } else {
                ProcEvent::Fork { parent: parent_tgid, child: child_tgid }
            }
        }
        PROC_EVENT_EXEC => ProcEvent::Exec { pid: u32_at(20)? },
        PROC_EVENT_EXIT => {
            let (pid, tgid) = (u32_at(16)?, u32_at(20)?);
            if pid != tgid { ProcEvent::Other } else { ProcEvent::Exit { pid } }
        }
        _ => ProcEvent::Other,
    })
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    parent: u32,
    /// Which fork created this entry, so stale queue slots are recognised.
    generation: u64,
    exited: bool,
}

pub struct Lineage {
    entries: HashMap<u32, Entry>,
    /// Exited processes, oldest first: the first to forget.
    exited: VecDeque<(u32, u64)>,
    /// All entries in fork order, for when nothing has exited yet.
    forks: VecDeque<(u32, u64)>,
    generation: u64,
    capacity: usize,
}

impl Lineage {
    pub fn new(capacity: usize) -> Lineage {
        Lineage {
            entries: HashMap::new(),
            exited: VecDeque::new(),
            forks: VecDeque::new(),
            generation: 0,
            capacity: capacity.max(2),
        }
    }

    pub fn apply(&mut self, ev: ProcEvent) {
        match ev {
            ProcEvent::Fork { parent, child } => self.fork(parent, child),
            ProcEvent::Exit { pid } => self.exit(pid),
            ProcEvent::Exec { .. } | ProcEvent::Other => {}
        }
    }

    /// A new process. A reused pid replaces what was known of the old one.
    pub fn fork(&mut self, parent: u32, child: u32) {
        while self.entries.len() >= self.capacity {
            self.forget_one();
        }
        self.generation += 1;
        self.entries.insert(child, Entry { parent, generation: self.generation, exited: false });
        self.forks.push_back((child, self.generation));
        self.trim_queues();
    }

    pub fn exit(&mut self, pid: u32) {
        if let Some(e) = self.entries.get_mut(&pid) {
            if !e.exited {
                e.exited = true;
                self.exited.push_back((pid, e.generation));
            }
        }
    }

    /// The parent `pid` had when it was forked, if sockwatch saw the fork.
    pub fn parent(&self, pid: u32) -> Option<u32> {
        self.entries.get(&pid).map(|e| e.parent)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn forget_one(&mut self) {
        while let Some((pid, generation)) = self.exited.pop_front() {
            if self.entries.get(&pid).is_some_and(|e| e.generation == generation) {
                self.entries.remove(&pid);
                return;
            }
        }
        while let Some((pid, generation)) = self.forks.pop_front() {
            if self.entries.get(&pid).is_some_and(|e| e.generation == generation) {
                self.entries.remove(&pid);
                return;
            }
        }
    }

    /// Keeps the queues proportional to the table: drop slots of entries that were
    /// replaced or forgotten.
    fn trim_queues(&mut self) {
        if self.forks.len() > 2 * self.capacity {
            let entries = &self.entries;
            self.forks.retain(|(p, g)| entries.get(p).is_some_and(|e| e.generation == *g));
            self.exited
                .retain(|(p, g)| entries.get(p).is_some_and(|e| e.generation == *g && e.exited));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(what: u32, words: &[u32]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&what.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&0u64.to_ne_bytes());
        for w in words {
            b.extend_from_slice(&w.to_ne_bytes());
        }
        b
    }

    #[test]
    fn parses_fork_and_exit_and_ignores_threads() {
        assert_eq!(
            parse_proc_event(&event(1, &[10, 10, 11, 11])),
            Some(ProcEvent::Fork { parent: 10, child: 11 })
        );
        assert_eq!(
            parse_proc_event(&event(1, &[10, 10, 12, 11])),
            Some(ProcEvent::Other),
            "a new thread"
        );
        assert_eq!(
            parse_proc_event(&event(0x8000_0000, &[11, 11, 0, 0, 10, 10])),
            Some(ProcEvent::Exit { pid: 11 })
        );
        assert_eq!(
            parse_proc_event(&event(2, &[11, 11])),
            Some(ProcEvent::Exec { pid: 11 }),
            "exec"
        );
        assert_eq!(parse_proc_event(&event(1, &[10, 10])), None, "truncated");
        assert_eq!(parse_proc_event(&[1, 0]), None);
    }

    #[test]
    fn remembers_parents_of_dead_processes() {
        let mut l = Lineage::new(100);
        l.fork(1, 50); // shim
        l.fork(50, 60); // runc exec
        l.fork(60, 61); // the client
        l.exit(61);
        l.exit(60);
        assert_eq!(l.parent(61), Some(60));
        assert_eq!(l.parent(60), Some(50));
        assert_eq!(l.parent(99), None);
    }

    #[test]
    fn forgets_exited_first_and_stays_bounded() {
        let mut l = Lineage::new(3);
        l.fork(1, 10);
        l.fork(1, 11);
        l.exit(10);
        l.fork(1, 12);
        l.fork(1, 13); // full: 10 (exited) goes
        assert_eq!(l.parent(10), None);
        assert_eq!((l.parent(11), l.parent(12), l.parent(13)), (Some(1), Some(1), Some(1)));
        l.fork(1, 14); // nothing exited: the oldest fork (11) goes
        assert_eq!(l.parent(11), None);
        for i in 0..10_000 {
            l.fork(1, 100 + i);
            if i % 2 == 0 {
                l.exit(100 + i);
            }
        }
        assert_eq!(l.len(), 3);
        assert!(
            l.forks.len() <= 2 * 3 + 1 && l.exited.len() <= 2 * 3 + 1,
            "{} {}",
            l.forks.len(),
            l.exited.len()
        );
    }

    #[test]
    fn a_reused_pid_takes_its_new_parent() {
        let mut l = Lineage::new(10);
        l.fork(5, 7);
        l.exit(7);
        l.fork(6, 7);
        assert_eq!(l.parent(7), Some(6));
        // The stale exit slot of the first 7 must not forget the second.
        l.fork(1, 8);
        l.fork(1, 9);
        for p in 20..28 {
            l.fork(1, p);
        }
        assert!(l.len() <= 10);
    }
}
