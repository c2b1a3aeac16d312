//! The cgroup freezers and the pidfd behind `--respond` and `sockwatch
//! release`: find the mounts, freeze, thaw, look a container's cgroups up by
//! id, and SIGKILL a process without ever hitting a reused pid. Which cgroup
//! and whether at all is decided in `core::respond`.
//!
//! Every path is opened relative to the hierarchy's mount point, without `..`
//! and without following a last symlink: a cgroup's path comes from /proc, and
//! a container with a writable cgroup file system names cgroups of its own.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, openat};
use nix::libc;
use nix::sys::stat::Mode;

use crate::core::cgroup::{Container, container_dir};
use crate::core::respond::{Freezers, Hierarchy, Target};

/// Directories looked at, at most, when a container's cgroups are searched by
/// id (a host with thousands of cgroups is searched whole; a container making
/// millions of them is not).
const WALK_DIRS: usize = 100_000;
/// Deeper than any runtime nests a container's cgroup.
const WALK_DEPTH: usize = 8;

/// The hierarchies with a freezer, as mounted where sockwatch runs.
pub struct Cgroups {
    v1: Option<Mount>,
    v2: Option<Mount>,
}

struct Mount {
    path: PathBuf,
    dir: OwnedFd,
}

/// What the kernel says of a cgroup's freezer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Every task is frozen.
    Frozen,
    /// Asked to freeze; some tasks are still on their way there.
    Freezing,
    Thawed,
}

impl Cgroups {
    /// Finds the mounts in /proc/self/mountinfo: the unified hierarchy, and v1's
    /// freezer controller. Only mounts of a hierarchy's root count (a bind mount
    /// of a sub-tree would put every path in the wrong place).
    pub fn discover() -> Cgroups {
        let text = fs::read("/proc/self/mountinfo").unwrap_or_default();
        let (mut v1, mut v2) = (None, None);
        for line in text.split(|&b| b == b'\n') {
            let Some((root, point, fstype, opts)) = mountinfo_line(line) else { continue };
            if root != b"/" {
                continue;
            }
            let slot = match fstype {
                b"cgroup2" => &mut v2,
                b"cgroup" if opts.split(|&b| b == b',').any(|o| o == b"freezer") => &mut v1,
                _ => continue,
            };
            if slot.is_none() {
                let path = PathBuf::from(OsStr::from_bytes(&unescape(point)));
                if let Ok(dir) = File::open(&path) {
                    *slot = Some(Mount { path, dir: dir.into() });
                }
            }
        }
        Cgroups { v1, v2 }
    }

    pub fn freezers(&self) -> Freezers {
        Freezers { v1: self.v1.is_some(), v2: self.v2.is_some() }
    }

    /// Where a cgroup is on this host, for messages.
    pub fn path_of(&self, t: &Target) -> Option<PathBuf> {
        self.mount(t.hierarchy).map(|m| m.path.join(t.path.trim_start_matches('/')))
    }

    fn mount(&self, h: Hierarchy) -> Option<&Mount> {
        match h {
            Hierarchy::V1 => self.v1.as_ref(),
            Hierarchy::V2 => self.v2.as_ref(),
        }
    }

    fn open(&self, t: &Target, file: &str, write: bool) -> io::Result<File> {
        let m = self.mount(t.hierarchy).ok_or_else(|| {
            io::Error::other(format!("no cgroup {} freezer is mounted", t.hierarchy.as_str()))
        })?;
        // Not openat2 with RESOLVE_BENEATH: the packaged unit's
        // RestrictSUIDSGID= makes systemd answer every openat2 with ENOSYS. The
        // path cannot leave the mount: `core::respond` takes no `..`
        // component, and a cgroup file system holds no symlinks (the last
        // component is not followed all the same).
        if t.path.split('/').any(|c| c == "..") {
            return Err(io::Error::other(format!("{:?} is no cgroup path", t.path)));
        }
        let rel = format!("{}/{file}", t.path.trim_matches('/'));
        let rel = rel.trim_start_matches('/');
        let access = if write { OFlag::O_WRONLY } else { OFlag::O_RDONLY };
        let fd = openat(&m.dir, rel, access | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW, Mode::empty())
            .map_err(io::Error::from)?;
        Ok(File::from(fd))
    }

