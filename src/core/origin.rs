//! Which container a process belongs to, decided from what /proc still shows
//! about it and its ancestors. The walk is pure: /proc is reached through the
//! `ProcView` trait, so the race cases (process gone, parent gone, pid reused by a
//! fork) are tested with a fake.
//!
//! The rule is never to guess: a process is attributed to a container only by its
//! own cgroup, a cached result for that very pid, an ancestor's cgroup, or the
//! command line of the runtime monitor that started it. When none of those is
//! left, the answer is `Unknown`.

use std::collections::{HashMap, VecDeque};

use super::cgroup::{container_of, Container};
use super::lineage::{Lineage, ProcEvent};
use super::runtime_state::{monitored_container, Meta};

/// Where the connecting process lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Container(Attribution),
    Host,
    /// In a container that cannot be named: its cgroup names no known runtime but
    /// its namespaces are not the host's (`namespaces` says which), or the process
    /// and every ancestor worth reading were gone.
    Unknown { namespaces: Option<Namespaces> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub container: Container,
    pub by: By,
    /// Name, image and labels, filled in by the I/O side from the runtime's state.
    pub meta: Option<Meta>,
}

/// How the container was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The process's own cgroup.
    Pid,
    /// sockwatch had already attributed this pid (or its parent at fork time).
    Cache,
    /// The parent named in the audit record, the process itself having exited.
    Ppid,
    /// A living ancestor further up.
    Ancestor,
    /// The runtime's monitor (containerd shim, conmon) that started it.
    Monitor,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Pid => "pid",
            By::Cache => "cache",
            By::Ppid => "ppid",
            By::Ancestor => "ancestor",
            By::Monitor => "monitor",
        }
    }
}

/// The inode numbers of a process's mount and pid namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespaces {
    pub mnt: u64,
    pub pid: u64,
}

/// What the walk needs to know about live processes. `None` means gone (or
/// unreadable, which is treated the same).
pub trait ProcView {
    fn cgroup(&self, pid: u32) -> Option<Vec<u8>>;
    fn cmdline(&self, pid: u32) -> Option<Vec<Vec<u8>>>;
    fn namespaces(&self, pid: u32) -> Option<Namespaces>;
    /// The host's namespaces (sockwatch's own).
    fn host_namespaces(&self) -> Option<Namespaces>;
}

/// Ancestors climbed at most; a container's process tree is shallow.
const MAX_DEPTH: usize = 32;

/// Remembers, for recent pids, the container they were found in, and follows
/// forks: a child starts in its parent's cgroup. Fed by the same process events as
/// `Lineage`, bounded, oldest first out.
pub struct Attributor {
    pub lineage: Lineage,
    cache: HashMap<u32, Container>,
    order: VecDeque<u32>,
    capacity: usize,
    /// Report processes in foreign namespaces with an unknown cgroup (on by default).
    pub namespace_fallback: bool,
}

impl Attributor {
    pub fn new(capacity: usize, namespace_fallback: bool) -> Attributor {
        Attributor {
            lineage: Lineage::new(capacity),
            cache: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            namespace_fallback,
        }
    }

    pub fn apply(&mut self, ev: ProcEvent) {
        if let ProcEvent::Fork { parent, child } = ev {
            // A reused pid must not inherit what was known of the old process.
            self.cache.remove(&child);
            if let Some(c) = self.cache.get(&parent).cloned() {
                self.remember(child, c);
            }
        }
        self.lineage.apply(ev);
    }

    fn remember(&mut self, pid: u32, c: Container) {
        if self.cache.insert(pid, c).is_none() {
            self.order.push_back(pid);
            while self.cache.len() > self.capacity {
                match self.order.pop_front() {
                    Some(old) => {
                        self.cache.remove(&old);
                    }
                    None => break,
                }
            }
        }
        if self.order.len() > 2 * self.capacity {
            let cache = &self.cache;
            self.order.retain(|p| cache.contains_key(p));
        }
    }

