//! `sockwatch scan`: detection offline, over audit logs already written.
//!
//! Each input is read by `scan_input` (plain, gzip, or journald's audit
//! records) as log lines; `core::logline` parses each line without copying,
//! `core::scan` drops every event that cannot be a connect, and only the rest is
//! assembled, matched against the watched sockets (`core::scan::match_offline`:
//! by (dev, inode), by sockwatch's rule key, by name) and written as the finding
//! `run` would have written, or counted for `--summary`. What a past event
//! cannot have, a live /proc, is said in the finding: the container is unknown.
//! Damaged lines are counted and named in the summary on stderr; they never stop
//! the scan.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::cli::ScanArgs;
use crate::config::Config;
use crate::core::allow::{AllowRule, allowed};
use crate::core::connect::{self, ConnectEvent};
use crate::core::detect::{self, Detection, Process, Skip, WatchedSocket};
use crate::core::logline;
use crate::core::origin::{Origin, Unproven};
use crate::core::scan::{
    Candidate, MatchedBy, Scanner, SocketIdentity, Target, by_name, connect_name,
    known_runtime_socket, match_offline,
};
use crate::core::sniff;
use crate::core::tally::Tally;
use crate::core::time;
use crate::io::output::{self, Format, Report};
use crate::io::proc::file_id;

use super::resolve_sockets;
use super::scan_input::{Line, MAX_LINE, read_input};
use crate::error::Error;

/// How many events may be open at once. auditd's log has no EOE records, so an
/// event closes when this many newer ones have begun; records of one event are
/// never that far apart in a log.
const OPEN_EVENTS: usize = 4096;
/// Malformed lines named one by one in the summary; the rest are counted.
const NAMED_ERRORS: usize = 10;
/// Identities of left-out connects to known runtime sockets kept apart in the
/// summary; the rest are counted together.
const NAMED_LEFT_OUT: usize = 32;

/// The exit statuses, as ausearch's: findings, none, a usage error (clap's), no
/// audit record in any input, an input that could not be read in full.
const FOUND: u8 = 0;
const NONE_FOUND: u8 = 1;
const NO_RECORDS: u8 = 3;
const UNREADABLE: u8 = 4;

/// A known runtime socket's name, and the (major, minor, inode) a connect to it
/// named, if any.
type LeftOut = (String, Option<(u32, u32, u64)>);

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
    outside_window: u64,
    by_rule_key: u64,
    by_path: u64,
    /// Journal entries of other transports than audit.
    other_transport: u64,
    /// ausearch's own separator lines around raw records.
    separators: u64,
    /// Inputs that cannot be scanned as they are, with the hint said about each.
    not_logs: Vec<String>,
    /// Connects to a known runtime socket's name that matched nothing, by name
    /// and the identity the record gives (none when it gives none).
    left_out: BTreeMap<LeftOut, u64>,
    left_out_more: u64,
    unreadable: Vec<String>,
}

/// What every connect is judged against.
struct Judge<'a> {
    watched: &'a [WatchedSocket],
    targets: &'a [Target],
    allow: &'a [AllowRule],
    /// [since, until) in milliseconds, as the stamp.
    window: (u64, u64),
    summary: bool,
    format: crate::io::output::Format,
}

pub fn main(args: &ScanArgs, cfg: &Config) -> Result<ExitCode, Error> {
    if let (Some(since), Some(until)) = (args.since, args.until) {
        if since >= until {
            // An empty window would report nothing and look like a clean log.
            eprintln!("sockwatch scan: --since must be before --until: the window is empty");
            return Ok(ExitCode::from(2));
        }
    }
    let (watched, targets) = sockets(args, cfg)?;
    let judge = Judge {
        watched: &watched,
        targets: &targets,
        allow: &cfg.allow,
        window: (args.since.unwrap_or(0), args.until.unwrap_or(u64::MAX)),
        summary: args.summary,
        format: args.format,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut scanner = Scanner::new(OPEN_EVENTS);
    let mut sum = Summary::default();
    let mut tally = Tally::default();
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
        let mut omitted = 0u64;
        let mut write_err: Option<io::Error> = None;
        let (kind, read) = read_input(reader, &mut |line| {
            line_no += 1;
            match line {
                Line::Text(text) => match logline::parse(text) {
                    Ok(Some(r)) => scanner.push(&r, &mut closed),
                    Ok(None) => {}
                    // Checked only once a line failed: no cost on a plain log.
                    Err(_) if sniff::is_ausearch_separator(text) => sum.separators += 1,
                    Err(e) => sum.malformed(&name, line_no, &e.to_string()),
                },
                Line::TooLong => {
                    sum.malformed(&name, line_no, &format!("longer than {MAX_LINE} bytes"))
                }
                Line::Bad(why) => sum.malformed(&name, line_no, &why),
                Line::Omitted(why) => {
                    omitted += 1;
                    sum.malformed(&name, line_no, &why)
                }
                Line::OtherTransport => sum.other_transport += 1,
            }
            if !closed.is_empty() && write_err.is_none() {
                if let Err(e) = report(&mut closed, &judge, &mut sum, &mut tally, &mut out) {
                    write_err = Some(e);
                }
            }
            write_err.is_none()
        });
        if let Some(e) = write_err {
            return Ok(unwritten(&e));
        }
        if let Some(hint) = sniff::hint(kind.format) {
            let gz = if kind.gzip { " (inside gzip)" } else { "" };
            sum.not_logs.push(format!("{name}: {hint}{gz}"));
        }
        sum.lines += line_no;
        if omitted > 0 {
            sum.unreadable.push(format!(
                "{name}: {omitted} audit record(s) that journalctl left out of its JSON (fields of 4096 bytes or more are null without --all): read the journal with -o export or -o json --all"
            ));
        }
        match read {
            Ok(n) => sum.bytes += n,
            Err(e) => sum.unreadable.push(format!("{name}: read error after {line_no} lines: {e}")),
        }
    }
    scanner.finish(&mut closed);
    let written = report(&mut closed, &judge, &mut sum, &mut tally, &mut out)
        .and_then(|()| if args.summary { out.write_all(tally.render().as_bytes()) } else { Ok(()) })
        .and_then(|()| out.flush());
    if let Err(e) = written {
        return Ok(unwritten(&e));
    }
    drop(out);
    summarize(&sum, &scanner, started.elapsed().as_secs_f64());
    let status = status(&sum, scanner.stats.records);
    if status == NO_RECORDS {
        eprintln!(
            "sockwatch scan: no audit record in the input: it is not an audit log (auditd's log, the kernel's audit lines, or journald's _TRANSPORT=audit entries)"
        );
    }
    Ok(ExitCode::from(status))
}

