//! The attribution walk against a simulated /proc.
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
        self.procs.get(&pid).map(|p| p.cmdline.split(' ').map(|a| a.as_bytes().to_vec()).collect())
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
    let runc = format!("/usr/bin/runc --root /var/run/docker/runtime-runc/moby exec --detach {ID}");
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
        b.attribute(Some(20), Some(6), AT, &Fake::default().with(20, "0::/user.slice\n", "bash")),
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
        d.attribute(Some(20), Some(5), AT, &Fake::default().with(20, "0::/user.slice\n", "bash")),
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
    let view =
        Fake::default().with(10, "0::/custom\n", "x").ns(10, Some(Namespaces { mnt: 7, pid: 8 }));
    assert_eq!(Attributor::new(10, false).attribute(Some(10), None, AT, &view), Origin::Host);
}
