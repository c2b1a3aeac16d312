//! TRC-1019 as a pure function: a connect event plus what is known about the
//! watched sockets and the process's origin, to a hit or the reason there is none.
//!
//! Unlike the reference, the socket is matched by (dev, inode), never by the name
//! the process used: a bind mount under another name still matches, and an unrelated
//! file that happens to be called `docker.sock` does not.

use super::cgroup::Container;
use super::connect::{ConnectEvent, SockAddr};

/// A socket being guarded, with its identity as last seen on the host. The identity
/// is `None` while the socket does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedSocket {
    /// The host path, symlinks resolved.
    pub path: String,
    pub id: Option<FileId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    pub major: u32,
    pub minor: u32,
    pub inode: u64,
}

/// Where the connecting process lives, as the I/O side found out from /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// In a container; `via_parent` when the process itself had gone and its parent
    /// (from the record's ppid) was read instead.
    Container { container: Container, via_parent: bool },
    /// On the host.
    Host,
    /// The process and its parent were gone, or the parent was a container runtime's
    /// shim (so the process was a container's, but which one is not known).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Index into the watched sockets.
    pub watched: usize,
    pub file: FileId,
    /// True when matched through `resolved` rather than a PATH record.
    pub by_name: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// Not AF_UNIX, or an abstract address.
    NotUnixPath,
    /// A filesystem socket, but not one that is watched.
    NotWatched,
    /// A process on the host.
    HostProcess,
    /// The container runtime setting up a container (runc init, the shim, conmon).
    RuntimeSetup,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NotUnixPath => "not a unix path",
            Skip::NotWatched => "not a watched socket",
            Skip::HostProcess => "host process",
            Skip::RuntimeSetup => "runtime set-up",
        }
    }
}

/// Which watched socket, if any, `ev` reached. `resolved` is what sun_path resolved
/// to in the process's mount namespace, for events that carry no PATH record.
pub fn target(ev: &ConnectEvent, watched: &[WatchedSocket], resolved: Option<FileId>) -> Result<Hit, Skip> {
    match &ev.addr {
        Some(SockAddr::Other(_)) | Some(SockAddr::Abstract(_)) => return Err(Skip::NotUnixPath),
        Some(SockAddr::Unix(_)) | None => {}
    }
    let find = |f: FileId| watched.iter().position(|w| w.id == Some(f));
    let mut saw_inode = false;
    for p in &ev.paths {
        if let (Some((major, minor)), Some(inode)) = (p.dev, p.inode) {
            saw_inode = true;
            let file = FileId { major, minor, inode };
            if let Some(i) = find(file) {
                return Ok(Hit { watched: i, file, by_name: false });
            }
        }
    }
    if !saw_inode {
        if let Some(file) = resolved {
            if let Some(i) = find(file) {
                return Ok(Hit { watched: i, file, by_name: true });
            }
        }
    }
    Err(Skip::NotWatched)
}

/// The whole decision: the socket must be watched and the process must be a
/// container's, past the runtime's own set-up.
pub fn detect(
    ev: &ConnectEvent,
    watched: &[WatchedSocket],
    resolved: Option<FileId>,
    origin: &Origin,
) -> Result<Hit, Skip> {
    let hit = target(ev, watched, resolved)?;
    judge(ev, origin)?;
    Ok(hit)
}

/// The second half of `detect`, for a connect already known to reach a watched
/// socket: is it a container's workload? Split out so the daemon reads /proc only
/// for connects that reach a watched socket.
pub fn judge(ev: &ConnectEvent, origin: &Origin) -> Result<(), Skip> {
    if is_runtime_setup(ev) {
        return Err(Skip::RuntimeSetup);
    }
    match origin {
        Origin::Host => Err(Skip::HostProcess),
        Origin::Container { .. } | Origin::Unknown => Ok(()),
    }
}

