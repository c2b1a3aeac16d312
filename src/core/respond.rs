//! Containment (`--respond`): what to do about the process behind a TRC-1019
//! finding, decided from its origin and its cgroup file alone. Audit cannot
//! refuse a connect, but the client's next steps on the API (ping, create,
//! start) take round trips of their own: freezing the container's cgroup in
//! that window stops the escape and keeps the processes, their memory and
//! their connections for whoever investigates.
//!
//! Only a container that sockwatch named is acted on. A host process never is;
//! a process of unknown origin only with `respond_unknown`, and then only its
//! own cgroup, when that is no host cgroup (a systemd unit, the root, or one
//! holding sockwatch or PID 1). The I/O (the write to the freezer, the pidfd)
//! is `io::freezer`; the daemon's glue is `daemon::respond`.

use serde::Serialize;

use super::cgroup::{Container, container_dir};
use super::origin::Origin;

/// `--respond`: what is done to a container that connected to a watched
/// socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// Report only.
    #[default]
    None,
    /// Freeze the container's cgroup: its processes stop where they are, with
    /// their memory and connections, until `sockwatch release`.
    Freeze,
    /// SIGKILL the process that connected (through a pidfd: a reused pid is
    /// never hit).
    Kill,
}

/// The response settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    pub mode: Mode,
    /// Decide and report, but touch nothing.
    pub dry_run: bool,
    /// Act on processes of unknown origin too (their own cgroup, when it is no
    /// host cgroup).
    pub unknown: bool,
}

impl Policy {
    /// Whether findings carry a response at all.
    pub fn active(&self) -> bool {
        self.mode != Mode::None
    }
}

/// The two kinds of cgroup hierarchy with a freezer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hierarchy {
    /// The unified hierarchy: `cgroup.freeze`.
    V2,
    /// The v1 freezer controller's hierarchy: `freezer.state`.
    V1,
}

impl Hierarchy {
    pub fn as_str(self) -> &'static str {
        match self {
            Hierarchy::V2 => "v2",
            Hierarchy::V1 => "v1",
        }
    }
}

/// A cgroup to freeze: its path inside its hierarchy, as /proc/<pid>/cgroup
/// writes it (always starting with '/').
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub hierarchy: Hierarchy,
    pub path: String,
}

/// Which freezers the host has: the runtimes use the v1 freezer when it is
/// mounted (hybrid hosts), the unified hierarchy's otherwise; sockwatch
/// freezes where they do, so that their own state (pause, unpause) and
/// sockwatch's agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Freezers {
    pub v1: bool,
    pub v2: bool,
}

/// Cgroups never frozen: those of sockwatch itself and of PID 1, and their
/// ancestors (freezing one would freeze sockwatch, or the host's init).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    pub protected: Vec<Target>,
}

impl Guard {
    /// From the cgroup files of sockwatch and PID 1 (either may be missing).
    pub fn new(files: &[&[u8]]) -> Guard {
        let mut protected = Vec::new();
        for text in files {
            for (h, path) in lines(text) {
                protected.push(Target { hierarchy: h, path: path.to_string() });
            }
        }
        Guard { protected }
    }

