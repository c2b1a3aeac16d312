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

use crate::core::fanotify::{
    FAN_ATTRIB, FAN_CREATE, FAN_DELETE, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_Q_OVERFLOW, FanEvent,
    parse,
};

pub use crate::core::socket_file::Perms;
use crate::core::socket_file::{ACL_MAX, Acl};

struct Watched {
    path: PathBuf,
    name: Vec<u8>,
    dir: PathBuf,
    dir_handle: Option<Vec<u8>>,
    /// The nearest existing directory above `dir` (its parent while `dir`
    /// exists), watched so that a directory on the way being created or
    /// re-created re-arms the watch.
    grand_handle: Option<Vec<u8>>,
    /// The entry in that directory that leads to the socket.
    dir_name: Vec<u8>,
    /// The socket file's own handle: a change made through a hard link names
    /// another directory entry, but the same object.
    sock_handle: Option<Vec<u8>>,
    perms: Option<Perms>,
    /// What is being watched, for `doctor`.
    status: String,
}

/// What happened to a watched socket.
// A batch holds at most a few dozen; a permission change carries two ACLs.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Perms {
        path: PathBuf,
        old: Option<Perms>,
        new: Perms,
        pid: i32,
    },
    /// Deleted, or moved away.
    Removed {
        path: PathBuf,
        pid: i32,
    },
    /// Created, or moved into place.
    Appeared {
        path: PathBuf,
        pid: i32,
    },
    /// A directory on the way to the socket appeared or went: its audit rules
    /// can be loaded now, or are gone.
    Directory {
        path: PathBuf,
    },
    /// A user's runtime directory appeared (/run/user/UID): its rootless sockets
    /// can be watched.
    UserDir(u32),
    /// The kernel's queue overflowed: changes may have been missed.
    Overflow,
}

/// The watch on /run/user, for users' runtime directories appearing.
#[derive(Default)]
struct Users {
    enabled: bool,
    handle: Option<Vec<u8>>,
    /// /run, while /run/user does not exist.
    parent_handle: Option<Vec<u8>>,
}

pub struct FsWatch {
    fan: Fanotify,
    sockets: Vec<Watched>,
    users: Users,
    buf: Vec<u8>,
}

impl FsWatch {
    pub fn open(paths: &[String]) -> io::Result<FsWatch> {
        let flags = InitFlags::from_bits_retain(
            libc::FAN_CLASS_NOTIF
                | libc::FAN_CLOEXEC
                | libc::FAN_NONBLOCK
                | libc::FAN_REPORT_FID
                | libc::FAN_REPORT_DFID_NAME,
        );
        let fan = Fanotify::init(flags, EventFFlags::O_RDONLY).map_err(|e| {
            io::Error::new(io::Error::from(e).kind(), format!("fanotify_init: {e}"))
        })?;
        let mut w =
            FsWatch { fan, sockets: Vec::new(), users: Users::default(), buf: vec![0; 16 << 10] };
        for p in paths {
            w.add(p);
        }
        Ok(w)
    }

    /// Watches one more socket (a rootless one whose user appeared).
    pub fn add(&mut self, p: &str) {
        let path = PathBuf::from(p);
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
        if self.sockets.iter().any(|s| s.path == path) {
            return;
        }
        self.sockets.push(Watched {
            path: path.clone(),
            name: name.as_bytes().to_vec(),
            dir: dir.to_path_buf(),
            dir_handle: None,
            grand_handle: None,
            dir_name: Vec::new(),
            sock_handle: None,
            perms: None,
            status: String::new(),
        });
        self.arm(self.sockets.len() - 1);
    }

