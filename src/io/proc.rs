//! What /proc says about the process behind an event: its container, a fuller argv,
//! and where a socket path leads inside its mount namespace. Any of it may be gone
//! by the time we look; the callers get `None` or `Unknown`, never a guess.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};

use crate::core::cgroup::container_of;
use crate::core::detect::{FileId, Origin};

/// How an origin was decided, for the counters and the debug log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Pid,
    /// The process had exited; its parent was read instead.
    Parent,
    /// Neither could be read.
    Gone,
}

/// Finds the container of `pid`; falls back to `ppid` when `pid` has gone. A dead
/// process whose parent is a runtime shim was a container's: `Unknown`, not host.
pub fn origin(pid: Option<u32>, ppid: Option<u32>) -> (Origin, Lookup) {
    if let Some(o) = pid.and_then(|p| origin_of(p, false)) {
        return (o, Lookup::Pid);
    }
    let Some(ppid) = ppid.filter(|&p| p > 0) else { return (Origin::Unknown, Lookup::Gone) };
    match origin_of(ppid, true) {
        Some(Origin::Host) if is_runtime_monitor(ppid) => (Origin::Unknown, Lookup::Parent),
        Some(o) => (o, Lookup::Parent),
        None => (Origin::Unknown, Lookup::Gone),
    }
}

/// A process whose cgroup names no container it knows, but whose mount and pid
/// namespaces both differ from the host's, is in a container all the same:
/// `Unknown`, so the connect is still reported. (A systemd service with PrivateTmp
/// has its own mount namespace but shares the pid namespace, and stays host.) The
/// host's namespaces are sockwatch's own: audit netlink answers only in the initial
/// namespaces, and PID 1's links may be unreadable even to root.
fn origin_of(pid: u32, via_parent: bool) -> Option<Origin> {
    let text = fs::read(format!("/proc/{pid}/cgroup")).ok()?;
    if let Some(container) = container_of(&text) {
        return Some(Origin::Container { container, via_parent });
    }
    let ns = |p: &str, kind: &str| fs::read_link(format!("/proc/{p}/ns/{kind}")).ok();
    let me = pid.to_string();
    let (mnt, pidns) = (ns(&me, "mnt")?, ns(&me, "pid")?);
    if Some(mnt) != ns("self", "mnt") && Some(pidns) != ns("self", "pid") {
        return Some(Origin::Unknown);
    }
    Some(Origin::Host)
}

fn is_runtime_monitor(pid: u32) -> bool {
    let Ok(exe) = fs::read_link(format!("/proc/{pid}/exe")) else { return false };
    let base = exe.file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default();
    base.starts_with("containerd-shim") || base == "conmon"
}

/// Where runc and crun are installed on hosts; a process named `runc:[...` counts as
/// runtime set-up only when its executable is one of these very files.
const RUNTIME_BINARIES: [&str; 6] =
    ["/usr/bin/runc", "/usr/sbin/runc", "/usr/local/bin/runc", "/usr/local/sbin/runc", "/usr/bin/crun", "/usr/local/bin/crun"];

/// Whether `pid`'s executable is the host's runc or crun, compared by (dev, inode)
/// on the host side, so no name inside a container can fake it.
pub fn is_host_runtime_binary(pid: Option<u32>) -> bool {
    let Some(exe) = pid.and_then(|p| fs::metadata(format!("/proc/{p}/exe")).ok()) else { return false };
    let id = file_id(&exe);
    RUNTIME_BINARIES.iter().filter_map(|b| fs::metadata(b).ok()).any(|m| file_id(&m) == id)
}

/// The kernel cuts PROCTITLE at 128 bytes. When it did, and the process is still
/// there with an argv that begins the same way, return the whole argv.
pub fn full_cmdline(pid: Option<u32>, proctitle: Option<&[Vec<u8>]>) -> Option<Vec<Vec<u8>>> {
    let title = proctitle?;
    let joined_len: usize = title.iter().map(|a| a.len() + 1).sum::<usize>().saturating_sub(1);
    if joined_len < 128 {
        return None;
    }
    let raw = fs::read(format!("/proc/{}/cmdline", pid?)).ok()?;
    let trimmed = raw.strip_suffix(b"\0").unwrap_or(&raw);
    let joined = title.join(&0u8);
    if !trimmed.starts_with(&joined) || trimmed.len() <= joined.len() {
        return None;
    }
    Some(trimmed.split(|&b| b == 0).map(<[u8]>::to_vec).collect())
}

/// Resolves an AF_UNIX path as the process would: from its cwd, with symlinks and
/// `..` kept inside its root (RESOLVE_IN_ROOT), so a container's absolute symlink
/// cannot point at the host's files. Used only for connects with no PATH record.
pub fn resolve_in(pid: u32, cwd: Option<&[u8]>, path: &[u8]) -> io::Result<FileId> {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let root = File::open(format!("/proc/{pid}/root"))?;
    let mut rel = Vec::new();
    if path.first() != Some(&b'/') {
        let cwd = cwd.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "relative path, no cwd"))?;
        rel.extend_from_slice(cwd);
        rel.push(b'/');
    }
    rel.extend_from_slice(path);
    let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_CLOEXEC).resolve(ResolveFlag::RESOLVE_IN_ROOT);
    let fd = openat2(&root, OsStr::from_bytes(&rel), how)?;
    Ok(file_id(&File::from(fd).metadata()?))
}

pub fn file_id(m: &fs::Metadata) -> FileId {
    let dev = m.dev();
    FileId { major: nix::sys::stat::major(dev) as u32, minor: nix::sys::stat::minor(dev) as u32, inode: m.ino() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_in_stays_inside_the_root() {
        // Our own root is "/", so this checks relative resolution through the cwd
        // and that an absent file is an error, not a guess.
        let dir = std::env::temp_dir().join(format!("sockwatch-resolve-in-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("f"), b"").unwrap();
        let want = file_id(&fs::metadata(dir.join("f")).unwrap());
        let me = std::process::id();
        let cwd = dir.to_str().unwrap().as_bytes();
        assert_eq!(resolve_in(me, Some(cwd), b"f").unwrap(), want);
        assert_eq!(resolve_in(me, None, dir.join("f").to_str().unwrap().as_bytes()).unwrap(), want);
        assert!(resolve_in(me, Some(cwd), b"absent").is_err());
        assert!(resolve_in(me, None, b"relative").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn our_own_process_is_host() {
        assert_eq!(origin(Some(std::process::id()), None), (Origin::Host, Lookup::Pid));
        // A pid that cannot exist (above pid_max), with no parent: unknown, not host.
        assert_eq!(origin(Some(u32::MAX), None), (Origin::Unknown, Lookup::Gone));
        assert!(!is_host_runtime_binary(Some(std::process::id())));
    }
}