    /// Decides where `pid` (with `ppid` from the audit record) lives.
    pub fn attribute(&mut self, pid: Option<u32>, ppid: Option<u32>, view: &impl ProcView) -> Origin {
        if let Some(pid) = pid {
            if let Some(text) = view.cgroup(pid) {
                if let Some(c) = container_of(&text) {
                    self.remember(pid, c.clone());
                    return Origin::Container(Attribution { container: c, by: By::Pid, meta: None });
                }
                // None: exiting as we looked; what its ancestors say is all there is.
                if let Some(o) = self.by_namespaces(pid, view) {
                    return o;
                }
            }
            if let Some(c) = self.cache.get(&pid) {
                return Origin::Container(Attribution { container: c.clone(), by: By::Cache, meta: None });
            }
        }
        // The process is gone: climb, from the record's ppid (the parent at the time
        // of the connect), then through the fork table.
        let mut next = ppid.filter(|&p| p > 0).or_else(|| pid.and_then(|p| self.lineage.parent(p)));
        let mut by = By::Ppid;
        for _ in 0..MAX_DEPTH {
            let Some(a) = next else { break };
            if let Some(c) = self.cache.get(&a) {
                return Origin::Container(Attribution { container: c.clone(), by, meta: None });
            }
            if let Some(text) = view.cgroup(a) {
                if let Some(c) = container_of(&text) {
                    self.remember(a, c.clone());
                    return Origin::Container(Attribution { container: c, by, meta: None });
                }
                let argv = view.cmdline(a);
                if let Some(c) = argv.as_deref().and_then(monitored_container) {
                    return Origin::Container(Attribution { container: c, by: By::Monitor, meta: None });
                }
                if is_monitor(argv.as_deref()) {
                    // A monitor whose command line does not say which container
                    // (a Kubernetes pod's shared shim): a container's, unnamed.
                    return Origin::Unknown { namespaces: None };
                }
                if !is_runtime_tool(argv.as_deref()) {
                    // Not a runtime's: what holds for the parent held for the child
                    // (it inherited cgroup and namespaces), unless the child entered
                    // others, which can no longer be checked.
                    if let Some(o) = self.by_namespaces(a, view) {
                        return o;
                    }
                }
            }
            // Gone, or the runtime's own short-lived tool (runc exec): go up.
            next = self.lineage.parent(a).filter(|&p| p > 0 && p != a);
            by = By::Ancestor;
        }
        Origin::Unknown { namespaces: None }
    }

    /// For a process whose cgroup names no container: in a container all the same
    /// when its mount and pid namespaces both differ from the host's. `None` when
    /// its namespaces can no longer be read (an exiting process keeps its cgroup
    /// file a little longer than its namespace links).
    fn by_namespaces(&self, pid: u32, view: &impl ProcView) -> Option<Origin> {
        if !self.namespace_fallback {
            return Some(Origin::Host);
        }
        let ns = view.namespaces(pid)?;
        match view.host_namespaces() {
            Some(host) if ns.mnt != host.mnt && ns.pid != host.pid => Some(Origin::Unknown { namespaces: Some(ns) }),
            _ => Some(Origin::Host),
        }
    }
}

fn base(argv: Option<&[Vec<u8>]>) -> &[u8] {
    let Some(exe) = argv.and_then(|a| a.first()) else { return b"" };
    exe.rsplit(|&b| b == b'/').next().unwrap_or(exe)
}

fn is_monitor(argv: Option<&[Vec<u8>]>) -> bool {
    let b = base(argv);
    b.starts_with(b"containerd-shim") || b == b"conmon"
}

/// runc and crun run briefly on the host to start a process in a container; a
/// process they started belongs to the container, so the walk climbs past them to
/// the monitor that called them.
fn is_runtime_tool(argv: Option<&[Vec<u8>]>) -> bool {
    let b = base(argv);
    matches!(b, b"runc" | b"crun") || b.starts_with(b"runc:[")
}

#[cfg(test)]
mod tests {
    use super::super::cgroup::Runtime;
    use super::*;

    const ID: &str = "f31fb7b9b844b23cba450801d322d8329ff9d2799ea13ee693eec09e73ea8871";
    const OTHER: &str = "0000000000000000000000000000000000000000000000000000000000000001";
    const HOST_NS: Namespaces = Namespaces { mnt: 1, pid: 2 };

