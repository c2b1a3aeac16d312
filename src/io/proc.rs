//! What /proc says about the process behind an event: its container, a fuller argv,
//! and where a socket path leads inside its mount namespace. Any of it may be gone
//! by the time we look; the callers get `None` or `Unknown`, never a guess.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};

use nix::libc;

use crate::core::detect::FileId;
use crate::core::origin::{Exe, HostNamespaces, Namespaces, ProcView};

use super::lookups::{Lookups, Stalled};

/// The live /proc, as the attribution walk sees it, with the host's namespaces
/// read once at start (they never change).
pub struct LiveProc {
    host: HostNamespaces,
    /// Reads a process can make hang (its argv, paths in its root) run here.
    pub lookups: Lookups,
}

impl LiveProc {
    pub fn new(host: HostNamespaces) -> LiveProc {
        LiveProc { host, lookups: Lookups::new() }
    }

    /// `resolve_in` on a helper: a FUSE mount the process serves may never answer.
    pub fn resolve(
        &self,
        pid: u32,
        cwd: Option<&[u8]>,
        path: &[u8],
    ) -> Result<io::Result<FileId>, Stalled> {
        let (cwd, path) = (cwd.map(<[u8]>::to_vec), path.to_vec());
        self.lookups.run(mnt_ns(pid), move || resolve_in(pid, cwd.as_deref(), &path))
    }
}

/// Which process showed the host's namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The host's init, where the runtimes and their monitors run.
    Pid1,
    /// kthreadd, which always lives in the initial namespaces; PID 1's links can
    /// be unreadable even to root (a sandbox's init, say).
    Kthreadd,
    /// Neither could be read: only the pid namespace is known (sockwatch's own,
    /// which audit netlink proves to be the initial one).
    None,
}

/// The host's namespaces and where they came from. sockwatch's own mount
/// namespace is no reference: the packaged unit (ProtectSystem=, PrivateTmp=)
/// gives it a private one, and comparing with it makes every runtime monitor look
/// foreign, so dead clients would fall through to "host".
pub fn host_reference() -> (HostNamespaces, Reference) {
    let full = |ns: Namespaces| HostNamespaces { mnt: Some(ns.mnt), pid: Some(ns.pid) };
    if let Some(ns) = namespaces_of("1") {
        return (full(ns), Reference::Pid1);
    }
    if is_kthreadd(2) {
        if let Some(ns) = namespaces_of("2") {
            return (full(ns), Reference::Kthreadd);
        }
    }
    let own_pid = namespaces_of("self").map(|n| n.pid);
    (HostNamespaces { mnt: None, pid: own_pid }, Reference::None)
}

/// Whether `pid` is the kernel's thread spawner: a kernel thread (PF_KTHREAD in
/// stat's flags) named kthreadd with no parent. No user process can be either.
fn is_kthreadd(pid: u32) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let Ok(stat) = fs::read(format!("/proc/{pid}/stat")) else { return false };
    let comm_ok = stat
        .iter()
        .rposition(|&b| b == b')')
        .is_some_and(|close| stat[..close].ends_with(b"(kthreadd"));
    // After the comm: state, ppid, pgrp, session, tty_nr, tpgid, flags.
    comm_ok
        && stat_field(&stat, 1) == Some(0)
        && stat_field(&stat, 6).is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// The `i`th numeric field of a stat line after the parenthesised comm (which may