    /// Whether freezing `t` would freeze a protected cgroup: `t` is the root,
    /// or a protected cgroup, or an ancestor of one.
    pub fn refuses(&self, t: &Target) -> bool {
        let p = t.path.trim_end_matches('/');
        if p.is_empty() {
            return true;
        }
        self.protected.iter().any(|g| {
            g.hierarchy == t.hierarchy
                && (g.path == p || g.path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
        })
    }
}

/// What is to be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Freeze(Target),
    Kill(u32),
    /// Nothing, and why (the finding's `response.reason`).
    Skip(&'static str),
}

/// Decides what to do about a reported connect by `pid`, whose origin the
/// attribution decided. `cgroup` is the cgroup file of the process that named
/// the container (the client itself, else its parent), read now; `None` when
/// neither could be read.
pub fn plan(
    policy: &Policy,
    origin: &Origin,
    pid: Option<u32>,
    cgroup: Option<&[u8]>,
    freezers: Freezers,
    guard: &Guard,
) -> Plan {
    match (policy.mode, origin) {
        (Mode::None, _) => Plan::Skip("respond is none"),
        (_, Origin::Host) => Plan::Skip("a host process is never acted on"),
        (Mode::Kill, Origin::Container(_)) => kill(pid),
        (Mode::Kill, Origin::Unknown { .. }) => {
            if !policy.unknown {
                return Plan::Skip("unknown origin: report only (respond_unknown is off)");
            }
            match cgroup.and_then(|t| own_target(t, freezers)) {
                Some(t) if !is_host_cgroup(&t, guard) => kill(pid),
                Some(_) => Plan::Skip("unknown origin in a host cgroup: report only"),
                None => Plan::Skip("unknown origin and its cgroup could not be read"),
            }
        }
        (Mode::Freeze, Origin::Container(a)) => {
            match cgroup.and_then(|t| container_target(t, &a.container, freezers)) {
                Some(t) if guard.refuses(&t) => {
                    Plan::Skip("the container's cgroup holds sockwatch or PID 1")
                }
                Some(t) => Plan::Freeze(t),
                None => Plan::Skip("the container's cgroup could not be found"),
            }
        }
        (Mode::Freeze, Origin::Unknown { .. }) => {
            if !policy.unknown {
                return Plan::Skip("unknown origin: report only (respond_unknown is off)");
            }
            match cgroup.and_then(|t| own_target(t, freezers)) {
                Some(t) if !is_host_cgroup(&t, guard) => Plan::Freeze(t),
                Some(_) => Plan::Skip("unknown origin in a host cgroup: report only"),
                None => Plan::Skip("unknown origin and its cgroup could not be read"),
            }
        }
    }
}

fn kill(pid: Option<u32>) -> Plan {
    match pid {
        Some(p) if p > 1 => Plan::Kill(p),
        _ => Plan::Skip("the record names no process"),
    }
}

/// The (hierarchy, path) of each line of a cgroup file that has a freezer: v2's
/// `0::PATH`, and v1's line whose controllers include `freezer`. Paths that are
/// not UTF-8, or that hold a `..` component, are left out (no runtime makes
/// them, and a path is joined to the mount point).
fn lines(text: &[u8]) -> impl Iterator<Item = (Hierarchy, &str)> {
    text.split(|&b| b == b'\n').filter_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        let mut parts = line.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let h = match (id, controllers) {
            ("0", "") => Hierarchy::V2,
            (_, c) if c.split(',').any(|c| c == "freezer") => Hierarchy::V1,
            _ => return None,
        };
        let path = path.strip_suffix(" (deleted)").unwrap_or(path);
        let ok = path.starts_with('/') && !path.split('/').any(|c| c == "..");
        ok.then_some((h, path))
    })
}

/// Which hierarchy to use: v1's freezer when the host mounts one, else v2.
fn preferred(freezers: Freezers) -> [Option<Hierarchy>; 2] {
    [freezers.v1.then_some(Hierarchy::V1), freezers.v2.then_some(Hierarchy::V2)]
}

/// The container's own cgroup, in the hierarchy whose freezer the runtime uses,
/// from a cgroup file whose path there names this very container.
pub fn container_target(text: &[u8], c: &Container, freezers: Freezers) -> Option<Target> {
    preferred(freezers).into_iter().flatten().find_map(|want| {
        lines(text).filter(|(h, _)| *h == want).find_map(|(h, path)| {
            let (named, dir) = container_dir(path.as_bytes())?;
            (named.id == c.id && named.runtime == c.runtime)
                .then(|| Target { hierarchy: h, path: String::from_utf8_lossy(dir).into_owned() })
        })
    })
}

/// The process's own cgroup (for an origin no runtime names).
fn own_target(text: &[u8], freezers: Freezers) -> Option<Target> {
    preferred(freezers).into_iter().flatten().find_map(|want| {
        lines(text)
            .find(|(h, _)| *h == want)
            .map(|(h, path)| Target { hierarchy: h, path: path.to_string() })
    })
}