    /// Arms the watch of socket `path` again (its directory may now be another
    /// inode: a tmpfs mounted on it); returns what changed meanwhile.
    pub fn rearm(&mut self, path: &str) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some(i) =
            self.sockets.iter().position(|s| s.path.as_os_str().as_bytes() == path.as_bytes())
        {
            let existed = self.sockets[i].perms.is_some();
            let old = self.arm(i);
            self.compare(i, old, existed, 0, &mut changes);
        }
        changes
    }

    /// Reports users' runtime directories as they appear under /run/user (and
    /// /run/user itself, should it appear later).
    pub fn watch_users(&mut self) {
        self.users.enabled = true;
        self.arm_users();
    }

    fn arm_users(&mut self) {
        let entry = MaskFlags::from_bits_retain(FAN_CREATE | FAN_MOVED_TO | libc::FAN_ONDIR);
        let Ok(root) = fs::File::open("/") else { return };
        let user_run = Path::new(crate::core::runtimes::USER_RUN);
        let parent = user_run.parent().unwrap_or(Path::new("/"));
        if self.fan.mark(MarkFlags::FAN_MARK_ADD, entry, root.as_fd(), Some(parent)).is_ok() {
            self.users.parent_handle = handle(parent).ok();
        }
        self.users.handle = None;
        if self.fan.mark(MarkFlags::FAN_MARK_ADD, entry, root.as_fd(), Some(user_run)).is_ok() {
            self.users.handle = handle(user_run).ok();
        }
    }

    /// What each socket's watch covers: (path, description), for `doctor`.
    pub fn status(&self) -> Vec<(PathBuf, String)> {
        self.sockets.iter().map(|s| (s.path.clone(), s.status.clone())).collect()
    }

    /// (Re)arms everything for socket `i`: its directory's entry events, the
    /// directory above (so a re-created directory is noticed), and FAN_ATTRIB on
    /// the socket file. Marks belong to inodes, so this runs again whenever any
    /// of them may have been replaced. Returns the permissions seen before.
    fn arm(&mut self, i: usize) -> Option<Perms> {
        let root = fs::File::open("/").ok();
        let entry =
            MaskFlags::from_bits_retain(FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO);
        let mut notes = Vec::new();
        let s = &self.sockets[i];
        let (dir, path) = (s.dir.clone(), s.path.clone());
        let mark = |mask: MaskFlags, flags: MarkFlags, p: &Path| -> Result<(), String> {
            let root = root.as_ref().ok_or("cannot open /")?;
            self.fan.mark(flags, mask, root.as_fd(), Some(p)).map_err(|e| e.to_string())
        };
        // Never through a symlink: a user owns /run/user/UID and what is in it.
        let dir_flags =
            MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_DONT_FOLLOW | MarkFlags::FAN_MARK_ONLYDIR;
        let dir_ok = mark(entry, dir_flags, &dir);
        let dir_handle = handle(&dir).ok();
        match (&dir_ok, &dir_handle) {
            (Ok(()), Some(_)) => notes.push("directory events".to_string()),
            (Err(_), _) if !dir.is_dir() => {
                notes.push("its directory is absent for now".to_string())
            }
            (Err(e), _) => notes.push(format!("NOT its directory ({e})")),
            (_, None) => notes.push("NOT its directory (no file handle)".to_string()),
        }
        // The directory above, or while the socket's directory is missing, the
        // nearest one that exists, and the entry in it that leads here.
        let mut next = dir.clone();
        let mut grand = dir.parent().map(Path::to_path_buf);
        if dir_handle.is_none() {
            while let Some(g) = grand.clone() {
                if fs::symlink_metadata(&g).is_ok_and(|m| m.is_dir()) {
                    break;
                }
                next = g.clone();
                grand = g.parent().map(Path::to_path_buf);
            }
        }
        let dir_name = next.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
        let grand_handle = grand.as_ref().and_then(|g| {
            mark(MaskFlags::from_bits_retain(entry.bits() | libc::FAN_ONDIR), dir_flags, g).ok()?;
            handle(g).ok()
        });
        match (&grand_handle, dir_handle.is_some()) {
            (None, _) => notes.push("NOT the directory above".to_string()),
            (Some(_), false) => notes.push(format!("waiting for {} to appear", next.display())),
            _ => {}
        }
        let old = self.sockets[i].perms;
        let perms_now = perms(&path);
        let mut sock_handle = None;
        if perms_now.is_some() {
            let attrib = MaskFlags::from_bits_retain(FAN_ATTRIB);
            match mark(attrib, MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_DONT_FOLLOW, &path) {
                Ok(()) => {
                    sock_handle = handle(&path).ok();
                    notes.push("permission changes".to_string());
                }
                Err(e) => notes.push(format!("NOT permission changes ({e})")),
            }
        } else {
            notes.push("socket absent (watched for its creation)".to_string());
        }
        let s = &mut self.sockets[i];
        s.dir_handle = dir_handle;
        s.grand_handle = grand_handle;
        s.dir_name = dir_name;
        s.sock_handle = sock_handle;
        s.perms = perms_now;
        s.status = notes.join(", ");
        old
    }

    /// Reads what is queued; returns the changes to watched sockets.
    /// At most `READS` reads at a time, so that a storm of file events (a user
    /// creating files in a watched directory) cannot starve the audit records;
    /// the flag says more may be waiting.
    pub fn read(&mut self) -> io::Result<(Vec<Change>, bool)> {
        const READS: usize = 64;
        let mut changes = Vec::new();
        for _ in 0..READS {
            let n = match nix::unistd::read(&self.fan, &mut self.buf) {
                Ok(0) => return Ok((changes, false)),
                Ok(n) => n,
                Err(nix::errno::Errno::EAGAIN) => return Ok((changes, false)),
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
        Ok((changes, true))
    }

    fn apply(&mut self, ev: &FanEvent, changes: &mut Vec<Change>) {
        if ev.mask & FAN_Q_OVERFLOW != 0 {
            // Events were lost: re-arm everything and compare what can be compared.
            changes.push(Change::Overflow);
            for i in 0..self.sockets.len() {
                let existed = self.sockets[i].perms.is_some();
                let old = self.arm(i);
                self.compare(i, old, existed, 0, changes);
            }
            if self.users.enabled {
                self.arm_users();
                for uid in crate::io::sockets::user_ids() {
                    changes.push(Change::UserDir(uid));
                }
            }
            return;
        }
        if self.users.enabled && ev.mask & (FAN_CREATE | FAN_MOVED_TO) != 0 && ev.dir.is_some() {
            let name = ev.name.as_deref().unwrap_or_default();
            if self.users.handle.is_some() && ev.dir == self.users.handle {
                if let Some(uid) = crate::core::runtimes::user_dir(name) {
                    changes.push(Change::UserDir(uid));
                }
            } else if self.users.parent_handle.is_some()
                && ev.dir == self.users.parent_handle
                && Path::new(crate::core::runtimes::USER_RUN)
                    .file_name()
                    .is_some_and(|n| n.as_bytes() == name)
            {
                self.arm_users();
                for uid in crate::io::sockets::user_ids() {
                    changes.push(Change::UserDir(uid));
                }
            }
        }
        for i in 0..self.sockets.len() {
            let s = &self.sockets[i];
            let named = s.dir_handle.is_some()
                && s.dir_handle == ev.dir
                && ev.name.as_deref() == Some(&s.name);
            let same_object =
                s.sock_handle.is_some() && ev.object.is_some() && s.sock_handle == ev.object;
            let its_dir = s.grand_handle.is_some()
                && s.grand_handle == ev.dir
                && ev.name.as_deref() == Some(&s.dir_name);
            if its_dir {
                // A directory on the way to the socket was created, removed or moved.
                let existed = s.perms.is_some();
                let old = self.arm(i);
                changes.push(Change::Directory { path: self.sockets[i].path.clone() });
                self.compare(i, old, existed, ev.pid, changes);
                continue;
            }
            if named && ev.mask & (FAN_DELETE | FAN_MOVED_FROM) != 0 {
                let path = s.path.clone();
                self.sockets[i].perms = None;
                self.sockets[i].sock_handle = None;
                changes.push(Change::Removed { path, pid: ev.pid });
            }
            if named && ev.mask & (FAN_CREATE | FAN_MOVED_TO) != 0 {
                let path = self.sockets[i].path.clone();
                self.arm(i);
                changes.push(Change::Appeared { path, pid: ev.pid });
            }
            if (named || same_object) && ev.mask & FAN_ATTRIB != 0 {
                let path = self.sockets[i].path.clone();
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

    /// After a re-arm: what changed for socket `i` since it was last seen.
    fn compare(
        &self,
        i: usize,
        old: Option<Perms>,
        existed: bool,
        pid: i32,
        changes: &mut Vec<Change>,
    ) {
        let s = &self.sockets[i];
        match (existed, s.perms) {
            (true, None) => changes.push(Change::Removed { path: s.path.clone(), pid }),
            (false, Some(_)) => changes.push(Change::Appeared { path: s.path.clone(), pid }),
            (true, Some(new)) if old != Some(new) => {
                changes.push(Change::Perms { path: s.path.clone(), old, new, pid })
            }
            _ => {}
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
    Some(Perms { mode: m.mode() & 0o7777, uid: m.uid(), gid: m.gid(), acl: access_acl(p) })
}

/// The socket's access ACL (`system.posix_acl_access`), read without following
/// a symlink into a bounded buffer. None set, or a file system without ACLs, is
/// the empty ACL; one too large for the buffer is marked as having more entries,
/// and so is one that cannot be read or parsed (fail closed: entries may be
/// there that grant access; the change to or from that state is a finding).
fn access_acl(p: &Path) -> Acl {
    const NAME: &[u8] = b"system.posix_acl_access\0";
    // The header and the four base entries, plus the named ones kept.
    let mut buf = [0u8; 4 + 8 * (5 + ACL_MAX)];
    let Ok(c) = CString::new(p.as_os_str().as_bytes()) else { return Acl::default() };
    // SAFETY: c and NAME are NUL-terminated; buf is valid for buf.len() bytes.
    let n = unsafe {
        libc::lgetxattr(c.as_ptr(), NAME.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len())
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA | libc::EOPNOTSUPP) => Acl::default(),
            Some(libc::ERANGE) => Acl { more: true, ..Acl::default() },
            _ => {
                crate::warn!("{}: cannot read its ACL ({e}): taken as granting more", p.display());
                Acl { more: true, ..Acl::default() }
            }
        };
    }
    Acl::parse(&buf[..n as usize]).unwrap_or_else(|| {
        crate::warn!(
            "{}: its ACL is not in the kernel's format: taken as granting more",
            p.display()
        );
        Acl { more: true, ..Acl::default() }
    })
}

/// The file handle of `p` as fanotify reports it: handle type, then its bytes.
fn handle(p: &Path) -> io::Result<Vec<u8>> {
    const MAX_HANDLE: usize = 128;
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let mut buf = vec![0u8; 8 + MAX_HANDLE];
    buf[0..4].copy_from_slice(&(MAX_HANDLE as u32).to_ne_bytes());
    let mut mount_id: libc::c_int = 0;
    // SAFETY: buf is a struct file_handle with room for MAX_HANDLE bytes, as
    // handle_bytes says; c is a NUL-terminated path.
    let r = unsafe {
        libc::name_to_handle_at(
            libc::AT_FDCWD,
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut mount_id,
            0,
        )
    };
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
        let fan = Fanotify::init(
            InitFlags::FAN_CLASS_NOTIF | InitFlags::FAN_NONBLOCK | InitFlags::FAN_CLOEXEC,
            EventFFlags::O_RDONLY,
        )?;
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
