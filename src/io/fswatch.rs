//! fanotify on the watched socket files, for what audit cannot see well: a
//! socket's permissions changing (FAN_ATTRIB on the socket) and a socket being
//! deleted, replaced or re-created (entry events on its directory). One group,
//! one fd, in the same mio loop.
//!
//! Measured on 6.1, 6.12 and 6.18: no kernel reports an open or permission event
//! for a socket file (open() fails with ENXIO before any hook), and connect() is
//! invisible to fanotify; audit sees connects. fanotify guards the file.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::libc;
use nix::sys::fanotify::{EventFFlags, Fanotify, InitFlags, MarkFlags, MaskFlags};

use crate::core::fanotify::{parse, FanEvent, FAN_ATTRIB, FAN_CREATE, FAN_DELETE, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_Q_OVERFLOW};

/// A socket file's owner and mode, to tell what a FAN_ATTRIB changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perms {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

struct Watched {
    path: PathBuf,
    name: Vec<u8>,
    dir_handle: Option<Vec<u8>>,
    perms: Option<Perms>,
}

/// What happened to a watched socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Perms { path: PathBuf, old: Option<Perms>, new: Perms, pid: i32 },
    /// Deleted, or moved away.
    Removed { path: PathBuf, pid: i32 },
    /// Created, or moved into place.
    Appeared { path: PathBuf, pid: i32 },
    /// The kernel's queue overflowed: changes may have been missed.
    Overflow,
}

pub struct FsWatch {
    fan: Fanotify,
    sockets: Vec<Watched>,
    buf: Vec<u8>,
}

impl FsWatch {
    pub fn open(paths: &[String]) -> io::Result<FsWatch> {
        let flags = InitFlags::from_bits_retain(
            libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK | libc::FAN_REPORT_FID | libc::FAN_REPORT_DFID_NAME,
        );
        let fan = Fanotify::init(flags, EventFFlags::O_RDONLY).map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("fanotify_init: {e}")))?;
        let mut w = FsWatch { fan, sockets: Vec::new(), buf: vec![0; 16 << 10] };
        for p in paths {
            let path = PathBuf::from(p);
            let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { continue };
            let entry = MaskFlags::from_bits_retain(FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO);
            if let Err(e) = w.fan.mark(MarkFlags::FAN_MARK_ADD, entry, std::fs::File::open(".")?.as_fd(), Some(dir)) {
                crate::warn!("fanotify: cannot watch {}: {e}", dir.display());
            }
            let mut s = Watched { path: path.clone(), name: name.as_bytes().to_vec(), dir_handle: handle(dir).ok(), perms: None };
            w.mark_socket(&mut s);
            w.sockets.push(s);
        }
        Ok(w)
    }

    /// Marks the socket file itself for FAN_ATTRIB (again, after it was
    /// re-created: a mark belongs to an inode) and remembers its permissions.
    fn mark_socket(&self, s: &mut Watched) {
        s.perms = perms(&s.path);
        if s.perms.is_some() {
            let attrib = MaskFlags::from_bits_retain(FAN_ATTRIB);
            if let Ok(cwd) = std::fs::File::open(".") {
                if let Err(e) = self.fan.mark(MarkFlags::FAN_MARK_ADD, attrib, cwd.as_fd(), Some(&s.path)) {
                    crate::warn!("fanotify: cannot watch {}: {e}", s.path.display());
                }
            }
        }
    }

    /// Reads what is queued; returns the changes to watched sockets.
    pub fn read(&mut self) -> io::Result<Vec<Change>> {
        let mut changes = Vec::new();
        loop {
            let n = match nix::unistd::read(&self.fan, &mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            let (events, malformed) = parse(&self.buf[..n]);
            if malformed {
                crate::warn!("fanotify: a malformed event was skipped");
            }
            for ev in events {
                self.apply(&ev, &mut changes);
            }
        }
        Ok(changes)
    }

    fn apply(&mut self, ev: &FanEvent, changes: &mut Vec<Change>) {
        if ev.mask & FAN_Q_OVERFLOW != 0 {
            changes.push(Change::Overflow);
            return;
        }
        let Some(i) = self.sockets.iter().position(|s| s.dir_handle.is_some() && s.dir_handle == ev.dir && ev.name.as_deref() == Some(&s.name)) else {
            return;
        };
        let path = self.sockets[i].path.clone();
        if ev.mask & (FAN_DELETE | FAN_MOVED_FROM) != 0 {
            self.sockets[i].perms = None;
            changes.push(Change::Removed { path: path.clone(), pid: ev.pid });
        }
        if ev.mask & (FAN_CREATE | FAN_MOVED_TO) != 0 {
            let mut s = std::mem::replace(&mut self.sockets[i], Watched { path: path.clone(), name: Vec::new(), dir_handle: None, perms: None });
            self.mark_socket(&mut s);
            self.sockets[i] = s;
            changes.push(Change::Appeared { path: path.clone(), pid: ev.pid });
        }
        if ev.mask & FAN_ATTRIB != 0 {
            if let Some(new) = perms(&path) {
                let old = self.sockets[i].perms;
                if old != Some(new) {
                    self.sockets[i].perms = Some(new);
                    changes.push(Change::Perms { path, old, new, pid: ev.pid });
                }
            }
        }
    }
}