/// A cgroup of the host's own: the root, a systemd unit or slice (a login
/// session's scope, a service) or anything inside init.scope, or one that holds
/// sockwatch or PID 1. Freezing one stops the host's own work, not a container.
pub fn is_host_cgroup(t: &Target, guard: &Guard) -> bool {
    if guard.refuses(t) {
        return true;
    }
    let leaf = t.path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    const UNITS: [&str; 6] = [".slice", ".service", ".scope", ".socket", ".mount", ".swap"];
    UNITS.iter().any(|u| leaf.ends_with(u)) || t.path.split('/').any(|c| c == "init.scope")
}

/// What came of a response, as the finding's `response` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Response {
    /// `freeze` or `kill`.
    pub action: &'static str,
    /// The cgroup frozen (or that would have been), inside its hierarchy.
    pub cgroup: Option<String>,
    pub hierarchy: Option<Hierarchy>,
    /// `frozen`, `freezing` (the kernel finishes by itself), `killed`, `gone`
    /// (the process had exited), `failed`, `skipped`, `dry_run`.
    pub result: &'static str,
    /// From the connect's audit stamp to the freeze or kill having been done
    /// (for `dry_run`, decided).
    pub latency_us: Option<u64>,
    /// The process signalled (kill).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Why nothing was done (`skipped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// What went wrong (`failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    pub fn new(mode: Mode, plan: &Plan, result: &'static str) -> Response {
        let (cgroup, hierarchy, pid, reason) = match plan {
            Plan::Freeze(t) => (Some(t.path.clone()), Some(t.hierarchy), None, None),
            Plan::Kill(p) => (None, None, Some(*p), None),
            Plan::Skip(why) => (None, None, None, Some(*why)),
        };
        let action = match mode {
            Mode::Kill => "kill",
            Mode::Freeze | Mode::None => "freeze",
        };
        Response { action, cgroup, hierarchy, result, latency_us: None, pid, reason, error: None }
    }
}

