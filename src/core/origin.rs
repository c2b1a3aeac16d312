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

use super::cgroup::{Container, Runtime, container_of};
use super::lineage::{Lineage, ProcEvent};
use super::runtime_state::{ExeKind, Meta, exe_kind, monitored_container};

/// Where the connecting process lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Container(Attribution),
    Host,
    /// Not proven to be a host process, and no container can be named: reported
    /// all the same. `namespaces` are the process's own when they could be read;
    /// `why` says what could not be proven.
    Unknown {
        namespaces: Option<Namespaces>,
        why: Unproven,
    },
}

/// Why a connect's origin is `Unknown`: what sockwatch could not prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unproven {
    /// Its cgroup names no container runtime, and its namespaces are not the host's.
    ForeignNamespaces,
    /// The process was gone, and so was every ancestor that could have told.
    Gone,
    /// Started by a monitor that looks after several containers (a Kubernetes
    /// pod's shim names the sandbox, not the container).
    SharedMonitor,
    /// Started by a process that calls itself a container runtime, but whose
    /// program is not a root-owned binary installed on the host.
    UnverifiedMonitor,
    /// The nearest living ancestor is a runtime's daemon or launcher (dockerd,
    /// containerd, podman, ...): the monitor in between is gone.
    Launcher,
    /// `sockwatch scan`: audit records alone never say.
    Offline,
}

impl Unproven {
    /// The finding's `container.note`.
    pub fn note(self) -> &'static str {
        match self {
            Unproven::ForeignNamespaces => {
                "its cgroup names no known container runtime and its namespaces are not the host's"
            }
            Unproven::Gone => {
                "the process had exited and no ancestor that could still be read showed where it ran"
            }
            Unproven::SharedMonitor => {
                "started by a runtime monitor shared by several containers (a pod's shim), which does not say which one"
            }
            Unproven::UnverifiedMonitor => {
                "started by a process that calls itself a container runtime but is not a root-owned program installed on the host"
            }
            Unproven::Launcher => {
                "the process had exited and its nearest living ancestor is a container runtime, which does not say where it ran"
            }
            Unproven::Offline => {
                "offline scan: audit records do not say which container a process was in"
            }
        }
    }
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
    /// sockwatch had attributed this pid before (or its parent, when it forked),
    /// and /proc no longer shows it.
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

/// The host's namespaces, as far as a reference process showed them (see
/// `io::proc::host_reference`). sockwatch's own are no reference: the packaged
/// unit gives it a private mount namespace. A namespace that could not be read is
/// `None`, and then nothing counts as being in it: fail closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostNamespaces {
    pub mnt: Option<u64>,
    pub pid: Option<u64>,
}

/// What the walk needs to know about live processes. `None` means gone (or
/// unreadable, which is treated the same).
pub trait ProcView {
    fn cgroup(&self, pid: u32) -> Option<Vec<u8>>;
    fn cmdline(&self, pid: u32) -> Option<Vec<Vec<u8>>>;
    fn namespaces(&self, pid: u32) -> Option<Namespaces>;
    /// The host's namespaces, from a reference process, never sockwatch's own.
    fn host_namespaces(&self) -> HostNamespaces;
    /// When the process started, as Unix time, to tell a reused pid.
    fn start_time(&self, pid: u32) -> Option<f64>;
    /// The program the process runs, and whether the host vouches for it: a
    /// root-owned binary in the host's system directories, run in the host's mount
    /// namespace. argv[0] proves nothing (a container's process, or a user's
    /// `exec -a`, can say anything).
    fn exe(&self, pid: u32) -> Exe;
}

/// Ancestors climbed at most; a container's process tree is shallow.
const MAX_DEPTH: usize = 32;

/// How long, in seconds of event time, what /proc said of a pid is reused for its
/// next connects. A client in a loop would otherwise cost four /proc reads per
/// connect, which at 45k connects/s is most of sockwatch's time (bench/live.sh).
/// Reuse needs process events (a fork, exec or exit of the pid drops the entry)
/// and the same parent as before, so a reused pid is read afresh. Only a
/// container's answer is reused, never "host": a host process that enters a
/// container's namespaces is read again at its next connect, while a container
/// process that moves without exec is seen at most this late, and is reported
/// either way.
pub const REUSE_SECS: f64 = 1.0;