    #[derive(Default)]
    struct Fake {
        procs: HashMap<u32, (String, String, Namespaces)>,
    }

    impl Fake {
        fn with(mut self, pid: u32, cgroup: &str, cmdline: &str) -> Self {
            self.procs.insert(pid, (cgroup.into(), cmdline.into(), HOST_NS));
            self
        }
        fn ns(mut self, pid: u32, ns: Namespaces) -> Self {
            self.procs.get_mut(&pid).unwrap().2 = ns;
            self
        }
    }

    impl ProcView for Fake {
        fn cgroup(&self, pid: u32) -> Option<Vec<u8>> {
            self.procs.get(&pid).map(|p| p.0.as_bytes().to_vec())
        }
        fn cmdline(&self, pid: u32) -> Option<Vec<Vec<u8>>> {
            self.procs.get(&pid).map(|p| p.1.split(' ').map(|a| a.as_bytes().to_vec()).collect())
        }
        fn namespaces(&self, pid: u32) -> Option<Namespaces> {
            self.procs.get(&pid).map(|p| p.2).filter(|n| n.mnt != 0)
        }
        fn host_namespaces(&self) -> Option<Namespaces> {
            Some(HOST_NS)
        }
    }

    fn docker(id: &str) -> Container {
        Container { runtime: Runtime::Docker, id: id.into(), pod_uid: None }
    }

    fn found(c: Container, by: By) -> Origin {
        Origin::Container(Attribution { container: c, by, meta: None })
    }

    fn shim(id: &str) -> String {
        format!("/usr/bin/containerd-shim-runc-v2 -namespace moby -id {id} -address /run/x.sock")
    }