/// Microseconds from a connect's audit stamp (seconds and milliseconds) to
/// `now_us` (Unix time in microseconds); 0 when the clock says the response
/// came first (a clock step).
pub fn latency_us(stamp_sec: u64, stamp_msec: u32, now_us: u64) -> u64 {
    let at = stamp_sec.saturating_mul(1_000_000) + u64::from(stamp_msec) * 1000;
    now_us.saturating_sub(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cgroup::Runtime;
    use crate::core::origin::{Attribution, By, Namespaces, Unproven};

    const ID: &str = "3f1c2b9a8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170615f4e3";
    const BOTH: Freezers = Freezers { v1: true, v2: true };
    const ONLY_V2: Freezers = Freezers { v1: false, v2: true };

    fn container(runtime: Runtime) -> Origin {
        Origin::Container(Attribution {
            container: Container { runtime, id: ID.into(), pod_uid: None },
            by: By::Pid,
            meta: None,
        })
    }

    fn unknown() -> Origin {
        Origin::Unknown {
            namespaces: Some(Namespaces { mnt: 1, pid: 2 }),
            why: Unproven::ForeignNamespaces,
        }
    }

    fn freeze(h: Hierarchy, path: &str) -> Plan {
        Plan::Freeze(Target { hierarchy: h, path: path.into() })
    }

    fn policy(mode: Mode, unknown: bool) -> Policy {
        Policy { mode, dry_run: false, unknown }
    }

    #[test]
    fn table() {
        use Hierarchy::*;
        let guard = Guard::new(&[
            b"0::/system.slice/sockwatch.service\n6:freezer:/\n",
            b"0::/init.scope\n6:freezer:/\n",
        ]);
        let hybrid_docker = format!("12:pids:/docker/{ID}\n6:freezer:/docker/{ID}\n0::/\n");
        let v2_docker = format!("0::/system.slice/docker-{ID}.scope/init\n");
        let v2_podman = format!("0::/machine.slice/libpod-{ID}.scope/container\n");
        let other_id = format!("0::/docker/{}\n", "a".repeat(64));
        let v2_on_hybrid = format!("6:freezer:/\n0::/docker/{ID}\n");
        let freeze_p = policy(Mode::Freeze, false);
        let kill_p = policy(Mode::Kill, false);
        let unknown_p = policy(Mode::Freeze, true);
        #[rustfmt::skip]
        type Case<'a> = (Policy, Origin, Option<u32>, Option<&'a str>, Freezers, Plan);
        let cases: Vec<Case> = vec![
            // Docker on a hybrid host: the v1 freezer, where runc pauses it.
            (
                freeze_p,
                container(Runtime::Docker),
                Some(9),
                Some(&hybrid_docker),
                BOTH,
                freeze(V1, &format!("/docker/{ID}")),
            ),
            // Pure v2, the systemd driver: the scope, not the process's leaf.
            (
                freeze_p,
                container(Runtime::Docker),
                Some(9),
                Some(&v2_docker),
                ONLY_V2,
                freeze(V2, &format!("/system.slice/docker-{ID}.scope")),
            ),
            (
                freeze_p,
                container(Runtime::Podman),
                Some(9),
                Some(&v2_podman),
                ONLY_V2,
                freeze(V2, &format!("/machine.slice/libpod-{ID}.scope")),
            ),
            // A v2 path on a hybrid host when v1's freezer line names nothing.
            (
                freeze_p,
                container(Runtime::Docker),
                Some(9),
                Some(&v2_on_hybrid),
                BOTH,
                freeze(V2, &format!("/docker/{ID}")),
            ),
            // The file no longer names this container (the pid was reused): nothing.
            (
                freeze_p,
                container(Runtime::Docker),
                Some(9),
                Some(&other_id),
                ONLY_V2,
                Plan::Skip("the container's cgroup could not be found"),
            ),
            (
                freeze_p,
                container(Runtime::Docker),
                Some(9),
                None,
                ONLY_V2,
                Plan::Skip("the container's cgroup could not be found"),
            ),
            // No freezer at all.
            (
                freeze_p,
                container(Runtime::Docker),
                Some(9),
                Some(&v2_docker),
                Freezers::default(),
                Plan::Skip("the container's cgroup could not be found"),
            ),
            // Host processes never; unknown only when asked, and not in a host cgroup.
            (
                freeze_p,
                Origin::Host,
                Some(9),
                Some("0::/user.slice/x\n"),
                ONLY_V2,
                Plan::Skip("a host process is never acted on"),
            ),
            (
                freeze_p,
                unknown(),
                Some(9),
                Some("0::/sandbox/job1\n"),
                ONLY_V2,
                Plan::Skip("unknown origin: report only (respond_unknown is off)"),
            ),
            (
                unknown_p,
                unknown(),
                Some(9),
                Some("0::/sandbox/job1\n"),
                ONLY_V2,
                freeze(V2, "/sandbox/job1"),
            ),
            (
                unknown_p,
                unknown(),
                Some(9),
                Some("0::/user.slice/user-0.slice/session-3.scope\n"),
                ONLY_V2,
                Plan::Skip("unknown origin in a host cgroup: report only"),
            ),
            (
                unknown_p,
                unknown(),
                Some(9),
                Some("0::/system.slice/cron.service\n"),
                ONLY_V2,
                Plan::Skip("unknown origin in a host cgroup: report only"),
            ),
            (
                unknown_p,
                unknown(),
                Some(9),
                Some("0::/init.scope/x\n"),
                ONLY_V2,
                Plan::Skip("unknown origin in a host cgroup: report only"),
            ),
            (
                unknown_p,
                unknown(),
                Some(9),
                Some("0::/\n"),
                ONLY_V2,
                Plan::Skip("unknown origin in a host cgroup: report only"),
            ),
            // An ancestor of sockwatch's own cgroup.
            (
                unknown_p,
                unknown(),
                Some(9),
                Some("0::/system.slice\n"),
                ONLY_V2,
                Plan::Skip("unknown origin in a host cgroup: report only"),
            ),
            (
                unknown_p,
                unknown(),
                Some(9),
                None,
                ONLY_V2,
                Plan::Skip("unknown origin and its cgroup could not be read"),
            ),
            // A `..` component never reaches the mount point.
            (
                unknown_p,
                unknown(),
                Some(9),
                Some("0::/a/../system.slice\n"),
                ONLY_V2,
                Plan::Skip("unknown origin and its cgroup could not be read"),
            ),
            // Kill: the process, never PID 1 or a record without a pid.
            (kill_p, container(Runtime::Docker), Some(9), None, ONLY_V2, Plan::Kill(9)),
            (
                kill_p,
                container(Runtime::Docker),
                None,
                None,
                ONLY_V2,
                Plan::Skip("the record names no process"),
            ),
            (
                kill_p,
                container(Runtime::Docker),
                Some(1),
                None,
                ONLY_V2,
                Plan::Skip("the record names no process"),
            ),
            (
                kill_p,
                Origin::Host,
                Some(9),
                None,
                ONLY_V2,
                Plan::Skip("a host process is never acted on"),
            ),
            (
                kill_p,
                unknown(),
                Some(9),
                Some("0::/sandbox/job1\n"),
                ONLY_V2,
                Plan::Skip("unknown origin: report only (respond_unknown is off)"),
            ),
            (
                policy(Mode::Kill, true),
                unknown(),
                Some(9),
                Some("0::/sandbox/job1\n"),
                ONLY_V2,
                Plan::Kill(9),
            ),
            (
                policy(Mode::Kill, true),
                unknown(),
                Some(9),
                Some("0::/user.slice/a.scope\n"),
                ONLY_V2,
                Plan::Skip("unknown origin in a host cgroup: report only"),
            ),
            (
                policy(Mode::None, true),
                container(Runtime::Docker),
                Some(9),
                Some(&v2_docker),
                ONLY_V2,
                Plan::Skip("respond is none"),
            ),
        ];
        for (i, (p, origin, pid, text, fz, want)) in cases.into_iter().enumerate() {
            let got = plan(&p, &origin, pid, text.map(str::as_bytes), fz, &guard);
            assert_eq!(got, want, "case {i}: {text:?}");
        }
    }

    #[test]
    fn the_guard_refuses_the_root_and_every_ancestor_of_what_it_protects() {
        let g = Guard::new(&[b"0::/system.slice/sockwatch.service\n"]);
        let t = |p: &str| Target { hierarchy: Hierarchy::V2, path: p.into() };
        assert!(g.refuses(&t("/")));
        assert!(g.refuses(&t("/system.slice")));
        assert!(g.refuses(&t("/system.slice/sockwatch.service")));
        assert!(g.refuses(&t("/system.slice/sockwatch.service/")));
        assert!(!g.refuses(&t("/system.slice/sock")), "a name that is only a prefix");
        assert!(!g.refuses(&t("/system.slice/sockwatch.service/child")));
        assert!(!g.refuses(&Target { hierarchy: Hierarchy::V1, path: "/system.slice".into() }));
    }

    #[test]
    fn latency_counts_from_the_stamp() {
        assert_eq!(latency_us(100, 250, 100_251_500), 1500);
        assert_eq!(latency_us(100, 250, 99_000_000), 0, "a clock step back is no negative");
    }

    #[test]
    fn a_response_serializes_with_only_what_applies() {
        let p = freeze(Hierarchy::V1, "/docker/x");
        let mut r = Response::new(Mode::Freeze, &p, "frozen");
        r.latency_us = Some(1234);
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"action": "freeze", "cgroup": "/docker/x", "hierarchy": "v1", "result": "frozen", "latency_us": 1234})
        );
        let r = Response::new(Mode::Kill, &Plan::Skip("why"), "skipped");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"action": "kill", "cgroup": null, "hierarchy": null, "result": "skipped", "latency_us": null, "reason": "why"})
        );
    }
}