    /// Freezes the cgroup (and every cgroup below it) and says how far the kernel
    /// got at once.
    pub fn freeze(&self, t: &Target) -> io::Result<State> {
        self.set(t, true)?;
        self.state(t)
    }

    /// Thaws the cgroup.
    pub fn thaw(&self, t: &Target) -> io::Result<()> {
        self.set(t, false)
    }

    fn set(&self, t: &Target, frozen: bool) -> io::Result<()> {
        let (file, value): (&str, &[u8]) = match (t.hierarchy, frozen) {
            (Hierarchy::V2, true) => ("cgroup.freeze", b"1"),
            (Hierarchy::V2, false) => ("cgroup.freeze", b"0"),
            (Hierarchy::V1, true) => ("freezer.state", b"FROZEN"),
            (Hierarchy::V1, false) => ("freezer.state", b"THAWED"),
        };
        self.open(t, file, true)?.write_all(value)
    }

    /// The freezer's state. v2: `cgroup.events` says whether every task is
    /// frozen, `cgroup.freeze` whether it was asked (by sockwatch, the runtime,
    /// or an ancestor's freeze, which `cgroup.events` shows too).
    pub fn state(&self, t: &Target) -> io::Result<State> {
        let mut buf = Vec::with_capacity(128);
        match t.hierarchy {
            Hierarchy::V2 => {
                self.open(t, "cgroup.events", false)?.take(4096).read_to_end(&mut buf)?;
                if buf.split(|&b| b == b'\n').any(|l| l == b"frozen 1") {
                    return Ok(State::Frozen);
                }
                buf.clear();
                self.open(t, "cgroup.freeze", false)?.take(64).read_to_end(&mut buf)?;
                Ok(if buf.trim_ascii() == b"1" { State::Freezing } else { State::Thawed })
            }
            Hierarchy::V1 => {
                self.open(t, "freezer.state", false)?.take(64).read_to_end(&mut buf)?;
                match buf.trim_ascii() {
                    b"FROZEN" => Ok(State::Frozen),
                    b"FREEZING" => Ok(State::Freezing),
                    b"THAWED" => Ok(State::Thawed),
                    other => Err(io::Error::other(format!(
                        "freezer.state says {:?}",
                        String::from_utf8_lossy(other)
                    ))),
                }
            }
        }
    }

    /// Every container cgroup in the freezer hierarchies, with the container it
    /// names (the container's own cgroup, not those below it). The walk is
    /// bounded in depth and in directories; `complete` is false when a bound cut
    /// it short.
    pub fn containers(&self) -> (Vec<(Container, Target)>, bool) {
        let mut out = Vec::new();
        let mut complete = true;
        for (h, m) in [(Hierarchy::V1, &self.v1), (Hierarchy::V2, &self.v2)] {
            let Some(m) = m else { continue };
            let mut seen = 0;
            let mut queue: VecDeque<(String, usize)> = VecDeque::from([(String::new(), 0)]);
            while let Some((rel, depth)) = queue.pop_front() {
                let Ok(entries) = fs::read_dir(m.path.join(rel.trim_start_matches('/'))) else {
                    continue;
                };
                for e in entries.flatten() {
                    if !e.file_type().is_ok_and(|t| t.is_dir()) {
                        continue;
                    }
                    seen += 1;
                    if seen > WALK_DIRS {
                        complete = false;
                        break;
                    }
                    let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
                    let path = format!("{rel}/{name}");
                    match container_dir(path.as_bytes()) {
                        Some((c, dir)) if dir == path.as_bytes() => {
                            out.push((c, Target { hierarchy: h, path }));
                        }
                        // Below a container: the container's own cgroups.
                        Some(_) => {}
                        None if depth + 1 < WALK_DEPTH => queue.push_back((path, depth + 1)),
                        None => complete = false,
                    }
                }
                if seen > WALK_DIRS {
                    break;
                }
            }
        }
        (out, complete)
    }
}