impl AsRawFd for FsWatch {
    fn as_raw_fd(&self) -> RawFd {
        self.fan.as_raw_fd()
    }
}

fn perms(p: &Path) -> Option<Perms> {
    let m = fs::symlink_metadata(p).ok()?;
    Some(Perms { mode: m.mode() & 0o7777, uid: m.uid(), gid: m.gid() })
}

/// The file handle of `p` as fanotify reports it: handle type, then its bytes.
fn handle(p: &Path) -> io::Result<Vec<u8>> {
    const MAX_HANDLE: usize = 128;
    let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let mut buf = vec![0u8; 8 + MAX_HANDLE];
    buf[0..4].copy_from_slice(&(MAX_HANDLE as u32).to_ne_bytes());
    let mut mount_id: libc::c_int = 0;
    // SAFETY: buf is a struct file_handle with room for MAX_HANDLE bytes, as
    // handle_bytes says; c is a NUL-terminated path.
    let r = unsafe { libc::name_to_handle_at(libc::AT_FDCWD, c.as_ptr(), buf.as_mut_ptr().cast(), &mut mount_id, 0) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let bytes = u32::from_ne_bytes(buf[0..4].try_into().unwrap()) as usize;
    Ok(buf[4..8 + bytes.min(MAX_HANDLE)].to_vec())
}

/// Whether this kernel reports an attempt to open a socket file to fanotify:
/// binds a socket in a scratch directory, marks it for FAN_OPEN, tries to open
/// it (which fails with ENXIO), and looks for the event.
pub fn probe_socket_open() -> io::Result<bool> {
    let dir = std::env::temp_dir().join(format!("sockwatch-probe-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let path = dir.join("probe.sock");
    let _ = fs::remove_file(&path);
    let result = (|| {
        let _listener = std::os::unix::net::UnixListener::bind(&path)?;
        let fan = Fanotify::init(InitFlags::FAN_CLASS_NOTIF | InitFlags::FAN_NONBLOCK | InitFlags::FAN_CLOEXEC, EventFFlags::O_RDONLY)?;
        let cwd = std::fs::File::open(".")?;
        fan.mark(MarkFlags::FAN_MARK_ADD, MaskFlags::FAN_OPEN, cwd.as_fd(), Some(&path))?;
        let opened = fs::File::open(&path);
        let events = match fan.read_events() {
            Ok(evs) => evs,
            Err(nix::errno::Errno::EAGAIN) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        drop(opened);
        Ok(events.iter().any(|e| e.mask().contains(MaskFlags::FAN_OPEN)))
    })();
    let _ = fs::remove_dir_all(&dir);
    result
}
