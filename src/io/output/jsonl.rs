//! JSON lines appended to a file.
//!
//! The lines of an event-loop turn are one write(2) of whole lines on an
//! O_APPEND file, so lines never interleave. If a write fails part-way (disk
//! full), the file is cut back to where the write began, so no partial line is
//! ever left; the findings are retried by the caller. fsync policy
//! (`jsonl_fsync`): `batch` (default) fdatasyncs at most once a second while
//! lines are written (`Outputs` decides when), on the sync thread
//! (`syncer.rs`), so the loop never waits for the disk; `line` after every
//! write, on the loop; `never` leaves it to the kernel. SIGHUP reopens the path
//! (after logrotate renamed the file), syncing the old file first.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use super::syncer::Syncer;

/// When the file is synced; its names are the command line's and the
/// configuration file's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fsync {
    Batch,
    Line,
    Never,
}

pub struct Jsonl {
    path: PathBuf,
    /// Shared with the sync thread while it syncs.
    file: Arc<File>,
    fsync: Fsync,
    dirty: bool,
    /// With `Fsync::Batch`.
    syncer: Option<Syncer>,
    /// A failed write left a partial line that could not be cut back (an
    /// append-only file): the next write starts with a newline to end it.
    torn: bool,
}

impl Jsonl {
    pub fn open(path: PathBuf, fsync: Fsync) -> io::Result<Jsonl> {
        let file = Arc::new(open_append(&path)?);
        let syncer = match fsync {
            Fsync::Batch => Some(Syncer::start(format!("jsonl:{}", path.display()))?),
            Fsync::Line | Fsync::Never => None,
        };
        Ok(Jsonl { path, file, fsync, dirty: false, syncer, torn: false })
    }
}

fn open_append(path: &PathBuf) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).mode(0o640).open(path).map_err(|e| {
        io::Error::new(e.kind(), format!("cannot open {} for appending: {e}", path.display()))
    })
}

impl super::Sink for Jsonl {
    fn batched(&self) -> bool {
        true
    }

    fn formatted(&self) -> bool {
        true
    }

    fn write(&mut self, _: &super::Report, line: &[u8]) -> io::Result<()> {
        let mut file = &*self.file;
        if self.torn {
            file.write_all(b"\n")?;
            self.torn = false;
        }
        // Counting what was written, rather than asking the file's length before
        // each line, keeps the common case at one write(2) and no fstat(2).
        let mut done = 0;
        while done < line.len() {
            let e = match file.write(&line[done..]) {
                Ok(0) => io::Error::from(io::ErrorKind::WriteZero),
                Ok(n) => {
                    done += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            // Cut back whatever part of the line made it. A char device (/dev/full)
            // keeps nothing; an append-only file refuses the cut, and then the
            // partial line is ended before the next one.
            if done > 0 {
                let cut = self
                    .file
                    .metadata()
                    .ok()
                    .filter(|m| m.is_file() && m.len() >= done as u64)
                    .map(|m| m.len() - done as u64);
                if cut.is_none_or(|len| self.file.set_len(len).is_err()) {
                    self.torn = true;
                }
            }
            return Err(e);
        }
        match self.fsync {
            // The line is written; a failed sync is reported, not retried (that
            // would write the line twice).
            Fsync::Line => {
                if let Err(e) = self.file.sync_data() {
                    crate::warn!("jsonl:{}: fdatasync failed: {e}", self.path.display());
                }
            }
            Fsync::Batch => self.dirty = true,
            Fsync::Never => {}
        }
        Ok(())
    }

    fn reopen(&mut self) -> io::Result<()> {
        let new = Arc::new(open_append(&self.path)?);
        if std::mem::take(&mut self.dirty) {
            if let Some(s) = &self.syncer {
                s.request(&self.file);
            }
        }
        self.file = new;
        self.torn = false;
        Ok(())
    }

    fn sync(&mut self) {
        if std::mem::take(&mut self.dirty) {
            if let Some(s) = &self.syncer {
                s.request(&self.file);
            }
        }
    }
}

impl Drop for Jsonl {
    fn drop(&mut self) {
        if self.fsync != Fsync::Never {
            let _ = self.file.sync_data();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Sink;
    use super::*;

    #[test]
    fn created_0640_appends_and_reopens_after_rename() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("sockwatch-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.jsonl");
        let f = super::super::Report::Finding(Box::new(crate::core::finding::tests::sample()));
        let mut s = Jsonl::open(path.clone(), Fsync::Batch).unwrap();
        s.write(&f, b"{\"a\":1}\n").unwrap();
        s.sync();
        std::fs::rename(&path, dir.join("f.jsonl.1")).unwrap();
        s.write(&f, b"{\"a\":2}\n").unwrap(); // still the renamed file, as logrotate expects
        s.reopen().unwrap();
        s.write(&f, b"{\"a\":3}\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("f.jsonl.1")).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":3}\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o640, 0, "the umask may take bits away, never add them");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_full_disk_is_an_error_not_a_crash() {
        let f = super::super::Report::Finding(Box::new(crate::core::finding::tests::sample()));
        let mut s = Jsonl::open(PathBuf::from("/dev/full"), Fsync::Line).unwrap();
        let e = s.write(&f, b"{\"a\":1}\n").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(nix::errno::Errno::ENOSPC as i32));
    }
}