type MountLine<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8]);

/// `root`, mount point, file system type and super options of a mountinfo
/// line: `ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - TYPE SOURCE SUPER`.
fn mountinfo_line(line: &[u8]) -> Option<MountLine<'_>> {
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let dash = fields.iter().position(|f| *f == b"-")?;
    let root = *fields.get(3)?;
    let point = *fields.get(4)?;
    let fstype = *fields.get(dash + 1)?;
    let opts = *fields.get(dash + 3)?;
    Some((root, point, fstype, opts))
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\'
            && i + 3 < s.len()
            && s[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b))
        {
            out.push((s[i + 1] - b'0') * 64 + (s[i + 2] - b'0') * 8 + (s[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// What a kill came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Killed {
    Killed,
    /// The process had exited (or its pid belongs to a process started after
    /// the connect).
    Gone,
}

/// SIGKILLs `pid` if it is the process that connected at `at` (Unix seconds):
/// the pidfd pins the process, and its start time, read after, tells a pid
/// reused since the connect, which is then left alone.
pub fn kill(pid: u32, at: f64, started: impl Fn(u32) -> Option<f64>) -> io::Result<Killed> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) { Ok(Killed::Gone) } else { Err(e) };
    }
    // SAFETY: the descriptor was just returned to us and is owned here only.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // The process the pidfd holds started at or before the connect, else it is
    // another that got the pid later (start times are in clock ticks).
    if started(pid).is_none_or(|t| t > at + START_SLACK) {
        return Ok(Killed::Gone);
    }
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) { Ok(Killed::Gone) } else { Err(e) };
    }
    Ok(Killed::Killed)
}

/// Start times count clock ticks (10 ms) and audit stamps milliseconds from a
/// coarse clock: room for both.
const START_SLACK: f64 = 0.05;

/// The cgroup file of a living process (not a zombie: an exited process's
/// file shows `/` for every v1 hierarchy and only its v2 path, which would put
/// the freeze in the wrong hierarchy), bounded (a container's own cgroups can
/// make long paths).
pub fn cgroup_of(pid: u32) -> Option<Vec<u8>> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the last ')' (the command name may hold any).
    let close = stat.iter().rposition(|&b| b == b')')?;
    if matches!(stat.get(close + 2), Some(b'Z' | b'X') | None) {
        return None;
    }
    let mut buf = Vec::with_capacity(512);
    File::open(Path::new("/proc").join(pid.to_string()).join("cgroup"))
        .ok()?
        .take(64 << 10)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let l =
            b"35 24 0:30 / /sys/fs/cgroup/freezer rw,relatime shared:12 - cgroup cgroup rw,freezer";
        assert_eq!(
            mountinfo_line(l),
            Some((&b"/"[..], &b"/sys/fs/cgroup/freezer"[..], &b"cgroup"[..], &b"rw,freezer"[..]))
        );
        let l = b"30 24 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate";
        assert_eq!(mountinfo_line(l).map(|m| m.2), Some(&b"cgroup2"[..]));
        assert_eq!(mountinfo_line(b"garbage"), None);
        assert_eq!(unescape(br"/mnt/a\040b"), b"/mnt/a b");
        assert_eq!(unescape(br"/x\04"), br"/x\04");
    }

    #[test]
    fn kill_leaves_a_process_started_after_the_connect_alone() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        // The connect was long before this process started: a reused pid.
        assert_eq!(kill(pid, 1.0, |_| Some(1000.0)).unwrap(), Killed::Gone);
        assert!(child.try_wait().unwrap().is_none(), "still running");
        // Started before the connect: it is the one.
        assert_eq!(kill(pid, 1000.0, |_| Some(999.0)).unwrap(), Killed::Killed);
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }
}