/// Remembers, for recent pids, the container they were found in, and follows
/// forks: a child starts in its parent's cgroup. Fed by the same process events as
/// `Lineage`, bounded, oldest first out.
pub struct Attributor {
    lineage: Lineage,
    cache: HashMap<u32, Container>,
    order: VecDeque<u32>,
    capacity: usize,
    /// Report processes in foreign namespaces with an unknown cgroup (on by default).
    pub namespace_fallback: bool,
    /// Whether process events are coming in. Without them nothing would ever clear
    /// a cache entry whose pid is reused, so nothing is cached.
    pub tracking: bool,
    /// pid -> (what reading it decided, the event time, the ppid then).
    recent: HashMap<u32, (Origin, f64, Option<u32>)>,
}

impl Attributor {
    pub fn new(capacity: usize, namespace_fallback: bool) -> Attributor {
        Attributor {
            lineage: Lineage::new(capacity),
            cache: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            namespace_fallback,
            tracking: true,
            recent: HashMap::new(),
        }
    }

    pub fn apply(&mut self, ev: ProcEvent) {
        match ev {
            ProcEvent::Fork { child: pid, .. }
            | ProcEvent::Exit { pid }
            | ProcEvent::Exec { pid } => {
                self.recent.remove(&pid);
            }
            ProcEvent::Other => {}
        }
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
        if !self.tracking {
            return;
        }
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

    /// Forgets everything learnt from process events: after events were lost, a
    /// pid's entry may describe a process that has since been replaced.
    pub fn reset(&mut self) {
        self.recent.clear();
        self.cache.clear();
        self.order.clear();
        self.lineage = Lineage::new(self.capacity);
    }

    /// Decides where `pid` (with `ppid` from the audit record) lived at `at`, the
    /// event's Unix time. /proc is read first, always; the cache speaks only for
    /// pids that can no longer be read.
    pub fn attribute(
        &mut self,
        pid: Option<u32>,
        ppid: Option<u32>,
        at: f64,
        view: &impl ProcView,
    ) -> Origin {
        if let Some(origin) = pid.and_then(|pid| self.of_pid(pid, ppid, at, view)) {
            return origin;
        }
        self.climb(pid, ppid, at, view)
    }

    /// The process itself, while /proc (or the cache, once it is gone) can tell.
    fn of_pid(
        &mut self,
        pid: u32,
        ppid: Option<u32>,
        at: f64,
        view: &impl ProcView,
    ) -> Option<Origin> {
        if self.tracking {
            if let Some((origin, t, p)) = self.recent.get(&pid) {
                if *p == ppid && at >= *t && at - *t < REUSE_SECS {
                    return Some(origin.clone());
                }
            }
        }
        let direct = match self.read(pid, at, view) {
            Seen::Container(c) => {
                self.remember(pid, c.clone());
                Some(found(c, By::Pid))
            }
            Seen::Host => Some(Origin::Host),
            Seen::Unknown(ns) => {
                Some(Origin::Unknown { namespaces: Some(ns), why: Unproven::ForeignNamespaces })
            }
            Seen::Unreadable => None,
        };
        if let Some(origin) = direct {
            if self.tracking && origin != Origin::Host {
                if self.recent.len() >= self.capacity {
                    self.recent.clear();
                }
                self.recent.insert(pid, (origin.clone(), at, ppid));
            }
            return Some(origin);
        }
        self.cache.get(&pid).map(|c| found(c.clone(), By::Cache))
    }

    /// The process is gone (or exiting, or its pid reused): climb, from the
    /// record's ppid (the parent at the time of the connect), then through the
    /// fork table.
    fn climb(
        &mut self,
        pid: Option<u32>,
        ppid: Option<u32>,
        at: f64,
        view: &impl ProcView,
    ) -> Origin {
        let mut next = ppid.filter(|&p| p > 0).or_else(|| pid.and_then(|p| self.lineage.parent(p)));
        let mut by = By::Ppid;
        for _ in 0..MAX_DEPTH {
            let Some(a) = next else { break };
            match self.read(a, at, view) {
                Seen::Container(c) => {
                    self.remember(a, c.clone());
                    return found(c, by);
                }
                Seen::Unknown(ns) => {
                    return Origin::Unknown {
                        namespaces: Some(ns),
                        why: Unproven::ForeignNamespaces,
                    };
                }
                Seen::Host => {
                    if let Some(origin) = host_ancestor(a, view) {
                        return origin;
                    }
                }
                Seen::Unreadable => {
                    if let Some(c) = self.cache.get(&a) {
                        return found(c.clone(), By::Cache);
                    }
                }
            }
            next = self.lineage.parent(a).filter(|&p| p > 0 && p != a);
            by = By::Ancestor;
        }
        Origin::Unknown { namespaces: None, why: Unproven::Gone }
    }

    /// What /proc says of `pid` as it was at `at`.
    fn read(&self, pid: u32, at: f64, view: &impl ProcView) -> Seen {
        let Some(text) = view.cgroup(pid) else { return Seen::Unreadable };
        // Started after the event: the pid was reused; the process we want is gone.
        if view.start_time(pid).is_none_or(|t| t > at + START_SLACK) {
            return Seen::Unreadable;
        }
        // An exiting process keeps its cgroup file a little longer than its
        // namespace links; without them nothing below can be checked.
        let Some(ns) = view.namespaces(pid) else { return Seen::Unreadable };
        // Only a namespace proven to be the host's counts as the host's.
        let host = view.host_namespaces();
        let host_mnt = host.mnt == Some(ns.mnt);
        let host_pid = host.pid == Some(ns.pid);
        if let Some(c) = container_of(&text) {
            // Every container runtime gives a container its own mount namespace (and
            // LXC and nspawn their own pid namespace). A container-like cgroup on a
            // process without them is a host process in a cgroup that anyone may
            // name (a user's systemd scope, say), or a runtime's helper: not a
            // container.
            let by_name = matches!(c.runtime, Runtime::Lxc | Runtime::Nspawn);
            if !(host_mnt || by_name && host_pid) {
                return Seen::Container(c);
            }
            return Seen::Host;
        }
        if self.namespace_fallback && !host_mnt && !host_pid {
            return Seen::Unknown(ns);
        }
        Seen::Host
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exe {
    Trusted(Vec<u8>),
    /// Any other program, with its path as the process's mount namespace shows it.
    Untrusted(Vec<u8>),
    /// No longer readable: the process is exiting.
    Unreadable,
}

/// The clock granularity of a process's start time (clock ticks, 10 ms) and of the
/// audit stamp (1 ms), with room for clock slew.
const START_SLACK: f64 = 0.05;

enum Seen {
    Container(Container),
    Host,
    Unknown(Namespaces),
    /// Gone, exiting, or its pid reused since the event.
    Unreadable,
}

fn found(container: Container, by: By) -> Origin {
    Origin::Container(Attribution { container, by, meta: None })
}

/// An ancestor in the host's cgroup and namespaces: a runtime's own monitor
/// names the container; `None`: go on up (a runtime tool, or exiting as we
/// looked).
fn host_ancestor(a: u32, view: &impl ProcView) -> Option<Origin> {
    match view.exe(a) {
        Exe::Trusted(exe) if exe_kind(std::slice::from_ref(&exe)) != ExeKind::Other => {
            // A runtime's own process, installed on the host: its command
            // line can be believed, with argv[0] replaced by the program.
            let mut argv = view.cmdline(a).unwrap_or_default();
            match argv.first_mut() {
                Some(first) => *first = exe,
                None => argv.push(exe),
            }
            if let Some(c) = monitored_container(&argv) {
                return Some(found(c, By::Monitor));
            }
            // A Kubernetes pod's shared shim does not say which container;
            // runc or crun between the monitor and the process: go up.
            match exe_kind(&argv) {
                ExeKind::Monitor => {
                    return Some(Origin::Unknown {
                        namespaces: None,
                        why: Unproven::SharedMonitor,
                    });
                }
                // The monitor or runtime in between is gone: the
                // daemon that started it cannot say whether the client
                // ran in a container.
                ExeKind::Launcher => {
                    return Some(Origin::Unknown { namespaces: None, why: Unproven::Launcher });
                }
                ExeKind::RuntimeTool | ExeKind::Other => {}
            }
        }
        // Exiting as we looked (runc exec, typically): go up.
        Exe::Unreadable => {}
        // It claims to be a runtime (by its program's name or its argv)
        // but the host does not vouch for the program: neither its word
        // about the container nor "host" can be believed.
        Exe::Untrusted(exe)
            if exe_kind(std::slice::from_ref(&exe)) != ExeKind::Other
                || view.cmdline(a).is_some_and(|argv| exe_kind(&argv) != ExeKind::Other) =>
        {
            return Some(Origin::Unknown { namespaces: None, why: Unproven::UnverifiedMonitor });
        }
        // A plain host process started it: what held for the parent held
        // for the child (cgroup and namespaces are inherited), unless the
        // child entered others, which can no longer be checked.
        Exe::Trusted(_) | Exe::Untrusted(_) => return Some(Origin::Host),
    }
    None
}

#[cfg(test)]
mod tests;
