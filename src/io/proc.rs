//! What /proc says about the process behind an event: its container, a fuller argv,
//! and where a socket path leads inside its mount namespace. Any of it may be gone
//! by the time we look; the callers get `None` or `Unknown`, never a guess.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};

use crate::core::detect::FileId;
use crate::core::origin::{Exe, Namespaces, ProcView};

/// The live /proc, as the attribution walk sees it.
pub struct LiveProc;

impl ProcView for LiveProc {
    fn cgroup(&self, pid: u32) -> Option<Vec<u8>> {
        fs::read(format!("/proc/{pid}/cgroup")).ok()
    }

    fn cmdline(&self, pid: u32) -> Option<Vec<Vec<u8>>> {
        read_argv(pid)
    }

    fn namespaces(&self, pid: u32) -> Option<Namespaces> {
        namespaces_of(&pid.to_string())
    }

    /// sockwatch's own: audit netlink answers only in the initial namespaces, and
    /// PID 1's links may be unreadable even to root.
    fn host_namespaces(&self) -> Option<Namespaces> {
        namespaces_of("self")
    }

    fn start_time(&self, pid: u32) -> Option<f64> {
        // Field 22 of stat, after the parenthesised comm (which may hold spaces and
        // parentheses itself): clock ticks since boot, on CLOCK_BOOTTIME.
        let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
        let after = &stat[stat.iter().rposition(|&b| b == b')')? + 1..];
        let ticks: u64 = std::str::from_utf8(after).ok()?.split_whitespace().nth(19)?.parse().ok()?;
        let boot = clock(nix::time::ClockId::CLOCK_REALTIME)? - clock(nix::time::ClockId::CLOCK_BOOTTIME)?;
        // USER_HZ is 100 on every Linux architecture's user ABI.
        Some(boot + ticks as f64 / 100.0)
    }

    fn exe(&self, pid: u32) -> Exe {
        use std::os::unix::ffi::OsStrExt;
        let (Ok(meta), Ok(link)) = (fs::metadata(format!("/proc/{pid}/exe")), fs::read_link(format!("/proc/{pid}/exe"))) else {
            return Exe::Unreadable;
        };
        let host_mnt = match (namespaces_of(&pid.to_string()), namespaces_of("self")) {
            (Some(p), Some(h)) => p.mnt == h.mnt,
            (None, _) => return Exe::Unreadable,
            _ => false,
        };
        // A binary replaced by a package upgrade reads "... (deleted)".
        let path = link.as_os_str().as_bytes();
        let path = path.strip_suffix(b" (deleted)").unwrap_or(path);
        const SYSTEM_DIRS: [&[u8]; 8] =
            [b"/usr/bin/", b"/usr/sbin/", b"/usr/local/bin/", b"/usr/local/sbin/", b"/usr/libexec/", b"/usr/lib/", b"/bin/", b"/sbin/"];
        if host_mnt && meta.uid() == 0 && SYSTEM_DIRS.iter().any(|d| path.starts_with(d)) {
            Exe::Trusted(path.to_vec())
        } else {
            Exe::Untrusted
        }
    }
}

fn clock(id: nix::time::ClockId) -> Option<f64> {
    let t = nix::time::clock_gettime(id).ok()?;
    Some(t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
}

fn read_argv(pid: u32) -> Option<Vec<Vec<u8>>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let trimmed = raw.strip_suffix(b"\0").unwrap_or(&raw);
    Some(trimmed.split(|&b| b == 0).map(<[u8]>::to_vec).collect())
}

fn namespaces_of(pid: &str) -> Option<Namespaces> {
    let inode = |kind: &str| -> Option<u64> {
        let link = fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok()?;
        let s = link.to_str()?;
        s.strip_prefix(kind)?.strip_prefix(":[")?.strip_suffix(']')?.parse().ok()
    };
    Some(Namespaces { mnt: inode("mnt")?, pid: inode("pid")? })
}

/// What /proc says about the process behind a fanotify event (maybe nothing).
pub fn actor(pid: i32) -> crate::core::finding::Actor {
    use std::os::unix::ffi::OsStrExt;
    let Ok(pid) = u32::try_from(pid) else { return Default::default() };
    if pid == 0 {
        return Default::default();
    }
    let link = |what: &str| fs::read_link(format!("/proc/{pid}/{what}")).ok().map(|p| p.as_os_str().as_bytes().to_vec());
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok());
    crate::core::finding::Actor {
        pid: Some(pid),
        ppid: field("PPid:"),
        uid: field("Uid:"),
        comm: fs::read(format!("/proc/{pid}/comm")).ok().map(|c| c.strip_suffix(b"\n").unwrap_or(&c).to_vec()),
        exe: link("exe"),
        cwd: link("cwd"),
        cmdline: read_argv(pid).unwrap_or_default(),
    }
}

/// The runtimes that own their sockets by default: they may delete and re-create
/// them (`socket_owners` in the configuration, `--socket-owner`).
pub const SOCKET_OWNERS: [&str; 4] = ["dockerd", "containerd", "podman", "crio"];

/// Whether `pid` is one of `owners`, proven on the host side: a root-owned binary
/// from the system directories, in the host's mount namespace, with that name. A
/// process that is gone proves nothing.
pub fn is_socket_owner(pid: i32, owners: &[String]) -> bool {
    let Ok(pid) = u32::try_from(pid) else { return false };
    match LiveProc.exe(pid) {
        Exe::Trusted(path) => {
            let base = path.rsplit(|&b| b == b'/').next().unwrap_or(&path);
            owners.iter().any(|o| o.as_bytes() == base)
        }
        _ => false,
    }
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
    let argv = read_argv(pid?)?;
    let (full, cut) = (argv.join(&0u8), title.join(&0u8));
    (full.starts_with(&cut) && full.len() > cut.len()).then_some(argv)
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
    fn live_view_of_ourselves() {
        let me = std::process::id();
        let v = LiveProc;
        assert!(v.cgroup(me).is_some());
        assert!(!v.cmdline(me).unwrap().is_empty());
        assert_eq!(v.namespaces(me), v.host_namespaces());
        assert!(v.host_namespaces().is_some_and(|n| n.mnt > 0 && n.pid > 0));
        // A pid above pid_max cannot exist.
        assert!(v.cgroup(u32::MAX).is_none() && v.namespaces(u32::MAX).is_none());
        assert!(!is_host_runtime_binary(Some(me)));
        let started = v.start_time(me).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(started <= now + 0.05 && started > now - 3600.0, "started {started}, now {now}");
        // The test binary is not in a system directory.
        assert_eq!(v.exe(me), Exe::Untrusted);
        assert_eq!(v.exe(u32::MAX), Exe::Unreadable);
    }
}
