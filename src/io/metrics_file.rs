//! The metrics file (`--metrics-file`), replaced whole at each write: the text
//! goes to a temporary file beside it (`.NAME.tmp`, which node_exporter's
//! textfile collector ignores, as it reads only `*.prom`), which is then renamed
//! over it, so a scrape reads the old file or the new one, never half of one.
//!
//! No fsync: a reader needs only the rename to be atomic, and what a crash could
//! lose is counters that the next start rewrites from 0 anyway. A sync would
//! make every write wait for the disk, on the daemon's one thread.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The file's mode: node_exporter runs as its own user, and the counters are
/// no secret.
const MODE: u32 = 0o644;

pub struct MetricsFile {
    path: PathBuf,
    tmp: PathBuf,
}

impl MetricsFile {
    /// A path whose parent is not a directory is a usage error (exit 2): a
    /// mistake in the configuration. A directory that does not exist (yet) is
    /// not: node_exporter may be installed or started after sockwatch, and a
    /// security monitor must not refuse to run for want of its metrics. The
    /// writes fail, are counted and logged, and are retried until it appears.
    pub fn new(path: &Path) -> Result<MetricsFile, Error> {
        let name = path.file_name().ok_or_else(|| {
            Error::usage(format!("--metrics-file {}: names no file", path.display()))
        })?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
            return Err(Error::usage(format!(
                "--metrics-file {}: {} is not a directory",
                path.display(),
                dir.display()
            )));
        }
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(".tmp");
        Ok(MetricsFile { path: path.to_path_buf(), tmp: dir.join(tmp_name) })
    }

    /// Whether the file's directory is there now (for a warning at start).
    pub fn directory_exists(&self) -> bool {
        self.path.parent().is_some_and(|d| d.is_dir())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file with `text`. On an error the old file stays as it was
    /// and the temporary file is removed.
    pub fn write(&self, text: &[u8]) -> io::Result<()> {
        let result = self.write_tmp(text).and_then(|()| fs::rename(&self.tmp, &self.path));
        if result.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        result
    }

    fn write_tmp(&self, text: &[u8]) -> io::Result<()> {
        // Whatever is at the temporary name goes first, and the file is made
        // anew (O_EXCL): a FIFO left there would otherwise block the daemon's
        // one thread in open(2), and a file someone else owns would be written
        // and published. O_NOFOLLOW and O_NONBLOCK guard the moment between.
        match fs::remove_file(&self.tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(MODE)
            .custom_flags(libc_flags())
            .open(&self.tmp)?;
        // The umask may have taken bits from the mode.
        f.set_permissions(fs::Permissions::from_mode(MODE))?;
        f.write_all(text)
    }
}

fn libc_flags() -> i32 {
    use nix::fcntl::OFlag;
    (OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).bits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn dir(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("sockwatch-metrics-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replaces_the_file_whole_with_mode_0644_and_leaves_no_temporary_file() {
        let d = dir("write");
        let path = d.join("sockwatch.prom");
        let m = MetricsFile::new(&path).unwrap();
        m.write(b"a 1\n").unwrap();
        let ino = fs::metadata(&path).unwrap().ino();
        m.write(b"a 2\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"a 2\n");
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o644);
        assert_ne!(meta.ino(), ino, "a new file renamed over the old one, not rewritten in place");
        let names: Vec<_> = fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("sockwatch.prom")]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_missing_directory_waits_and_a_file_for_a_directory_is_a_usage_error() {
        let d = dir("missing");
        let m = MetricsFile::new(&d.join("nope/sockwatch.prom")).unwrap();
        assert!(!m.directory_exists());
        assert!(m.write(b"a 1\n").is_err());
        fs::create_dir(d.join("nope")).unwrap();
        assert!(m.directory_exists());
        m.write(b"a 1\n").unwrap();
        assert_eq!(fs::read(d.join("nope/sockwatch.prom")).unwrap(), b"a 1\n");
        fs::write(d.join("file"), "").unwrap();
        let e = MetricsFile::new(&d.join("file/sockwatch.prom")).err().unwrap();
        assert_eq!(e.exit_code(), 2);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn what_is_left_at_the_temporary_name_is_replaced_not_written_through() {
        let d = dir("planted");
        let path = d.join("sockwatch.prom");
        let m = MetricsFile::new(&path).unwrap();
        let tmp = d.join(".sockwatch.prom.tmp");
        // A FIFO would block an open for writing until a reader came.
        nix::unistd::mkfifo(&tmp, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
        m.write(b"a 1\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"a 1\n");
        // A file planted there (someone else's, with other content) is not reused.
        // Its planter keeps a second link to it, to see what is written there.
        fs::write(&tmp, "planted 1\n").unwrap();
        fs::hard_link(&tmp, d.join("kept")).unwrap();
        m.write(b"a 2\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"a 2\n");
        assert_eq!(fs::read(d.join("kept")).unwrap(), b"planted 1\n", "not written through");
        assert_ne!(fs::metadata(&path).unwrap().ino(), fs::metadata(d.join("kept")).unwrap().ino());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let d = dir("fail");
        let path = d.join("sockwatch.prom");
        let m = MetricsFile::new(&path).unwrap();
        m.write(b"a 1\n").unwrap();
        // A directory at the temporary name cannot be removed as a file.
        fs::create_dir(d.join(".sockwatch.prom.tmp")).unwrap();
        assert!(m.write(b"a 2\n").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"a 1\n");
        fs::remove_dir(d.join(".sockwatch.prom.tmp")).unwrap();
        // A symlink there is replaced, never followed.
        std::os::unix::fs::symlink(d.join("elsewhere"), d.join(".sockwatch.prom.tmp")).unwrap();
        m.write(b"a 3\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"a 3\n");
        assert!(!d.join("elsewhere").exists());
        assert!(fs::symlink_metadata(d.join(".sockwatch.prom.tmp")).is_err());
        fs::remove_dir_all(&d).unwrap();
    }
}