/// runc (and crun) re-exec themselves as `runc:[0:PARENT]`, `runc:[1:CHILD]`,
/// `runc:[2:INIT]` until the entrypoint is exec'd; until then the process belongs to
/// the runtime, not to the container's workload. Shims and conmon run on the host
/// but may be attributed by their parent.
pub fn is_runtime_setup(ev: &ConnectEvent) -> bool {
    if ev.comm.as_deref().is_some_and(|c| c.starts_with(b"runc:[") || c.starts_with(b"crun:[")) {
        return true;
    }
    let Some(exe) = ev.exe.as_deref() else { return false };
    if exe.windows(11).any(|w| w == b"runc_cloned") {
        return true;
    }
    let base = exe.rsplit(|&b| b == b'/').next().unwrap_or(exe);
    matches!(base, b"runc" | b"crun" | b"conmon") || base.starts_with(b"containerd-shim")
}

#[cfg(test)]
mod tests {
    use super::super::cgroup::Runtime;
    use super::super::connect::{Ids, PathItem, Via};
    use super::super::record::Stamp;
    use super::*;

    const SOCK: FileId = FileId { major: 0, minor: 26, inode: 1234 };
    const DECOY: FileId = FileId { major: 0, minor: 26, inode: 999 };

    fn watched() -> Vec<WatchedSocket> {
        vec![
            WatchedSocket { path: "/run/containerd/containerd.sock".into(), id: None },
            WatchedSocket { path: "/run/docker.sock".into(), id: Some(SOCK) },
        ]
    }

    fn container() -> Origin {
        Origin::Container {
            container: Container { runtime: Runtime::Docker, id: "a".repeat(64) },
            via_parent: false,
        }
    }

    fn connect(addr: Option<SockAddr>, path: Option<(&str, FileId)>) -> ConnectEvent {
        ConnectEvent {
            stamp: Stamp { sec: 1, msec: 0, serial: 1 },
            via: Via::Syscall,
            arch: Some(0xc000003e),
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
        let hit = Ok(Hit { watched: 1, file: SOCK, by_name: false });
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
                connect(unix("/run/docker.sock"), Some(("/run/docker.sock", SOCK))), None, Origin::Unknown, hit.clone()),
            ("no PATH record, sun_path resolved to the socket",
                connect(unix("/run/docker.sock"), None), Some(SOCK), container(), Ok(Hit { watched: 1, file: SOCK, by_name: true })),
            ("no PATH record, sun_path resolved elsewhere",
                connect(unix("/run/docker.sock"), None), Some(DECOY), container(), Err(Skip::NotWatched)),
            ("no PATH record, unresolvable",
                connect(unix("/gone.sock"), None), None, container(), Err(Skip::NotWatched)),
            ("PATH record wins over a stale name resolution",
                connect(unix("/tmp/d/docker.sock"), Some(("/tmp/d/docker.sock", DECOY))), Some(SOCK), container(), Err(Skip::NotWatched)),
            ("no SOCKADDR record but a PATH record (io_uring worker)",
                connect(None, Some(("/run/docker.sock", SOCK))), None, container(), hit.clone()),
        ];
        for (name, ev, resolved, origin, want) in cases {
            assert_eq!(detect(&ev, &w, resolved, &origin), want, "{name}");
        }
    }

    #[test]
    fn failed_connects_still_fire() {
        let mut ev = connect(unix("/run/docker.sock"), Some(("/run/docker.sock", SOCK)));
        ev.success = Some(false);
        ev.exit = Some(-13);
        assert!(detect(&ev, &watched(), None, &container()).is_ok());
    }

    #[test]
    fn runtime_setup_is_not_a_finding() {
        let w = watched();
        for (comm, exe) in [
            ("runc:[2:INIT]", "/usr/bin/runc"),
            ("runc:[1:CHILD]", "/memfd:runc_cloned:/proc/self/exe (deleted)"),
            ("containerd-shim", "/usr/bin/containerd-shim-runc-v2"),
            ("conmon", "/usr/bin/conmon"),
        ] {
            let mut ev = connect(unix("/run/docker.sock"), Some(("/run/docker.sock", SOCK)));
            ev.comm = Some(comm.as_bytes().to_vec());
            ev.exe = Some(exe.as_bytes().to_vec());
            assert_eq!(detect(&ev, &w, None, &container()), Err(Skip::RuntimeSetup), "{comm}");
        }
        // A workload binary that merely contains "runc" in its name is not set-up.
        let mut ev = connect(unix("/run/docker.sock"), Some(("/run/docker.sock", SOCK)));
        ev.exe = Some(b"/usr/bin/runcible".to_vec());
        assert!(detect(&ev, &w, None, &container()).is_ok());
    }
}
