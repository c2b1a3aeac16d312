//! TRC-1019 as a pure function: a connect event plus what is known about the
//! watched sockets and the process's origin, to a hit or the reason there is none.
//!
//! Unlike the reference, the socket is matched by (dev, inode), never by the name
//! the process used: a bind mount under another name still matches, and an unrelated
//! file that happens to be called `docker.sock` does not.

use super::connect::{ConnectEvent, SockAddr};
use super::finding::{Extra, Finding, connect_finding};
use super::origin::Origin;

/// A socket being guarded, with its identity as last seen on the host. The identity
/// is `None` while the socket does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedSocket {
    /// The host path, symlinks resolved.
    pub path: String,
    pub id: Option<FileId>,
    /// Identities it had before it was re-created, newest last (a few at most): events
    /// already queued when the socket changed still name the old inode.
    pub previous: Vec<FileId>,
}

impl WatchedSocket {
    pub fn new(path: String, id: Option<FileId>) -> WatchedSocket {
        WatchedSocket { path, id, previous: Vec::new() }
    }

    pub fn is(&self, f: FileId) -> bool {
        self.id == Some(f) || self.previous.contains(&f)
    }

    /// Records a new identity, keeping the last few old ones.
    pub fn update(&mut self, id: Option<FileId>) {
        if let Some(old) = self.id.filter(|old| Some(*old) != id) {
            self.previous.retain(|p| *p != old);
            self.previous.push(old);
            if self.previous.len() > 4 {
                self.previous.remove(0);
            }
        }
        self.id = id;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    pub major: u32,
    pub minor: u32,
    pub inode: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Index into the watched sockets.
    pub watched: usize,
    pub file: FileId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// Not AF_UNIX, or an abstract address.
    NotUnixPath,
    /// A filesystem socket, but not one that is watched.
    NotWatched,
    /// A process on the host.
    HostProcess,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NotUnixPath => "not a unix path",
            Skip::NotWatched => "not a watched socket",
            Skip::HostProcess => "host process",
        }
    }
}

/// Which watched socket, if any, `ev` reached. The PATH records decide: the kernel
/// resolved the name to (dev, inode) itself. Only an event without any (io_uring
/// may batch several ops into one event, whose single SOCKADDR is then the last
/// op's) falls back to the address: `resolved` is what sun_path resolved to in the
/// process's mount namespace.
pub fn target(
    ev: &ConnectEvent,
    watched: &[WatchedSocket],
    resolved: Option<FileId>,
) -> Result<Hit, Skip> {
    let find =
        |file: FileId| watched.iter().position(|w| w.is(file)).map(|i| Hit { watched: i, file });
    let files: Vec<FileId> = ev.paths.iter().filter_map(path_file).collect();
    if let Some(hit) = files.iter().find_map(|f| find(*f)) {
        return Ok(hit);
    }
    if !files.is_empty() {
        return Err(Skip::NotWatched);
    }
    match &ev.addr {
        Some(SockAddr::Other(_)) | Some(SockAddr::Abstract(_)) => Err(Skip::NotUnixPath),
        Some(SockAddr::Unix(_)) | None => resolved.and_then(find).ok_or(Skip::NotWatched),
    }
}

/// A connect that failed with one of these found no file at its name: it
/// reached no socket, and there is nothing to resolve.
const NAME_NOT_FOUND: [i64; 4] = [
    -2,  // ENOENT
    -20, // ENOTDIR
    -36, // ENAMETOOLONG
    -40, // ELOOP
];

/// The sun_path to resolve in the process's root for `target`'s `resolved`:
/// only when the kernel gave no (dev, inode) for the connect and did not say
/// that its lookup of the name failed (a PATH record for the name without an
/// inode, or an error that means no file was there). Resolving walks the
/// process's file systems, which it may control, so it is done no more than this.
pub fn needs_resolution(ev: &ConnectEvent) -> Option<&[u8]> {
    let Some(SockAddr::Unix(path)) = &ev.addr else { return None };
    let lookup_failed = ev.paths.iter().any(|p| p.name.as_deref() == Some(path.as_slice()));
    if ev.paths.iter().any(|p| path_file(p).is_some()) || lookup_failed || name_not_found(ev) {
        return None;
    }
    Some(path)
}

/// Whether the connect failed because no file was at its name: it reached no
/// socket, whatever the name says.
pub fn name_not_found(ev: &ConnectEvent) -> bool {
    ev.exit.is_some_and(|e| NAME_NOT_FOUND.contains(&e))
}