/// Findings that could not all be written (a full disk, a reader that went
/// away): the scan's result is incomplete, which is not "nothing found".
fn unwritten(e: &io::Error) -> ExitCode {
    eprintln!("sockwatch scan: cannot write to stdout: {e}; the output is incomplete");
    ExitCode::from(UNREADABLE)
}

/// The exit status: an incomplete scan first, whatever it found; then findings
/// or none; and apart from "none", input that held no audit record at all
/// although it held something (an empty input is just a log without findings).
fn status(sum: &Summary, records: u64) -> u8 {
    if !sum.unreadable.is_empty() {
        UNREADABLE
    } else if sum.findings > 0 {
        FOUND
    } else if records == 0
        && (sum.malformed > 0 || !sum.not_logs.is_empty() || sum.other_transport > 0)
    {
        NO_RECORDS
    } else {
        NONE_FOUND
    }
}

impl Summary {
    fn malformed(&mut self, name: &str, line: u64, why: &str) {
        self.malformed += 1;
        if self.examples.len() < NAMED_ERRORS {
            self.examples.push(format!("{name}:{line}: {why}"));
        }
    }

    fn left_out(&mut self, ev: &ConnectEvent) {
        let Some(name) = connect_name(ev).and_then(|n| known_runtime_socket(&n)) else { return };
        let id = ev.paths.iter().find_map(|p| {
            let (major, minor) = p.dev?;
            Some((major, minor, p.inode?))
        });
        let key = (name, id);
        if let Some(n) = self.left_out.get_mut(&key) {
            *n += 1;
        } else if self.left_out.len() < NAMED_LEFT_OUT {
            self.left_out.insert(key, 1);
        } else {
            self.left_out_more += 1;
        }
    }
}

