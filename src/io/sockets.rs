//! The watched sockets on the host: their resolved paths and current (dev, inode).
//! A runtime that restarts re-creates its socket with a new inode; the kernel's
//! path rule follows by itself, and `refresh` makes sockwatch follow too.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::core::detect::{FileId, WatchedSocket};

use super::proc::file_id;

/// Resolves symlinks (such as /var/run -> /run). A socket that does not exist yet is
/// resolved through its directory, so it can be watched before the runtime starts.
pub fn resolve(path: &Path) -> io::Result<String> {
    if !path.is_absolute() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not an absolute path"));
    }
    let resolved = match fs::canonicalize(path) {
        Ok(p) => p,
        Err(_) => {
            let normal = normalize(path);
            let (Some(parent), Some(name)) = (normal.parent(), normal.file_name()) else {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "names no file"));
            };
            fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf()).join(name)
        }
    };
    resolved.into_os_string().into_string().map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "resolves to a path that is not UTF-8")
    })
}

/// Removes `.` and `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The users whose runtime directory (/run/user/UID) exists, at most `MAX_USERS`.
pub fn user_ids() -> Vec<u32> {
    let mut ids: Vec<u32> = fs::read_dir(crate::core::runtimes::USER_RUN)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            crate::core::runtimes::user_dir(std::os::unix::ffi::OsStrExt::as_bytes(
                e.file_name().as_os_str(),
            ))
        })
        .collect();
    ids.sort_unstable();
    ids.truncate(MAX_USERS);
    ids
}

/// Whether /run/user/UID is a mount point (logind's tmpfs); `None` when it is
/// gone or not a directory.
pub fn user_dir_is_mount(uid: u32) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    let base = fs::symlink_metadata(crate::core::runtimes::USER_RUN).ok()?;
    let dir = fs::symlink_metadata(format!("{}/{uid}", crate::core::runtimes::USER_RUN))
        .ok()
        .filter(|m| m.is_dir())?;
    Some(dir.dev() != base.dev())
}

/// Rootless sockets are watched for this many users at most: each costs audit
/// rules and fanotify marks.
pub const MAX_USERS: usize = 256;

/// Whether the directory a socket would be created in exists: the kernel takes a
/// path rule only then (it watches that directory).
pub fn dir_exists(path: &str) -> bool {
    Path::new(path).parent().and_then(|d| fs::symlink_metadata(d).ok()).is_some_and(|m| m.is_dir())
}

pub fn watch(paths: &[String]) -> Vec<WatchedSocket> {
    paths.iter().map(|p| WatchedSocket::new(p.clone(), identify(p))).collect()
}

/// The file at `path` itself, never where a symlink there points: configured
/// paths are resolved at start, and a known path under /run/user belongs to a
/// user who could point it anywhere.
fn identify(path: &str) -> Option<FileId> {
    fs::symlink_metadata(path).ok().map(|m| file_id(&m))
}

/// A watched socket whose identity changed: (path, old, new).
pub type Change = (String, Option<FileId>, Option<FileId>);

/// Re-reads every socket's identity; returns what changed.
pub fn refresh(watched: &mut [WatchedSocket]) -> Vec<Change> {
    let mut changed = Vec::new();
    for w in watched.iter_mut() {
        let now = identify(&w.path);
        if now != w.id {
            changed.push((w.path.clone(), w.id, now));
            w.update(now);
        }
    }
    changed
}

pub fn describe(f: Option<FileId>) -> String {
    f.map_or("absent".to_string(), |f| {
        format!("dev {:02x}:{:02x} inode {}", f.major, f.minor, f.inode)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_symlinked_dirs_and_missing_files() {
        let dir = std::env::temp_dir().join(format!("sockwatch-resolve-{}", std::process::id()));
        let real = dir.join("real");
        fs::create_dir_all(&real).unwrap();
        let link = dir.join("link");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let want = fs::canonicalize(&real).unwrap().join("absent.sock");
        assert_eq!(resolve(&link.join("absent.sock")).unwrap(), want.to_str().unwrap());
        assert_eq!(resolve(&link.join("x/../absent.sock")).unwrap(), want.to_str().unwrap());
        assert!(resolve(Path::new("relative.sock")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