fn path_file(p: &super::connect::PathItem) -> Option<FileId> {
    let (major, minor) = p.dev?;
    Some(FileId { major, minor, inode: p.inode? })
}

/// Whether a `NotWatched` verdict should make the caller re-read the watched
/// sockets' identities and try again: the event names a file, and a runtime may
/// just have re-created its socket. One stat per socket, so no rate limit.
pub fn worth_refresh(ev: &ConnectEvent, skip: Skip) -> bool {
    skip == Skip::NotWatched
        && (ev.paths.iter().any(|p| path_file(p).is_some())
            || matches!(ev.addr, Some(SockAddr::Unix(_))))
}

/// What the I/O side found out about the process behind a connect that reaches
/// a watched socket (looked up only then: /proc is read for nothing else).
#[derive(Debug, Clone)]
pub struct Process {
    pub origin: Origin,
}

/// A connect to a watched socket by a container's workload, as a finding.
#[derive(Debug, Clone)]
pub struct Detection {
    pub hit: Hit,
    pub finding: Finding,
    /// Where the process was found to live (what `--respond` acts on).
    pub origin: Origin,
}

/// TRC-1019, from a connect to its finding: the socket must be watched and the
/// process a container's (or not proven to be the host's), past the runtime's
/// own set-up. `run` and `scan` both come through here. `look` is asked about
/// the process only for a connect that reaches a watched socket; `now` and
/// `hostname` stamp the finding.
pub fn detect(
    ev: &ConnectEvent,
    watched: &[WatchedSocket],
    resolved: Option<FileId>,
    look: impl FnOnce(&Hit) -> Process,
    now: String,
    hostname: Option<&str>,
) -> Result<Detection, Skip> {
    let hit = target(ev, watched, resolved)?;
    let process = look(&hit);
    judge(&process.origin)?;
    // The argv is the record's PROCTITLE here; the daemon reads the full one
    // only for a finding the allowlist does not take (`Process::with_cmdline`).
    let extra = Extra { now, cmdline: None, hostname };
    let finding = connect_finding(ev, &hit, &watched[hit.watched].path, &process.origin, extra);
    Ok(Detection { hit, finding, origin: process.origin })
}

