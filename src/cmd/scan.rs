//! `sockwatch scan`: detection offline, over audit logs already written.
//!
//! Files (or standard input) are read in large blocks and split into lines in
//! place; `core::logline` parses each line without copying, `core::scan` drops
//! every event that cannot be a connect, and only the rest is assembled, matched
//! against the sockets' (dev, inode) and written as the finding `run` would have
//! written. What a past event cannot have, a live /proc, is said in the finding:
//! the container is unknown. Damaged lines are counted and named in the summary
//! on stderr; they never stop the scan.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use memchr::memchr_iter;

use crate::cli::ScanArgs;
use crate::config::Config;
use crate::core::allow::{AllowRule, allowed};
use crate::core::connect;
use crate::core::detect::{self, Detection, Process, Skip, WatchedSocket};
use crate::core::logline;
use crate::core::origin::{Origin, Unproven};
use crate::core::scan::{Candidate, Scanner, Target, by_name, parse_socket_inode};
use crate::core::time;
use crate::io::proc::file_id;

use super::resolve_sockets;
use crate::error::{Context, Error};

/// How many events may be open at once. auditd's log has no EOE records, so an
/// event closes when this many newer ones have begun; records of one event are
/// never that far apart in a log.
const OPEN_EVENTS: usize = 4096;
/// A longer line cannot be an audit record (the kernel's limit is under 9 KiB).
const MAX_LINE: usize = 1 << 20;
/// Malformed lines named one by one in the summary; the rest are counted.
const NAMED_ERRORS: usize = 10;

#[derive(Default)]
struct Summary {
    inputs: u64,
    bytes: u64,
    lines: u64,
    malformed: u64,
    examples: Vec<String>,
    connects: u64,
    findings: u64,
    allowed: u64,
    not_watched: u64,
    not_unix: u64,
    unreadable: Vec<String>,
}

pub fn main(args: &ScanArgs, cfg: &Config) -> Result<ExitCode, Error> {
    let (watched, targets) = sockets(args, cfg)?;
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut scanner = Scanner::new(OPEN_EVENTS);
    let mut sum = Summary::default();
    let mut closed: Vec<Candidate> = Vec::new();
    let started = Instant::now();
    let inputs: Vec<PathBuf> =
        if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files.clone() };
    for input in &inputs {
        let name = input.display().to_string();
        let reader: Box<dyn Read> = if input == Path::new("-") {
            Box::new(io::stdin().lock())
        } else {
            match File::open(input) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    sum.unreadable.push(format!("{name}: {e}"));
                    continue;
                }
            }
        };
        sum.inputs += 1;
        let mut line_no = 0u64;
        let mut write_err: Option<io::Error> = None;
        let read = for_each_line(reader, |line| {
            line_no += 1;
            match line {
                Line::Text(text) => match logline::parse(text) {
                    Ok(Some(r)) => scanner.push(&r, &mut closed),
                    Ok(None) => {}
                    Err(e) => sum.malformed(&name, line_no, &e.to_string()),
                },
                Line::TooLong => {
                    sum.malformed(&name, line_no, &format!("longer than {MAX_LINE} bytes"))
                }
            }
            if !closed.is_empty() && write_err.is_none() {
                if let Err(e) =
                    report(&mut closed, &watched, &targets, &cfg.allow, &mut sum, &mut out)
                {
                    write_err = Some(e);
                }
            }
            write_err.is_none()
        });
        if let Some(e) = write_err {
            return Err(Error::msg(format!("cannot write findings to stdout: {e}")));
        }
        sum.lines += line_no;
        match read {
            Ok(n) => sum.bytes += n,
            Err(e) => sum.unreadable.push(format!("{name}: read error after {line_no} lines: {e}")),
        }
    }
    scanner.finish(&mut closed);
    report(&mut closed, &watched, &targets, &cfg.allow, &mut sum, &mut out)
        .context("cannot write findings to stdout")?;
    out.flush().context("cannot write findings to stdout")?;
    drop(out);
    summarize(&sum, &scanner, started.elapsed().as_secs_f64());
    Ok(if sum.unreadable.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

impl Summary {
    fn malformed(&mut self, name: &str, line: u64, why: &str) {
        self.malformed += 1;
        if self.examples.len() < NAMED_ERRORS {
            self.examples.push(format!("{name}:{line}: {why}"));
        }
    }
}

/// The watched sockets, and what the name fallback compares with.
fn sockets(args: &ScanArgs, cfg: &Config) -> Result<(Vec<WatchedSocket>, Vec<Target>), Error> {
    let mut watched = Vec::new();
    let mut targets = Vec::new();
    for spec in &args.socket_inodes {
        let (id, name) = parse_socket_inode(spec).ok_or_else(|| {
            Error::msg(format!("--socket-inode {spec:?}: expected MAJ:MIN:INODE as a PATH record writes dev and inode (fe:00:9805826), optionally =/absolute/path"))
        })?;
        watched.push(WatchedSocket::new(name.clone().unwrap_or_else(|| spec.clone()), Some(id)));
        targets.push(Target { id: Some(id), names: name.map(|n| aliases(&n)).unwrap_or_default() });
    }
    // The local sockets: those named, or (when no identity was given either) the
    // configured ones, or every known runtime socket that exists here.
    let named = !args.sockets.is_empty() || args.socket_inodes.is_empty();
    let configured =
        if named { crate::config::sockets(&args.sockets, cfg) } else { Some(Vec::new()) };
    let defaults = configured.is_none();
    let paths: Vec<PathBuf> = match &configured {
        Some(p) => p.clone(),
        None => crate::core::runtimes::default_set(&crate::io::sockets::user_ids())
            .into_iter()
            .map(PathBuf::from)
            .collect(),
    };
    let resolved = if defaults {
        paths.iter().map(|p| p.to_string_lossy().into_owned()).collect()
    } else {
        resolve_sockets(Some(&paths))?
    };
    for (given, resolved) in paths.iter().zip(resolved) {
        // A known path is taken as it is (see `resolve_sockets`): only a socket
        // there counts, never where a symlink a user made points.
        let meta = if defaults {
            std::fs::symlink_metadata(&resolved)
        } else {
            std::fs::metadata(&resolved)
        };
        let meta = match meta {
            Ok(m) if defaults && !std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
                continue;
            }
            Ok(m) => m,
            // Of the known sockets, those on this host.
            Err(_) if defaults => continue,
            Err(e) => {
                return Err(Error::msg(format!(
                    "socket {}: {e}; for a log from another host, give the socket's identity there with --socket-inode MAJ:MIN:INODE",
                    given.display()
                )));
            }
        };
        let id = file_id(&meta);
        let mut names = aliases(&resolved);
        names.extend(aliases(&given.to_string_lossy()));
        watched.push(WatchedSocket::new(resolved, Some(id)));
        targets.push(Target { id: Some(id), names });
    }
    if defaults && watched.is_empty() {
        return Err(Error::msg(
            "no known runtime socket exists on this host: name one with --socket PATH, or, for a log from another host, --socket-inode MAJ:MIN:INODE",
        ));
    }
    Ok((watched, targets))
}