/// The watched sockets, and what the name fallback compares with.
fn sockets(args: &ScanArgs, cfg: &Config) -> Result<(Vec<WatchedSocket>, Vec<Target>), Error> {
    let mut watched = Vec::new();
    let mut targets = Vec::new();
    for SocketIdentity { id, name, spec } in &args.socket_inodes {
        watched.push(WatchedSocket::new(name.clone().unwrap_or_else(|| spec.clone()), Some(*id)));
        targets.push(Target {
            id: Some(*id),
            names: name.as_deref().map(aliases).unwrap_or_default(),
        });
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
                return Err(Error::usage(format!(
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
        return Err(Error::usage(
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

/// Judges the closed candidate events and writes a finding (or, with
/// `--summary`, counts one) for each connect to a watched socket.
fn report(
    closed: &mut Vec<Candidate>,
    judge: &Judge<'_>,
    sum: &mut Summary,
    tally: &mut Tally,
    out: &mut impl Write,
) -> io::Result<()> {
    for Candidate { node, event } in closed.drain(..) {
        let Some(ev) = connect::extract(&event) else { continue };
        let at = ev.stamp.sec.saturating_mul(1000).saturating_add(u64::from(ev.stamp.msec));
        if at < judge.window.0 || at >= judge.window.1 {
            sum.outside_window += 1;
            continue;
        }
        sum.connects += 1;
        // A past event has no live /proc: the container is unknown, and the
        // finding is stamped with the event's own time and host.
        let look = |_: &_| Process {
            origin: Origin::Unknown { namespaces: None, why: Unproven::Offline },
        };
        let host = node.as_deref().map(String::from_utf8_lossy);
        let now = time::format_millis(ev.stamp.sec, ev.stamp.msec);
        let hit =
            match_offline(&ev, judge.watched, judge.targets, crate::core::rules::KEY.as_bytes());
        let resolved = by_name(&ev, judge.targets);
        let detected = match &hit {
            // By the inode (or, for an event without one, by the name resolved
            // to a target's identity): the finding `run` would have written.
            Ok(h) if h.by == MatchedBy::Inode || resolved.is_some() => {
                detect::detect(&ev, judge.watched, resolved, look, now, host.as_deref())
            }
            // By the rule key or the name: the socket as it was then, under the
            // watched name (or, for a key alone, the name connected to).
            Ok(h) => {
                let path = match h.target {
                    Some(t) => judge.watched[t].path.clone(),
                    None => connect_name(&ev)
                        .map(|n| String::from_utf8_lossy(&n).into_owned())
                        .unwrap_or_default(),
                };
                let then = [WatchedSocket::new(path, Some(h.file))];
                detect::detect(&ev, &then, Some(h.file), look, now, host.as_deref())
            }
            Err(skip) => Err(*skip),
        };
        match detected {
            Ok(Detection { finding: mut f, .. }) => {
                // The configuration's allowlist applies as in `run`; offline only
                // entries on `exe` alone can match, the container being unknown.
                if allowed(judge.allow, &f) {
                    sum.allowed += 1;
                    continue;
                }
                let by = hit.as_ref().map(|h| h.by);
                match by {
                    Ok(MatchedBy::RuleKey) => sum.by_rule_key += 1,
                    Ok(MatchedBy::Path) => sum.by_path += 1,
                    _ => {}
                }
                if let Ok(by @ (MatchedBy::RuleKey | MatchedBy::Path)) = by {
                    f.details = Some(serde_json::json!({ "matched_by": by.as_str() }));
                }
                sum.findings += 1;
                if judge.summary {
                    tally.add(&f);
                    continue;
                }
                let mut line = Vec::with_capacity(1024);
                match judge.format {
                    Format::Native => {
                        f.write_json(&mut line);
                        line.push(b'\n');
                    }
                    other => output::shape(&mut line, &Report::Finding(Box::new(f)), other),
                }
                out.write_all(&line)?;
            }
            Err(Skip::NotUnixPath) => sum.not_unix += 1,
            Err(_) => {
                sum.not_watched += 1;
                sum.left_out(&ev);
            }
        }
    }
    Ok(())
}

fn summarize(sum: &Summary, scanner: &crate::core::scan::Scanner, secs: f64) {
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
    if sum.by_rule_key + sum.by_path > 0 {
        eprintln!(
            "sockwatch scan: findings matched not by the socket's inode now: {} by sockwatch's rule key (a watched socket then), {} by name only (details.matched_by)",
            sum.by_rule_key, sum.by_path
        );
    }
    eprintln!(
        "sockwatch scan: connects not to a watched socket: {} (another file), {} (not a filesystem AF_UNIX address)",
        sum.not_watched, sum.not_unix
    );
    for ((name, id), n) in &sum.left_out {
        match id {
            Some(id) => {
                let id = format!("{:02x}:{:02x}:{}", id.0, id.1, id.2);
                eprintln!(
                    "sockwatch scan: connects to {name} with another identity ({id}, {n} connects): not reported; pass --socket-inode {id} to include"
                );
            }
            None => eprintln!(
                "sockwatch scan: connects to {name} with no identity in the record ({n} connects): not reported; pass --socket-inode MAJ:MIN:INODE={name} to include"
            ),
        }
    }
    // What was read but not reported, each with its count and why.
    const _: () = assert!(crate::core::scan::MAX_EVENT_RECORDS == 64, "said below");
    let skipped = [
        (
            sum.left_out_more,
            "more connect(s) to known runtime sockets with other identities (not listed)",
        ),
        (sum.outside_window, "connect(s) outside the --since/--until window, not reported"),
        (sum.allowed, "connect(s) allowed by the configuration's allowlist, not reported"),
        (
            sum.other_transport,
            "journal entries of other transports than audit skipped (only _TRANSPORT=audit entries are audit records)",
        ),
        (
            st.undecided,
            "event(s) had no SYSCALL record (the log starts mid-event, or records were lost) and could not be judged",
        ),
        (
            st.over_limit,
            "record(s) of one event past the 64 kept were not read (a connect has about six; a log that gives one event more was made so)",
        ),
    ];
    for (n, what) in skipped {
        if n > 0 {
            eprintln!("sockwatch scan: {n} {what}");
        }
    }
    for n in &sum.not_logs {
        eprintln!("sockwatch scan: not scanned: {n}");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_through_var_run() {
        assert_eq!(
            aliases("/run/docker.sock"),
            [b"/run/docker.sock".to_vec(), b"/var/run/docker.sock".to_vec()]
        );
        assert_eq!(aliases("/srv/x.sock"), [b"/srv/x.sock".to_vec()]);
    }
}