    /// (row name, what /proc shows, forks seen, pid, record ppid, expected origin)
    type Row = (&'static str, Fake, Vec<(u32, u32)>, Option<u32>, Option<u32>, Origin);

    #[test]
    fn table() {
        let in_ctr = format!("0::/docker/{ID}\n");
        #[rustfmt::skip]
        let cases: Vec<Row> = vec![
            ("alive in a container",
                Fake::default().with(10, &in_ctr, "socat"), vec![], Some(10), Some(9), found(docker(ID), By::Pid)),
            ("alive on the host",
                Fake::default().with(10, "0::/user.slice\n", "socat"), vec![], Some(10), Some(9), Origin::Host),
            ("alive, unknown cgroup, foreign namespaces",
                Fake::default().with(10, "0::/custom\n", "x").ns(10, Namespaces { mnt: 7, pid: 8 }), vec![], Some(10), None,
                Origin::Unknown { namespaces: Some(Namespaces { mnt: 7, pid: 8 }) }),
            ("alive, unknown cgroup, only its mount namespace differs (PrivateTmp)",
                Fake::default().with(10, "0::/system.slice/x.service\n", "x").ns(10, Namespaces { mnt: 7, pid: 2 }), vec![], Some(10), None,
                Origin::Host),
            ("gone; the record's ppid is a shell in the container",
                Fake::default().with(9, &in_ctr, "sh"), vec![], Some(10), Some(9), found(docker(ID), By::Ppid)),
            ("gone; the ppid is docker's shim (docker exec)",
                Fake::default().with(9, "0::/system.slice/docker.service\n", &shim(ID)), vec![], Some(10), Some(9), found(docker(ID), By::Monitor)),
            ("gone; ppid (runc exec) gone too; the fork table leads to the shim",
                Fake::default().with(5, "0::/\n", &shim(ID)), vec![(5, 9), (9, 10)], Some(10), Some(9), found(docker(ID), By::Monitor)),
            ("gone; ppid is runc, still alive: climb past it to the shim",
                Fake::default().with(5, "0::/\n", &shim(ID)).with(9, "0::/\n", "/usr/bin/runc exec --pid-file x"), vec![(5, 9)], Some(10), Some(9),
                found(docker(ID), By::Monitor)),
            ("gone; a grandparent shell in the container",
                Fake::default().with(5, &in_ctr, "sh"), vec![(5, 9), (9, 10)], Some(10), Some(9), found(docker(ID), By::Ancestor)),
            ("gone; the ppid is a plain host process",
                Fake::default().with(9, "0::/user.slice\n", "bash"), vec![], Some(10), Some(9), Origin::Host),
            ("exiting: cgroup still readable, namespaces not; the parent decides",
                Fake::default().with(10, "0::/custom\n", "x").ns(10, Namespaces { mnt: 0, pid: 0 })
                    .with(9, "0::/custom\n", "sh").ns(9, Namespaces { mnt: 7, pid: 8 }), vec![], Some(10), Some(9),
                Origin::Unknown { namespaces: Some(Namespaces { mnt: 7, pid: 8 }) }),
            ("gone; the ppid is in foreign namespaces with an unknown cgroup",
                Fake::default().with(9, "0::/custom\n", "sh").ns(9, Namespaces { mnt: 7, pid: 8 }), vec![], Some(10), Some(9),
                Origin::Unknown { namespaces: Some(Namespaces { mnt: 7, pid: 8 }) }),
            ("gone, and so is everything above",
                Fake::default(), vec![(5, 9)], Some(10), Some(9), Origin::Unknown { namespaces: None }),
            ("gone; a k8s shim names the sandbox, not the container: unknown",
                Fake::default().with(9, "0::/\n", &format!("/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id {ID}")), vec![], Some(10), Some(9),
                Origin::Unknown { namespaces: None }),
        ];
        for (name, view, forks, pid, ppid, want) in cases {
            let mut a = Attributor::new(1000, true);
            for (p, c) in forks {
                a.apply(ProcEvent::Fork { parent: p, child: c });
            }
            assert_eq!(a.attribute(pid, ppid, &view), want, "{name}");
        }
    }

    #[test]
    fn forks_inherit_and_reused_pids_do_not() {
        let in_ctr = format!("0::/docker/{ID}\n");
        let mut a = Attributor::new(1000, true);
        // Seen alive once: cached.
        let view = Fake::default().with(20, &in_ctr, "sh");
        assert_eq!(a.attribute(Some(20), Some(1), &view), found(docker(ID), By::Pid));
        // It forks a client that connects and is gone, with the shell, at once.
        a.apply(ProcEvent::Fork { parent: 20, child: 21 });
        let empty = Fake::default();
        assert_eq!(a.attribute(Some(21), Some(20), &empty), found(docker(ID), By::Cache));
        assert_eq!(a.attribute(Some(22), Some(20), &empty), found(docker(ID), By::Ppid), "through the cached parent");
        // Pid 21 is reused by a host process: the old answer must not stick.
        a.apply(ProcEvent::Exit { pid: 21 });
        a.apply(ProcEvent::Fork { parent: 1, child: 21 });
        let host = Fake::default().with(21, "0::/user.slice\n", "bash");
        assert_eq!(a.attribute(Some(21), Some(1), &host), Origin::Host);
        assert_eq!(a.attribute(Some(21), Some(1), &empty), Origin::Unknown { namespaces: None });
        // The shell's pid reused by another container's process: its own cgroup wins.
        let other = Fake::default().with(20, &format!("0::/docker/{OTHER}\n"), "x");
        assert_eq!(a.attribute(Some(20), Some(1), &other), found(docker(OTHER), By::Pid));
    }

    #[test]
    fn cache_is_bounded() {
        let mut a = Attributor::new(4, true);
        let view = Fake::default().with(1, &format!("0::/docker/{ID}\n"), "sh");
        a.attribute(Some(1), None, &view);
        for child in 2..1000 {
            a.apply(ProcEvent::Fork { parent: 1, child });
        }
        assert!(a.cache.len() <= 4);
        assert!(a.order.len() <= 9);
    }

    #[test]
    fn namespace_fallback_can_be_turned_off() {
        let view = Fake::default().with(10, "0::/custom\n", "x").ns(10, Namespaces { mnt: 7, pid: 8 });
        assert_eq!(Attributor::new(10, false).attribute(Some(10), None, &view), Origin::Host);
    }
}