/// hold spaces and parentheses itself), counting the state as 0.
fn stat_field(stat: &[u8], i: usize) -> Option<u64> {
    let after = &stat[stat.iter().rposition(|&b| b == b')')? + 1..];
    std::str::from_utf8(after).ok()?.split_whitespace().nth(i)?.parse().ok()
}

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

    fn host_namespaces(&self) -> HostNamespaces {
        self.host
    }

    fn start_time(&self, pid: u32) -> Option<f64> {
        // Field 22 of stat: clock ticks since boot, on CLOCK_BOOTTIME.
        let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
        let ticks = stat_field(&stat, 19)?;
        let boot =
            clock(nix::time::ClockId::CLOCK_REALTIME)? - clock(nix::time::ClockId::CLOCK_BOOTTIME)?;
        // USER_HZ is 100 on every Linux architecture's user ABI.
        Some(boot + ticks as f64 / 100.0)
    }

    fn exe(&self, pid: u32) -> Exe {
        use std::os::unix::ffi::OsStrExt;
        let (Some(meta), Ok(link)) =
            (stat_cached(&format!("/proc/{pid}/exe")), fs::read_link(format!("/proc/{pid}/exe")))
        else {
            return Exe::Unreadable;
        };
        let Some(ns) = namespaces_of(&pid.to_string()) else { return Exe::Unreadable };
        // A binary replaced by a package upgrade reads "... (deleted)".
        let path = link.as_os_str().as_bytes();
        let path = path.strip_suffix(b" (deleted)").unwrap_or(path);
        const SYSTEM_DIRS: [&[u8]; 8] = [
            b"/usr/bin/",
            b"/usr/sbin/",
            b"/usr/local/bin/",
            b"/usr/local/sbin/",
            b"/usr/libexec/",
            b"/usr/lib/",
            b"/bin/",
            b"/sbin/",
        ];
        if meta.uid != 0 || !SYSTEM_DIRS.iter().any(|d| path.starts_with(d)) {
            return Exe::Untrusted(path.to_vec());
        }
        // The path names the host's file when the process is in the host's mount
        // namespace. Only when no reference showed that namespace does the very
        // same file (dev, inode) installed at that path in sockwatch's view (whose
        // /usr the unit keeps as the host's, read-only) stand in for it: with a
        // reference, a container that mounts the host's binaries must not pass.
        let host_view = match self.host.mnt {
            Some(mnt) => mnt == ns.mnt,
            None => fs::metadata(std::ffi::OsStr::from_bytes(path))
                .is_ok_and(|here| file_id(&here) == meta.id),
        };
        if host_view { Exe::Trusted(path.to_vec()) } else { Exe::Untrusted(path.to_vec()) }
    }
}

/// Every task (process or thread) of every container process, with its start,
/// for the blind-spot reports. Processes that vanish while this runs are left
/// out.
pub fn processes() -> Vec<crate::core::blind::Proc> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let container = fs::read(format!("/proc/{pid}/cgroup"))
            .ok()
            .and_then(|t| crate::core::cgroup::container_of(&t));
        // Host processes are never named; their threads need not be read.
        if container.is_none() {
            continue;
        }
        for task in fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
            let Ok(stat) = fs::read(task.path().join("stat")) else { continue };
            let Some(start) = stat_field(&stat, 19) else { continue };
            out.push(crate::core::blind::Proc { pid, start, container: container.clone() });
        }
    }
    out
}

/// Now, in the clock ticks since boot that /proc/<pid>/stat counts start times in.
pub fn boot_ticks_now() -> u64 {
    clock(nix::time::ClockId::CLOCK_BOOTTIME).map_or(0, |s| (s * 100.0) as u64)
}

/// The kernel command line (empty when unreadable).
pub fn kernel_cmdline() -> String {
    fs::read_to_string("/proc/cmdline").unwrap_or_default()
}