/// A path and its other spelling through the /var/run -> /run symlink that every
/// current distribution has.
fn aliases(path: &str) -> Vec<Vec<u8>> {
    let mut v = vec![path.as_bytes().to_vec()];
    if let Some(rest) = path.strip_prefix("/run/") {
        v.push(format!("/var/run/{rest}").into_bytes());
    } else if let Some(rest) = path.strip_prefix("/var/run/") {
        v.push(format!("/run/{rest}").into_bytes());
    }
    v
}

/// Judges the closed candidate events and writes a finding for each connect to a
/// watched socket.
fn report(
    closed: &mut Vec<Candidate>,
    watched: &[WatchedSocket],
    targets: &[Target],
    allow: &[AllowRule],
    sum: &mut Summary,
    out: &mut impl Write,
) -> io::Result<()> {
    for Candidate { node, event } in closed.drain(..) {
        let Some(ev) = connect::extract(&event) else { continue };
        sum.connects += 1;
        let resolved = by_name(&ev, targets);
        // A past event has no live /proc: the container is unknown, and the
        // finding is stamped with the event's own time and host.
        let look = |_: &_| Process {
            origin: Origin::Unknown { namespaces: None, why: Unproven::Offline },
        };
        let host = node.as_deref().map(String::from_utf8_lossy);
        let now = time::format_millis(ev.stamp.sec, ev.stamp.msec);
        match detect::detect(&ev, watched, resolved, look, now, host.as_deref()) {
            Ok(Detection { finding: f, .. }) => {
                // The configuration's allowlist applies as in `run`; offline only
                // entries on `exe` alone can match, the container being unknown.
                if allowed(allow, &f) {
                    sum.allowed += 1;
                    continue;
                }
                let mut line = Vec::with_capacity(1024);
                f.write_json(&mut line);
                line.push(b'\n');
                out.write_all(&line)?;
                sum.findings += 1;
            }
            Err(Skip::NotUnixPath) => sum.not_unix += 1,
            Err(_) => sum.not_watched += 1,
        }
    }
    Ok(())
}

