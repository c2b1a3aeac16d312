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
        if let Some(pid) = pid {
            if self.tracking {
                if let Some((origin, t, p)) = self.recent.get(&pid) {
                    if *p == ppid && at >= *t && at - *t < REUSE_SECS {
                        return origin.clone();
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
                return origin;
            }
            if let Some(c) = self.cache.get(&pid) {
                return found(c.clone(), By::Cache);
            }
        }
        // The process is gone (or exiting, or its pid reused): climb, from the
        // record's ppid (the parent at the time of the connect), then through the
        // fork table.
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
                Seen::Host => match view.exe(a) {
                    Exe::Trusted(exe) if exe_kind(std::slice::from_ref(&exe)) != ExeKind::Other => {
                        // A runtime's own process, installed on the host: its command
                        // line can be believed, with argv[0] replaced by the program.
                        let mut argv = view.cmdline(a).unwrap_or_default();
                        match argv.first_mut() {
                            Some(first) => *first = exe,
                            None => argv.push(exe),
                        }
                        if let Some(c) = monitored_container(&argv) {
                            return found(c, By::Monitor);
                        }
                        // A Kubernetes pod's shared shim does not say which container;
                        // runc or crun between the monitor and the process: go up.
                        match exe_kind(&argv) {
                            ExeKind::Monitor => {
                                return Origin::Unknown {
                                    namespaces: None,
                                    why: Unproven::SharedMonitor,
                                };
                            }
                            // The monitor or runtime in between is gone: the
                            // daemon that started it cannot say whether the client
                            // ran in a container.
                            ExeKind::Launcher => {
                                return Origin::Unknown {
                                    namespaces: None,
                                    why: Unproven::Launcher,
                                };
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
                            || view
                                .cmdline(a)
                                .is_some_and(|argv| exe_kind(&argv) != ExeKind::Other) =>
                    {
                        return Origin::Unknown {
                            namespaces: None,
                            why: Unproven::UnverifiedMonitor,
                        };
                    }
                    // A plain host process started it: what held for the parent held
                    // for the child (cgroup and namespaces are inherited), unless the
                    // child entered others, which can no longer be checked.
                    Exe::Trusted(_) | Exe::Untrusted(_) => return Origin::Host,
                },
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

#[cfg(test)]
mod tests {
    use super::super::cgroup::Runtime;
    use super::*;

    const ID: &str = "f31fb7b9b844b23cba450801d322d8329ff9d2799ea13ee693eec09e73ea8871";
    const OTHER: &str = "0000000000000000000000000000000000000000000000000000000000000001";
    const HOST_NS: Namespaces = Namespaces { mnt: 1, pid: 2 };

    /// A process as the fake /proc shows it.
    struct P {
        cgroup: String,
        cmdline: String,
        ns: Option<Namespaces>,
        started: f64,
        trusted: bool,
        /// The program, when it is not argv[0].
        exe: Option<String>,
    }

    struct Fake {
        procs: HashMap<u32, P>,
        host: HostNamespaces,
    }

    impl Default for Fake {
        fn default() -> Fake {
            Fake {
                procs: HashMap::new(),
                host: HostNamespaces { mnt: Some(HOST_NS.mnt), pid: Some(HOST_NS.pid) },
            }
        }
    }

    /// Events happen at t=1000; processes started at t=10 unless said otherwise.
    const AT: f64 = 1000.0;

    impl Fake {
        /// A process; in a container's namespaces when its cgroup names one, else
        /// the host's. Host programs under /usr/bin count as installed binaries.
        fn with(mut self, pid: u32, cgroup: &str, cmdline: &str) -> Self {
            let ns = if container_of(cgroup.as_bytes()).is_some() {
                Namespaces { mnt: 100 + u64::from(pid), pid: 200 }
            } else {
                HOST_NS
            };
            let trusted = ns == HOST_NS && cmdline.starts_with("/usr/bin/");
            self.procs.insert(
                pid,
                P {
                    cgroup: cgroup.into(),
                    cmdline: cmdline.into(),
                    ns: Some(ns),
                    started: 10.0,
                    trusted,
                    exe: None,
                },
            );
            self
        }
        fn ns(mut self, pid: u32, ns: Option<Namespaces>) -> Self {
            self.procs.get_mut(&pid).unwrap().ns = ns;
            self
        }
        fn started(mut self, pid: u32, t: f64) -> Self {
            self.procs.get_mut(&pid).unwrap().started = t;
            self
        }
        fn untrusted(mut self, pid: u32) -> Self {
            self.procs.get_mut(&pid).unwrap().trusted = false;
            self
        }
        /// argv differs from the program (the fake's exe is argv[0] otherwise).
        fn argv(mut self, pid: u32, argv: &str) -> Self {
            let p = self.procs.get_mut(&pid).unwrap();
            p.exe = Some(std::mem::replace(&mut p.cmdline, argv.into()));
            self
        }
        /// No reference showed the host's mount namespace.
        fn no_host_mnt(mut self) -> Self {
            self.host.mnt = None;
            self
        }
    }

    impl ProcView for Fake {
        fn cgroup(&self, pid: u32) -> Option<Vec<u8>> {
            self.procs.get(&pid).map(|p| p.cgroup.as_bytes().to_vec())
        }
        fn cmdline(&self, pid: u32) -> Option<Vec<Vec<u8>>> {
            self.procs
                .get(&pid)
                .map(|p| p.cmdline.split(' ').map(|a| a.as_bytes().to_vec()).collect())
        }
        fn namespaces(&self, pid: u32) -> Option<Namespaces> {
            self.procs.get(&pid).and_then(|p| p.ns)
        }
        fn host_namespaces(&self) -> HostNamespaces {
            self.host
        }
        fn start_time(&self, pid: u32) -> Option<f64> {
            self.procs.get(&pid).map(|p| p.started)
        }
        fn exe(&self, pid: u32) -> Exe {
            let Some(p) = self.procs.get(&pid) else { return Exe::Unreadable };
            let path = p
                .exe
                .clone()
                .unwrap_or_else(|| p.cmdline.split(' ').next().unwrap_or("").into())
                .into_bytes();
            match p {
                p if p.cmdline.is_empty() && p.exe.is_none() => Exe::Unreadable,
                p if p.trusted => Exe::Trusted(path),
                _ => Exe::Untrusted(path),
            }
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
        let foreign = Some(Namespaces { mnt: 7, pid: 8 });
        let runc =
            format!("/usr/bin/runc --root /var/run/docker/runtime-runc/moby exec --detach {ID}");
        #[rustfmt::skip]
        let cases: Vec<Row> = vec![
            ("alive in a container",
                Fake::default().with(10, &in_ctr, "socat"), vec![], Some(10), Some(9), found(docker(ID), By::Pid)),
            ("alive on the host",
                Fake::default().with(10, "0::/user.slice\n", "socat"), vec![], Some(10), Some(9), Origin::Host),
            ("alive, unknown cgroup, foreign namespaces",
                Fake::default().with(10, "0::/custom\n", "x").ns(10, foreign), vec![], Some(10), None,
                Origin::Unknown { namespaces: foreign, why: Unproven::ForeignNamespaces }),
            ("alive, unknown cgroup, only its mount namespace differs (PrivateTmp)",
                Fake::default().with(10, "0::/system.slice/x.service\n", "x").ns(10, Some(Namespaces { mnt: 7, pid: 2 })), vec![], Some(10), None,
                Origin::Host),
            ("a host process in a cgroup named like a container's (a user's own scope)",
                Fake::default().with(10, &format!("0::/user.slice/user-1000.slice/user@1000.service/app.slice/docker-{ID}.scope\n"), "x").ns(10, Some(HOST_NS)),
                vec![], Some(10), Some(9), Origin::Host),
            ("exiting: cgroup still readable, namespaces not; the parent decides",
                Fake::default().with(10, "0::/custom\n", "x").ns(10, None).with(9, "0::/custom\n", "sh").ns(9, foreign), vec![], Some(10), Some(9),
                Origin::Unknown { namespaces: foreign, why: Unproven::ForeignNamespaces }),
            ("its pid reused after the event by a host process: the parent decides",
                Fake::default().with(10, "0::/user.slice\n", "bash").started(10, AT + 1.0).with(9, &in_ctr, "sh"), vec![], Some(10), Some(9),
                found(docker(ID), By::Ppid)),
            ("gone; the record's ppid is a shell in the container",
                Fake::default().with(9, &in_ctr, "sh"), vec![], Some(10), Some(9), found(docker(ID), By::Ppid)),
            ("gone; the ppid is docker's shim (docker exec)",
                Fake::default().with(9, "0::/system.slice/docker.service\n", &shim(ID)), vec![], Some(10), Some(9), found(docker(ID), By::Monitor)),
            ("gone; the ppid claims to be a shim but is no host binary: neither its word nor 'host' holds",
                Fake::default().with(9, "0::/\n", &shim(ID)).untrusted(9), vec![], Some(10), Some(9),
                Origin::Unknown { namespaces: None, why: Unproven::UnverifiedMonitor }),
            ("gone; the ppid runs a shim from outside the system directories (its argv says otherwise)",
                Fake::default().with(9, "0::/\n", "/opt/k3s/bin/containerd-shim-runc-v2").untrusted(9).argv(9, "shim"), vec![], Some(10), Some(9),
                Origin::Unknown { namespaces: None, why: Unproven::UnverifiedMonitor }),
            ("gone; the shim exiting as we look, above it containerd: not proof of a host process",
                Fake::default().with(9, "0::/\n", "").with(5, "0::/system.slice/containerd.service\n", "/usr/bin/containerd"),
                vec![(5, 9)], Some(10), Some(9), Origin::Unknown { namespaces: None, why: Unproven::Launcher }),
            ("gone; ppid gone; the fork table leads to podman (its conmon gone)",
                Fake::default().with(4, "0::/user.slice\n", "/usr/bin/podman run --rm x"), vec![(4, 9)], Some(10), Some(9),
                Origin::Unknown { namespaces: None, why: Unproven::Launcher }),
            ("gone; the ppid is a host program outside the system directories that claims nothing",
                Fake::default().with(9, "0::/user.slice\n", "/home/u/bin/tool").untrusted(9), vec![], Some(10), Some(9), Origin::Host),
            ("the host's mount namespace could not be read: a container-like cgroup in the host's pid namespace is a container",
                Fake::default().with(10, &format!("0::/user.slice/docker-{ID}.scope\n"), "x").ns(10, Some(HOST_NS)).no_host_mnt(),
                vec![], Some(10), Some(9), found(docker(ID), By::Pid)),
            ("the host's mount namespace could not be read: an unknown cgroup in foreign namespaces is unknown",
                Fake::default().with(10, "0::/custom\n", "x").ns(10, Some(Namespaces { mnt: 1, pid: 8 })).no_host_mnt(), vec![], Some(10), None,
                Origin::Unknown { namespaces: Some(Namespaces { mnt: 1, pid: 8 }), why: Unproven::ForeignNamespaces }),
            ("gone; the ppid claims to be a shim from foreign namespaces",
                Fake::default().with(9, "0::/custom\n", &shim(ID)).ns(9, foreign).untrusted(9), vec![], Some(10), Some(9),
                Origin::Unknown { namespaces: foreign, why: Unproven::ForeignNamespaces }),
            ("gone; ppid (runc exec) gone too; the fork table leads to the shim",
                Fake::default().with(5, "0::/\n", &shim(ID)), vec![(5, 9), (9, 10)], Some(10), Some(9), found(docker(ID), By::Monitor)),
            ("gone; ppid is runc exec, alive: its argument names the container",
                Fake::default().with(9, "0::/\n", &runc), vec![(5, 9)], Some(10), Some(9), found(docker(ID), By::Monitor)),
            ("gone; ppid is runc exiting (no exe, no argv): climb past it to the shim",
                Fake::default().with(5, "0::/\n", &shim(ID)).with(9, "0::/\n", ""), vec![(5, 9)], Some(10), Some(9),
                found(docker(ID), By::Monitor)),
            ("gone; ppid is a runc that names nothing: climb past it to the shim",
                Fake::default().with(5, "0::/\n", &shim(ID)).with(9, "0::/\n", "/usr/bin/runc init"), vec![(5, 9)], Some(10), Some(9),
                found(docker(ID), By::Monitor)),
            ("gone; a grandparent shell in the container",
                Fake::default().with(5, &in_ctr, "sh"), vec![(5, 9), (9, 10)], Some(10), Some(9), found(docker(ID), By::Ancestor)),
            ("gone; the ppid is a plain host process",
                Fake::default().with(9, "0::/user.slice\n", "/usr/bin/bash"), vec![], Some(10), Some(9), Origin::Host),
            ("gone; the ppid is in foreign namespaces with an unknown cgroup",
                Fake::default().with(9, "0::/custom\n", "sh").ns(9, foreign), vec![], Some(10), Some(9),
                Origin::Unknown { namespaces: foreign, why: Unproven::ForeignNamespaces }),
            ("gone, and so is everything above",
                Fake::default(), vec![(5, 9)], Some(10), Some(9), Origin::Unknown { namespaces: None, why: Unproven::Gone }),
            ("gone; a k8s shim names the sandbox, not the container: unknown",
                Fake::default().with(9, "0::/\n", &format!("/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id {ID}")), vec![], Some(10), Some(9),
                Origin::Unknown { namespaces: None, why: Unproven::SharedMonitor }),
        ];
        for (name, view, forks, pid, ppid, want) in cases {
            let mut a = Attributor::new(1000, true);
            for (p, c) in forks {
                a.apply(ProcEvent::Fork { parent: p, child: c });
            }
            assert_eq!(a.attribute(pid, ppid, AT, &view), want, "{name}");
        }
    }

    #[test]
    fn forks_inherit_and_reused_pids_do_not() {
        let in_ctr = format!("0::/docker/{ID}\n");
        let mut a = Attributor::new(1000, true);
        // Seen alive once: cached.
        let view = Fake::default().with(20, &in_ctr, "sh");
        assert_eq!(a.attribute(Some(20), Some(1), AT, &view), found(docker(ID), By::Pid));
        // It forks a client that connects and is gone, with the shell, at once.
        a.apply(ProcEvent::Fork { parent: 20, child: 21 });
        let empty = Fake::default();
        assert_eq!(a.attribute(Some(21), Some(20), AT, &empty), found(docker(ID), By::Cache));
        assert_eq!(
            a.attribute(Some(22), Some(20), AT, &empty),
            found(docker(ID), By::Cache),
            "through the cached parent"
        );
        // Pid 21 is reused by a host process: the old answer must not stick.
        a.apply(ProcEvent::Exit { pid: 21 });
        a.apply(ProcEvent::Fork { parent: 1, child: 21 });
        let host = Fake::default().with(21, "0::/user.slice\n", "bash");
        assert_eq!(a.attribute(Some(21), Some(1), AT, &host), Origin::Host);
        let later = AT + REUSE_SECS;
        assert_eq!(
            a.attribute(Some(21), Some(1), later, &empty),
            Origin::Unknown { namespaces: None, why: Unproven::Gone }
        );
        // The shell's pid now shows another container's process: /proc wins over
        // the cache, for the pid and for an ancestor alike.
        let other = Fake::default().with(20, &format!("0::/docker/{OTHER}\n"), "x");
        assert_eq!(a.attribute(Some(20), Some(1), later, &other), found(docker(OTHER), By::Pid));
        let mut b = Attributor::new(1000, true);
        b.attribute(Some(30), Some(1), AT, &Fake::default().with(30, &in_ctr, "sh"));
        assert_eq!(
            b.attribute(
                Some(31),
                Some(30),
                AT,
                &Fake::default().with(30, &format!("0::/docker/{OTHER}\n"), "sh")
            ),
            found(docker(OTHER), By::Ppid)
        );
    }

    #[test]
    fn a_pid_read_recently_is_not_read_again_until_something_says_it_changed() {
        let in_ctr = format!("0::/docker/{ID}\n");
        let view = Fake::default().with(20, &in_ctr, "client");
        let gone = Fake::default();
        let mut a = Attributor::new(1000, true);
        assert_eq!(a.attribute(Some(20), Some(5), AT, &view), found(docker(ID), By::Pid));
        // Connects in a loop: the first read stands, /proc is not asked again.
        assert_eq!(a.attribute(Some(20), Some(5), AT + 0.5, &gone), found(docker(ID), By::Pid));
        // Not once the window has passed, nor for another parent (a reused pid),
        // nor after the pid's exit or a fork that reuses it.
        assert_eq!(
            a.attribute(Some(20), Some(5), AT + REUSE_SECS, &gone),
            found(docker(ID), By::Cache)
        );
        let mut b = Attributor::new(1000, true);
        b.attribute(Some(20), Some(5), AT, &view);
        assert_eq!(
            b.attribute(
                Some(20),
                Some(6),
                AT,
                &Fake::default().with(20, "0::/user.slice\n", "bash")
            ),
            Origin::Host
        );
        // "Host" is never reused: a host process that enters a container's
        // namespaces is seen doing so at its next connect.
        let foreign = Some(Namespaces { mnt: 7, pid: 8 });
        assert_eq!(
            b.attribute(
                Some(20),
                Some(6),
                AT,
                &Fake::default().with(20, "0::/user.slice\n", "bash").ns(20, foreign)
            ),
            Origin::Unknown { namespaces: foreign, why: Unproven::ForeignNamespaces }
        );
        for ev in [
            ProcEvent::Exit { pid: 20 },
            ProcEvent::Fork { parent: 1, child: 20 },
            ProcEvent::Exec { pid: 20 },
        ] {
            let mut c = Attributor::new(1000, true);
            c.attribute(Some(20), Some(5), AT, &view);
            c.apply(ev);
            assert_eq!(
                c.attribute(
                    Some(20),
                    Some(5),
                    AT,
                    &Fake::default().with(20, "0::/user.slice\n", "bash")
                ),
                Origin::Host,
                "{ev:?}"
            );
        }
        // Without process events nothing would say the pid changed: no reuse.
        let mut d = Attributor::new(1000, true);
        d.tracking = false;
        d.attribute(Some(20), Some(5), AT, &view);
        assert_eq!(
            d.attribute(
                Some(20),
                Some(5),
                AT,
                &Fake::default().with(20, "0::/user.slice\n", "bash")
            ),
            Origin::Host
        );
    }

    #[test]
    fn without_process_events_nothing_is_cached_and_reset_forgets() {
        let in_ctr = format!("0::/docker/{ID}\n");
        let mut a = Attributor::new(1000, true);
        a.tracking = false;
        a.attribute(Some(20), Some(1), AT, &Fake::default().with(20, &in_ctr, "sh"));
        assert_eq!(
            a.attribute(Some(20), Some(1), AT, &Fake::default()),
            Origin::Unknown { namespaces: None, why: Unproven::Gone }
        );
        let mut b = Attributor::new(1000, true);
        b.attribute(Some(20), Some(1), AT, &Fake::default().with(20, &in_ctr, "sh"));
        b.apply(ProcEvent::Fork { parent: 5, child: 9 });
        b.reset();
        assert_eq!(
            b.attribute(Some(20), Some(1), AT, &Fake::default()),
            Origin::Unknown { namespaces: None, why: Unproven::Gone }
        );
        assert_eq!(b.lineage.parent(9), None);
    }

    #[test]
    fn cache_is_bounded() {
        let mut a = Attributor::new(4, true);
        let view = Fake::default().with(1, &format!("0::/docker/{ID}\n"), "sh");
        a.attribute(Some(1), None, AT, &view);
        for child in 2..1000 {
            a.apply(ProcEvent::Fork { parent: 1, child });
        }
        assert!(a.cache.len() <= 4);
        assert!(a.order.len() <= 9);
    }

    #[test]
    fn namespace_fallback_can_be_turned_off() {
        let view = Fake::default()
            .with(10, "0::/custom\n", "x")
            .ns(10, Some(Namespaces { mnt: 7, pid: 8 }));
        assert_eq!(Attributor::new(10, false).attribute(Some(10), None, AT, &view), Origin::Host);
    }
}
