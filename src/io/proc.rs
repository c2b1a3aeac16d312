//! What /proc says about the process behind an event: its container, a fuller argv,
//! and where a socket path leads inside its mount namespace. Any of it may be gone
//! by the time we look; the callers get `None` or `Unknown`, never a guess.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::core::cgroup::container_of;
use crate::core::detect::{FileId, Origin};

/// Why an origin was decided the way it was, for the counters.
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
    if let Some(text) = pid.and_then(|p| fs::read(format!("/proc/{p}/cgroup")).ok()) {
        return match container_of(&text) {
            Some(container) => (Origin::Container { container, via_parent: false }, Lookup::Pid),
            None => (Origin::Host, Lookup::Pid),
        };
    }
    let Some(ppid) = ppid.filter(|&p| p > 1) else { return (Origin::Unknown, Lookup::Gone) };
    let Ok(text) = fs::read(format!("/proc/{ppid}/cgroup")) else { return (Origin::Unknown, Lookup::Gone) };
    match container_of(&text) {
        Some(container) => (Origin::Container { container, via_parent: true }, Lookup::Parent),
        None if is_runtime_monitor(ppid) => (Origin::Unknown, Lookup::Parent),
        None => (Origin::Host, Lookup::Parent),
    }
}

fn is_runtime_monitor(pid: u32) -> bool {
    let Ok(exe) = fs::read_link(format!("/proc/{pid}/exe")) else { return false };
    let base = exe.file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default();
    base.starts_with("containerd-shim") || base == "conmon"
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

/// Resolves an AF_UNIX path as the process would, through its root and cwd, to the
/// file it names. Used only for connect events that carry no PATH record.
pub fn resolve_in(pid: u32, cwd: Option<&[u8]>, path: &[u8]) -> io::Result<FileId> {
    use std::os::unix::ffi::OsStrExt;
    let mut p = PathBuf::from(format!("/proc/{pid}/root"));
    if path.first() != Some(&b'/') {
        let cwd = cwd.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "relative path, no cwd"))?;
        p.push(std::ffi::OsStr::from_bytes(cwd.strip_prefix(b"/").unwrap_or(cwd)));
    }
    p.push(std::ffi::OsStr::from_bytes(path.strip_prefix(b"/").unwrap_or(path)));
    let m = fs::metadata(&p)?;
    Ok(file_id(&m))
}

pub fn file_id(m: &fs::Metadata) -> FileId {
    let dev = m.dev();
    FileId {
        major: nix::sys::stat::major(dev) as u32,
        minor: nix::sys::stat::minor(dev) as u32,
        inode: m.ino(),
    }
}