fn clock(id: nix::time::ClockId) -> Option<f64> {
    let t = nix::time::clock_gettime(id).ok()?;
    Some(t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
}

/// The most of a process's argv that is read and kept: a container can make its
/// argv megabytes long, and every connect would cost reading and encoding it.
pub const MAX_ARGV: usize = 4096;

fn read_argv(pid: u32) -> Option<Vec<Vec<u8>>> {
    read_argv_bounded(pid).map(|(argv, _)| argv)
}

/// At most `MAX_ARGV` bytes of the argv, and whether there was more.
fn read_argv_bounded(pid: u32) -> Option<(Vec<Vec<u8>>, bool)> {
    use std::io::Read;
    // One buffer of the cap's size, filled by as few reads as the kernel allows:
    // each read of another process's argv walks its memory anew. On the stack:
    // a heap block this size per finding made the allocator consolidate.
    let mut raw = [0u8; MAX_ARGV + 1];
    let mut f = fs::File::open(format!("/proc/{pid}/cmdline")).ok()?;
    let mut len = 0;
    while len < raw.len() {
        match f.read(&mut raw[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    let truncated = len > MAX_ARGV;
    let raw = &raw[..len.min(MAX_ARGV)];
    let trimmed = raw.strip_suffix(b"\0").unwrap_or(raw);
    Some((trimmed.split(|&b| b == 0).map(<[u8]>::to_vec).collect(), truncated))
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
    let link = |what: &str| {
        fs::read_link(format!("/proc/{pid}/{what}")).ok().map(|p| p.as_os_str().as_bytes().to_vec())
    };
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    crate::core::finding::Actor {
        pid: Some(pid),
        ppid: field("PPid:"),
        uid: field("Uid:"),
        comm: fs::read(format!("/proc/{pid}/comm"))
            .ok()
            .map(|c| c.strip_suffix(b"\n").unwrap_or(&c).to_vec()),
        exe: link("exe"),
        cwd: link("cwd"),
        ..argv_of(pid)
    }
}

/// An actor's argv, up to `MAX_ARGV` bytes, and whether it was longer.
fn argv_of(pid: u32) -> crate::core::finding::Actor {
    let (cmdline, cmdline_truncated) = read_argv_bounded(pid).unwrap_or_default();
    crate::core::finding::Actor { cmdline, cmdline_truncated, ..Default::default() }
}

/// The runtimes that own their sockets by default: they may delete and re-create
/// them (`socket_owners` in the configuration, `--socket-owner`).
/// systemd creates the sockets of socket-activated runtimes (docker.socket,
/// podman.socket), for the system and for each user.
pub const SOCKET_OWNERS: [&str; 8] =
    ["dockerd", "containerd", "podman", "crio", "systemd", "buildkitd", "k3s", "cri-dockerd"];

/// Whether `pid` is one of `owners`, proven on the host side: a root-owned binary
/// from the system directories, in the host's mount namespace, with that name. A
/// process that is gone proves nothing.
pub fn is_socket_owner(view: &LiveProc, pid: i32, owners: &[String]) -> bool {
    let Ok(pid) = u32::try_from(pid) else { return false };
    match view.exe(pid) {
        Exe::Trusted(path) => {
            let base = path.rsplit(|&b| b == b'/').next().unwrap_or(&path);
            owners.iter().any(|o| o.as_bytes() == base)
        }
        _ => false,
    }
}

/// Whether `pid` is user `uid`'s own process outside any container: a
/// rootless runtime (dockerd under rootlesskit, podman, the user's systemd)
/// runs in a mount namespace of its own from wherever the user installed it,
/// so only who it is can be checked. The socket under /run/user/UID is that
/// user's anyway; a container process running as the user is still a finding.
pub fn is_users_own(pid: i32, uid: u32) -> bool {
    let Ok(pid) = u32::try_from(pid) else { return false };
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else { return false };
    let real = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u32>().ok());
    let in_container = fs::read(format!("/proc/{pid}/cgroup"))
        .ok()
        .is_none_or(|t| crate::core::cgroup::container_of(&t).is_some());
    pid != 0 && real == Some(uid) && !in_container
}

/// An argv, and whether it was cut at `MAX_ARGV`.
pub type Argv = (Vec<Vec<u8>>, bool);

/// The mount namespace a lookup for `pid` happens in.
fn mnt_ns(pid: u32) -> Option<u64> {
    namespaces_of(&pid.to_string()).map(|n| n.mnt)
}

/// Identity and owner of a file as the kernel has them cached
/// (AT_STATX_DONT_SYNC): a stat of a process's executable must not ask a FUSE
/// daemon (or a network file system) that can leave it unanswered.
struct Cached {
    id: FileId,
    uid: u32,
}

fn stat_cached(path: &str) -> Option<Cached> {
    let path = std::ffi::CString::new(path).ok()?;
    // SAFETY: statx writes only into `stx`, a plain C struct all-zero is valid for.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_STATX_DONT_SYNC,
            libc::STATX_INO | libc::STATX_UID,
            &mut stx,
        )
    };
    (rc == 0).then_some(Cached {
        id: FileId { major: stx.stx_dev_major, minor: stx.stx_dev_minor, inode: stx.stx_ino },
        uid: stx.stx_uid,
    })
}

/// The kernel cuts PROCTITLE at 128 bytes. When it did, and the process is
/// still there with an argv that begins the same way, the whole argv, up to
/// `MAX_ARGV` bytes, and whether it was cut there. Read on the loop: the
/// kernel reads another process's argv only from anonymous memory (never from
/// a file mapping, such as one on a FUSE mount the process serves), so this
/// read cannot be made to wait on a file system.
pub fn full_cmdline(pid: Option<u32>, proctitle: Option<&[Vec<u8>]>) -> Option<Argv> {
    let title = proctitle?;
    let joined_len: usize = title.iter().map(|a| a.len() + 1).sum::<usize>().saturating_sub(1);
    if joined_len < 128 {
        return None;
    }
    let (argv, truncated) = read_argv_bounded(pid?)?;
    let (full, cut) = (argv.join(&0u8), title.join(&0u8));
    (full.starts_with(&cut) && full.len() > cut.len()).then_some((argv, truncated))
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
        let cwd =
            cwd.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "relative path, no cwd"))?;
        rel.extend_from_slice(cwd);
        rel.push(b'/');
    }
    rel.extend_from_slice(path);
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT);
    let fd = openat2(&root, OsStr::from_bytes(&rel), how)?;
    Ok(file_id(&File::from(fd).metadata()?))
}