/// The second half of `detect`, for a connect already known to reach a watched
/// socket: is it a container's workload? Split out so the daemon reads /proc only
/// for connects that reach a watched socket. The runtime's own set-up of a
/// container (runc or crun init, in the container's cgroup) is not exempt: it
/// never connects to a runtime's API socket, and the name and program that
/// would tell it apart are both a container's to fake (`runc:[2:INIT]` is one
/// prctl away, and a container with the host's root mounted can run the host's
/// runc with LD_PRELOAD).
pub fn judge(origin: &Origin) -> Result<(), Skip> {
    match origin {
        Origin::Host => Err(Skip::HostProcess),
        Origin::Container(_) | Origin::Unknown { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::cgroup::{Container, Runtime};
    use super::super::connect::{Ids, PathItem, Via};
    use super::super::origin::{Attribution, By};
    use super::super::record::Stamp;
    use super::*;

    const SOCK: FileId = FileId { major: 0, minor: 26, inode: 1234 };
    const DECOY: FileId = FileId { major: 0, minor: 26, inode: 999 };

    /// `detect`, with the process's origin given and the finding's stamp fixed.
    fn verdict(
        ev: &ConnectEvent,
        w: &[WatchedSocket],
        resolved: Option<FileId>,
        origin: &Origin,
    ) -> Result<Hit, Skip> {
        let look = |_: &Hit| Process { origin: origin.clone() };
        detect(ev, w, resolved, look, "T".into(), None).map(|d| d.hit)
    }

    fn watched() -> Vec<WatchedSocket> {
        vec![
            WatchedSocket::new("/run/containerd/containerd.sock".into(), None),
            WatchedSocket::new("/run/docker.sock".into(), Some(SOCK)),
        ]
    }

    fn container() -> Origin {
        Origin::Container(Attribution {
            container: Container { runtime: Runtime::Docker, id: "a".repeat(64), pod_uid: None },
            by: By::Pid,
            meta: None,
        })
    }

    fn connect(addr: Option<SockAddr>, path: Option<(&str, FileId)>) -> ConnectEvent {
        ConnectEvent {
            stamp: Stamp { sec: 1, msec: 0, serial: 1 },
            via: Via::Syscall,
            success: Some(true),
            exit: Some(0),
            ids: Ids::default(),
            comm: Some(b"curl".to_vec()),
            exe: Some(b"/usr/bin/curl".to_vec()),
            key: Some(b"sockwatch".to_vec()),
            addr,
            paths: path
                .map(|(n, f)| PathItem {
                    name: Some(n.as_bytes().to_vec()),
                    inode: Some(f.inode),
                    dev: Some((f.major, f.minor)),
                })
                .into_iter()
                .collect(),
            cwd: Some(b"/".to_vec()),
            proctitle: None,
        }
    }

    fn unix(p: &str) -> Option<SockAddr> {
        Some(SockAddr::Unix(p.as_bytes().to_vec()))
    }

    /// (row name, event, sun_path resolution, origin, expected verdict)
    type Row = (&'static str, ConnectEvent, Option<FileId>, Origin, Result<Hit, Skip>);

    /// The reference's connect rows, then what matching by inode adds.
    #[test]
    fn table() {
        let w = watched();
        let hit = Ok(Hit { watched: 1, file: SOCK });
        #[rustfmt::skip]
        let cases: Vec<Row> = vec![
            ("AF_UNIX /var/run/docker.sock",
                connect(unix("/var/run/docker.sock"), Some(("/var/run/docker.sock", SOCK))), None, container(), hit.clone()),
            ("AF_UNIX /custom/path/docker.sock, same inode",
                connect(unix("/custom/path/docker.sock"), Some(("/custom/path/docker.sock", SOCK))), None, container(), hit.clone()),
            ("AF_UNIX /var/run/other.sock",
                connect(unix("/var/run/other.sock"), Some(("/var/run/other.sock", DECOY))), None, container(), Err(Skip::NotWatched)),
            ("AF_INET 10.225.0.2:53",
                connect(Some(SockAddr::Other(2)), None), None, container(), Err(Skip::NotUnixPath)),
            // Beyond the reference.
            ("alias /tmp/x.sock bind-mounted from the socket",
                connect(unix("/tmp/x.sock"), Some(("/tmp/x.sock", SOCK))), None, container(), hit.clone()),
            ("relative path through a symlinked dir",
                connect(unix("run/docker.sock"), Some(("run/docker.sock", SOCK))), None, container(), hit.clone()),
            ("decoy named docker.sock with another inode",
                connect(unix("/tmp/decoy/docker.sock"), Some(("/tmp/decoy/docker.sock", DECOY))), None, container(), Err(Skip::NotWatched)),
            ("abstract socket named docker.sock",
                connect(Some(SockAddr::Abstract(b"docker.sock".to_vec())), None), None, container(), Err(Skip::NotUnixPath)),
            ("host process",
                connect(unix("/run/docker.sock"), Some(("/run/docker.sock", SOCK))), None, Origin::Host, Err(Skip::HostProcess)),
            ("process gone, origin unknown: still reported",
                connect(unix("/run/docker.sock"), Some(("/run/docker.sock", SOCK))), None, Origin::Unknown { namespaces: None, why: super::super::origin::Unproven::Gone }, hit.clone()),
            ("no PATH record, sun_path resolved to the socket",
                connect(unix("/run/docker.sock"), None), Some(SOCK), container(), hit.clone()),
            ("no PATH record, sun_path resolved elsewhere",
                connect(unix("/run/docker.sock"), None), Some(DECOY), container(), Err(Skip::NotWatched)),
            ("no PATH record, unresolvable",
                connect(unix("/gone.sock"), None), None, container(), Err(Skip::NotWatched)),
            ("PATH record wins over a stale name resolution",
                connect(unix("/tmp/d/docker.sock"), Some(("/tmp/d/docker.sock", DECOY))), Some(SOCK), container(), Err(Skip::NotWatched)),
            ("no SOCKADDR record but a PATH record (io_uring worker)",
                connect(None, Some(("/run/docker.sock", SOCK))), None, container(), hit.clone()),
            ("io_uring batch: the last op's SOCKADDR is AF_INET, a PATH is the socket",
                connect(Some(SockAddr::Other(2)), Some(("/run/docker.sock", SOCK))), None, container(), hit.clone()),
        ];
        for (name, ev, resolved, origin, want) in cases {
            assert_eq!(verdict(&ev, &w, resolved, &origin), want, "{name}");
        }
    }

    #[test]
    fn what_needs_resolving_in_the_process_root() {
        let failed = |mut ev: ConnectEvent, errno: i64| {
            ev.success = Some(false);
            ev.exit = Some(-errno);
            ev
        };
        let sock = Some(("/run/docker.sock", SOCK));
        #[rustfmt::skip]
        let cases: Vec<(&str, ConnectEvent, Option<&[u8]>)> = vec![
            ("a PATH record with an inode", connect(unix("/run/docker.sock"), sock), None),
            ("no PATH record, connected", connect(unix("/x/s"), None), Some(b"/x/s")),
            ("no PATH record, ENOENT", failed(connect(unix("/x/s"), None), 2), None),
            ("no PATH record, ENOTDIR", failed(connect(unix("/x/s"), None), 20), None),
            ("no PATH record, ENAMETOOLONG", failed(connect(unix("/x/s"), None), 36), None),
            ("no PATH record, ELOOP", failed(connect(unix("/x/s"), None), 40), None),
            // The file is there (a socket nobody listens on, or one the caller may
            // not write): it may be a watched one.
            ("no PATH record, ECONNREFUSED", failed(connect(unix("/x/s"), None), 111), Some(b"/x/s")),
            ("no PATH record, EACCES", failed(connect(unix("/x/s"), None), 13), Some(b"/x/s")),
            ("no PATH record, exit unknown", { let mut e = connect(unix("/x/s"), None); e.exit = None; e }, Some(b"/x/s")),
            ("abstract", connect(Some(SockAddr::Abstract(b"x".to_vec())), None), None),
            ("AF_INET", connect(Some(SockAddr::Other(2)), None), None),
            ("no address", connect(None, None), None),
            ("a PATH record for the name, without an inode (its lookup failed)",
                failed({ let mut e = connect(unix("/x/s"), None); e.paths = vec![PathItem { name: Some(b"/x/s".to_vec()), inode: None, dev: None }]; e }, 13), None),
        ];
        for (name, ev, want) in cases {
            assert_eq!(needs_resolution(&ev), want, "{name}");
        }
    }

    #[test]
    fn re_created_socket_keeps_matching_its_old_identity_for_queued_events() {
        let mut w = watched();
        let new = FileId { inode: 4321, ..SOCK };
        w[1].update(Some(new));
        let old_ev = connect(unix("/run/docker.sock"), Some(("/run/docker.sock", SOCK)));
        let new_ev = connect(unix("/run/docker.sock"), Some(("/run/docker.sock", new)));
        assert_eq!(target(&old_ev, &w, None), Ok(Hit { watched: 1, file: SOCK }));
        assert_eq!(target(&new_ev, &w, None), Ok(Hit { watched: 1, file: new }));
        for i in 0..10 {
            w[1].update(Some(FileId { inode: 5000 + i, ..SOCK }));
        }
        assert_eq!(w[1].previous.len(), 4, "bounded");
        assert_eq!(target(&old_ev, &w, None), Err(Skip::NotWatched));
    }

    #[test]
    fn refresh_is_worth_it_only_for_events_that_name_a_file() {
        let named = connect(unix("/run/docker.sock"), Some(("/run/docker.sock", DECOY)));
        assert!(worth_refresh(&named, Skip::NotWatched));
        assert!(!worth_refresh(&named, Skip::HostProcess));
        assert!(!worth_refresh(&connect(Some(SockAddr::Other(2)), None), Skip::NotUnixPath));
        assert!(!worth_refresh(
            &connect(Some(SockAddr::Abstract(b"x".to_vec())), None),
            Skip::NotWatched
        ));
    }

    #[test]
    fn failed_connects_still_fire() {
        let mut ev = connect(unix("/run/docker.sock"), Some(("/run/docker.sock", SOCK)));
        ev.success = Some(false);
        ev.exit = Some(-13);
        assert!(verdict(&ev, &watched(), None, &container()).is_ok());
    }

    /// Nothing a process in a container's cgroup says about itself exempts it:
    /// not runc's or crun's set-up names, not a runtime's program name.
    #[test]
    fn no_name_exempts_a_container_process() {
        let w = watched();
        let mut ev = connect(unix("/run/docker.sock"), Some(("/run/docker.sock", SOCK)));
        for (comm, exe) in [
            ("runc:[2:INIT]", "/usr/sbin/runc"),
            ("runc:[1:CHILD]", "/usr/bin/runc"),
            ("crun:[2:INIT]", "/usr/bin/crun"),
            ("runc", "/usr/sbin/runc"),
            ("containerd-shim", "/usr/bin/containerd-shim-runc-v2"),
            ("conmon", "/usr/bin/conmon"),
        ] {
            ev.comm = Some(comm.as_bytes().to_vec());
            ev.exe = Some(exe.as_bytes().to_vec());
            assert!(verdict(&ev, &w, None, &container()).is_ok(), "{comm}");
        }
    }
}