fn summarize(sum: &Summary, scanner: &Scanner, secs: f64) {
    let st = scanner.stats;
    let mb = sum.bytes as f64 / 1e6;
    eprintln!(
        "sockwatch scan: {} input(s), {} bytes, {} lines, {} records, {} events, {} connects, {} findings in {secs:.2} s ({:.0} MB/s)",
        sum.inputs,
        sum.bytes,
        sum.lines,
        st.records,
        st.events,
        sum.connects,
        sum.findings,
        if secs > 0.0 { mb / secs } else { 0.0 }
    );
    eprintln!(
        "sockwatch scan: connects not to a watched socket: {} (another file), {} (not a filesystem AF_UNIX address)",
        sum.not_watched, sum.not_unix
    );
    if sum.allowed > 0 {
        eprintln!(
            "sockwatch scan: {} connect(s) allowed by the configuration's allowlist, not reported",
            sum.allowed
        );
    }
    if sum.malformed > 0 {
        eprintln!("sockwatch scan: {} malformed line(s) skipped:", sum.malformed);
        for e in &sum.examples {
            eprintln!("  {e}");
        }
        if sum.malformed > sum.examples.len() as u64 {
            eprintln!("  ... and {} more", sum.malformed - sum.examples.len() as u64);
        }
    }
    if st.undecided > 0 {
        eprintln!(
            "sockwatch scan: {} event(s) had no SYSCALL record (the log starts mid-event, or records were lost) and could not be judged",
            st.undecided
        );
    }
    for u in &sum.unreadable {
        eprintln!("sockwatch scan: error: {u}");
    }
    if sum.findings > 0 {
        eprintln!(
            "sockwatch scan: container: unknown in every finding ({})",
            Unproven::Offline.note()
        );
    }
}

enum Line<'a> {
    Text(&'a [u8]),
    /// A line past MAX_LINE, skipped up to its newline.
    TooLong,
}

/// Calls `f` with each line of `r` (without its newline) until `f` says stop;
/// returns the bytes read. A final line without a newline counts too.
fn for_each_line(mut r: impl Read, mut f: impl FnMut(Line<'_>) -> bool) -> io::Result<u64> {
    let mut buf = vec![0u8; 4 << 20];
    let (mut end, mut total, mut skipping) = (0usize, 0u64, false);
    loop {
        let n = match r.read(&mut buf[end..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        let scan_from = end;
        end += n;
        let mut start = 0;
        for nl in memchr_iter(b'\n', &buf[scan_from..end]).map(|i| i + scan_from) {
            let keep_going = if skipping {
                skipping = false;
                true
            } else if nl - start > MAX_LINE {
                f(Line::TooLong)
            } else {
                f(Line::Text(&buf[start..nl]))
            };
            start = nl + 1;
            if !keep_going {
                return Ok(total);
            }
        }
        if skipping {
            end = 0;
            continue;
        }
        buf.copy_within(start..end, 0);
        end -= start;
        if end >= MAX_LINE {
            // No newline within MAX_LINE bytes: not a record. Report it once and
            // drop everything up to the next newline.
            if !f(Line::TooLong) {
                return Ok(total);
            }
            skipping = true;
            end = 0;
        }
    }
    if end > 0 && !skipping {
        f(Line::Text(&buf[..end]));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], chunk: usize) -> Vec<String> {
        struct Chunky<'a>(&'a [u8], usize);
        impl Read for Chunky<'_> {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(b.len());
                b[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut got = Vec::new();
        let n = for_each_line(Chunky(input, chunk), |l| {
            got.push(match l {
                Line::Text(t) => String::from_utf8_lossy(t).into_owned(),
                Line::TooLong => "<too long>".into(),
            });
            true
        })
        .unwrap();
        assert_eq!(n, input.len() as u64);
        got
    }

    #[test]
    fn lines_across_read_boundaries_and_a_last_line_without_newline() {
        for chunk in [1, 3, 7, 4096] {
            assert_eq!(lines(b"ab\ncd\n\nef", chunk), ["ab", "cd", "", "ef"], "chunk {chunk}");
        }
    }

    #[test]
    fn an_endless_line_is_reported_once_and_skipped() {
        let mut input = vec![b'x'; MAX_LINE * 2 + 10];
        input.extend_from_slice(b"\nnext\n");
        assert_eq!(lines(&input, 1 << 16), ["<too long>", "next"]);
        // However it arrives: in one read too.
        assert_eq!(lines(&input, 8 << 20), ["<too long>", "next"]);
    }

    #[test]
    fn aliases_through_var_run() {
        assert_eq!(
            aliases("/run/docker.sock"),
            [b"/run/docker.sock".to_vec(), b"/var/run/docker.sock".to_vec()]
        );
        assert_eq!(aliases("/srv/x.sock"), [b"/srv/x.sock".to_vec()]);
    }
}