pub fn file_id(m: &fs::Metadata) -> FileId {
    let dev = m.dev();
    FileId {
        major: nix::sys::stat::major(dev) as u32,
        minor: nix::sys::stat::minor(dev) as u32,
        inode: m.ino(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process with a 300 KiB argv of non-UTF-8 bytes (several arguments:
    /// one may not exceed 128 KiB): what is read stops at `MAX_ARGV`, and says so.
    #[test]
    fn a_huge_argv_is_read_only_up_to_the_cap() {
        use std::os::unix::ffi::OsStrExt;
        let big = vec![0xffu8; 100 * 1024];
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            // Not a lone command: dash would exec sleep in its place.
            .arg("sleep 5; true")
            .arg("sh")
            .args([&big, &big, &big].map(|b| std::ffi::OsStr::from_bytes(b)))
            .spawn()
            .unwrap();
        let pid = child.id();
        // The record's PROCTITLE: the first 128 bytes of the argv.
        let mut title: Vec<Vec<u8>> =
            vec![b"/bin/sh".to_vec(), b"-c".to_vec(), b"sleep 5; true".to_vec(), b"sh".to_vec()];
        let used: usize = title.iter().map(|a| a.len() + 1).sum();
        title.push(vec![0xff; 128 - used]);
        // The child may not have reached exec yet when spawn returns.
        let mut got = None;
        for _ in 0..200 {
            got = full_cmdline(Some(pid), Some(&title));
            if got.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // The process behind a socket-file event is read the same way.
        let who = actor(pid as i32);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(who.cmdline_truncated, "{:?}", who.cmdline.len());
        let (argv, truncated) = got.expect("the argv, as far as it is read");
        assert!(truncated);
        let bytes: usize = argv.iter().map(|a| a.len() + 1).sum();
        assert!(bytes <= MAX_ARGV + 1, "{bytes}");
        assert_eq!(&argv[..4], &title[..4]);
        // A short argv is whole and not marked.
        let me = std::process::id();
        let (_, cut) = read_argv_bounded(me).unwrap();
        assert!(!cut);
    }

    #[test]
    fn kthreadd_is_told_from_user_processes() {
        // PID 2 is kthreadd on every Linux since 2.6.22, unless /proc belongs to
        // another pid namespace.
        if fs::read_to_string("/proc/2/comm").is_ok_and(|c| c == "kthreadd\n") {
            assert!(is_kthreadd(2));
        }
        assert!(!is_kthreadd(std::process::id()));
        assert!(
            !is_kthreadd(1) || fs::read_to_string("/proc/1/comm").is_ok_and(|c| c == "kthreadd\n")
        );
        assert!(!is_kthreadd(u32::MAX));
    }

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
        let (host, reference) = host_reference();
        let v = LiveProc::new(host);
        assert!(v.cgroup(me).is_some());
        assert!(!v.cmdline(me).unwrap().is_empty());
        // Every reference knows the pid namespace; ours is the host's only when
        // the tests run in the initial one (as root on a host, they do).
        let own = v.namespaces(me).unwrap();
        assert!(host.pid.is_some(), "{reference:?}");
        // PID 1 first whenever its links can be read, kthreadd next.
        let want = if namespaces_of("1").is_some() {
            Reference::Pid1
        } else if is_kthreadd(2) && namespaces_of("2").is_some() {
            Reference::Kthreadd
        } else {
            Reference::None
        };
        assert_eq!(reference, want);
        assert_eq!(host.mnt.is_none(), reference == Reference::None);
        assert!(own.mnt > 0 && own.pid > 0);
        // A pid above pid_max cannot exist.
        assert!(v.cgroup(u32::MAX).is_none() && v.namespaces(u32::MAX).is_none());
        let started = v.start_time(me).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(started <= now + 0.05 && started > now - 3600.0, "started {started}, now {now}");
        // The test binary is not in a system directory.
        assert!(
            matches!(v.exe(me), Exe::Untrusted(p) if p.ends_with(std::env::current_exe().unwrap().file_name().unwrap().as_encoded_bytes()))
        );
        assert_eq!(v.exe(u32::MAX), Exe::Unreadable);
    }
}
