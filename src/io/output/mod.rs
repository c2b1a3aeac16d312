//! Where findings go. Each output is a `Sink`; a new kind of output is one more
//! module here and one more arm in `OutputSpec`. A failing sink is counted and
//! logged, never fatal, and never keeps the finding from the other sinks: what it
//! could not take is queued (bounded) and retried on the next finding, on a timer
//! while anything is queued, on SIGHUP and at exit.

pub mod journald;
pub mod jsonl;
pub mod syncer;
pub mod syslog;

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::core::finding::Finding;
use crate::core::health::Health;
use crate::core::json;

/// What the outputs carry: findings, and sockwatch's own health events.
#[derive(Debug, Clone)]
pub enum Report {
    Finding(Box<Finding>),
    Health(Health),
}

impl Report {
    fn to_json(&self) -> String {
        match self {
            Report::Finding(f) => json::to_string(f),
            Report::Health(h) => json::to_string(h),
        }
        .unwrap_or_default()
    }

    fn serial(&self) -> String {
        match self {
            Report::Finding(f) => {
                f.audit.as_ref().map_or(format!("{} finding", f.signature.id), |a| {
                    format!("audit serial {}", a.serial)
                })
            }
            Report::Health(h) => format!("health event {}", h.event.name()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    Stdout,
    /// Append JSON lines to a file (created 0640).
    Jsonl(PathBuf),
    /// The systemd journal, native protocol.
    Journald,
    /// A syslog socket (/dev/log by default).
    Syslog(Option<PathBuf>),
}

impl FromStr for OutputSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "stdout" => Ok(OutputSpec::Stdout),
            None if s == "journald" => Ok(OutputSpec::Journald),
            None if s == "syslog" => Ok(OutputSpec::Syslog(None)),
            Some(("jsonl", path)) if path.starts_with('/') => {
                Ok(OutputSpec::Jsonl(PathBuf::from(path)))
            }
            Some(("jsonl", path)) => Err(format!("jsonl needs an absolute path, got {path:?}")),
            Some(("syslog", path)) if path.starts_with('/') => {
                Ok(OutputSpec::Syslog(Some(PathBuf::from(path))))
            }
            Some(("syslog", path)) => {
                Err(format!("syslog needs an absolute socket path, got {path:?}"))
            }
            _ => Err(format!(
                "unknown output {s:?}: expected stdout, jsonl:/path, journald, syslog or syslog:/socket"
            )),
        }
    }
}

impl std::fmt::Display for OutputSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputSpec::Stdout => f.write_str("stdout"),
            OutputSpec::Jsonl(p) => write!(f, "jsonl:{}", p.display()),
            OutputSpec::Journald => f.write_str("journald"),
            OutputSpec::Syslog(None) => f.write_str("syslog"),
            OutputSpec::Syslog(Some(p)) => write!(f, "syslog:{}", p.display()),
        }
    }
}

/// The shape of the JSON lines stdout and jsonl write (`--format`): native,
/// or `core::formats`' ECS or OCSF views. The journal's SOCKWATCH_JSON and
/// syslog stay native, whose fields they index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// sockwatch's own finding format.
    #[default]
    Native,
    /// Elastic Common Schema 8.x documents.
    Ecs,
    /// OCSF 1.3.0 Detection Findings; health events are Base Events.
    Ocsf,
}

/// How the outputs behave, from the command line and the config file.
#[derive(Debug, Clone)]
pub struct Options {
    pub syslog_format: syslog::Format,
    pub syslog_facility: u8,
    pub jsonl_fsync: jsonl::Fsync,
    pub format: Format,
    pub hostname: String,
}

pub trait Sink {
    /// Delivers one report; `line` is its JSON, newline included. A batched
    /// sink is given the lines of several reports in one call, `r` being the
    /// first of them.
    fn write(&mut self, r: &Report, line: &[u8]) -> io::Result<()>;
    /// Whether the sink takes only the lines, so that those of an event-loop
    /// turn may be written together (`Outputs::flush`).
    fn batched(&self) -> bool {
        false
    }
    /// SIGHUP: reopen files (logrotate moved them away).
    fn reopen(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Called once per event-loop turn in which findings were written.
    fn sync(&mut self) {}
    /// Whether the sink writes the lines in `--format`'s shape; those that
    /// index native fields (journald, syslog) do not.
    fn formatted(&self) -> bool {
        false
    }
}

struct Stdout;

impl Sink for Stdout {
    fn batched(&self) -> bool {
        true
    }

    fn formatted(&self) -> bool {
        true
    }

    fn write(&mut self, _: &Report, line: &[u8]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(line)?;
        out.flush()
    }
}

pub fn open(spec: &OutputSpec, opts: &Options) -> io::Result<Box<dyn Sink>> {
    Ok(match spec {
        OutputSpec::Stdout => Box::new(Stdout),
        OutputSpec::Jsonl(path) => Box::new(jsonl::Jsonl::open(path.clone(), opts.jsonl_fsync)?),
        OutputSpec::Journald => Box::new(journald::Journald::new(PathBuf::from(journald::SOCKET))?),
        OutputSpec::Syslog(path) => Box::new(syslog::Syslog::new(
            path.clone().unwrap_or_else(|| PathBuf::from(syslog::DEV_LOG)),
            opts.syslog_format,
            opts.syslog_facility,
            opts.hostname.clone(),
        )?),
    })
}

/// Findings a sink could not take yet, at most this many each; beyond, the oldest
/// is dropped (counted and logged).
const PENDING_MAX: usize = 10_000;
const RETRY_EVERY: Duration = Duration::from_secs(5);

/// A batched sink's lines are written once they reach this size, or at the end
/// of the event-loop turn, whichever comes first: a few dozen findings a write
/// at full load, and a finding waits for its write at most one turn.
const BATCH_BYTES: usize = 64 << 10;

struct Output {
    spec: OutputSpec,
    sink: Box<dyn Sink>,
    pending: VecDeque<Report>,
    /// For a batched sink: the lines not yet written, and their reports (kept
    /// for a retry should the write fail).
    batch: Vec<u8>,
    batched: Vec<Report>,
    /// This output's share of `Outputs::counters` (the metrics' `output` label).
    counters: Counters,
}

impl Output {
    fn new(spec: OutputSpec, sink: Box<dyn Sink>) -> Output {
        Output {
            spec,
            sink,
            pending: VecDeque::new(),
            batch: Vec::new(),
            batched: Vec::new(),
            counters: Counters::default(),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Writes that failed (each is retried).
    pub failed: u64,
    /// Findings given up on because a sink's queue was full.
    pub dropped: u64,
}

/// How long written findings may wait for their sync (`--jsonl-fsync batch`).
/// A sync per event-loop turn stalled the loop for up to 300 ms at a time on a
/// VM's disk under load (bench/live.sh), which is what findings then waited.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

pub struct Outputs {
    outputs: Vec<Output>,
    /// The report's native line, and (with `--format` other than native) its
    /// line in that format, for the sinks that take it.
    line: Vec<u8>,
    shaped: Vec<u8>,
    format: Format,
    wrote: bool,
    /// When the lines written since the last sync are to be synced.
    sync_due: Option<Instant>,
    next_retry: Option<Instant>,
    pub counters: Counters,
}

impl Outputs {
    pub fn open(specs: &[OutputSpec], opts: &Options) -> io::Result<Outputs> {
        let mut outputs = Vec::new();
        for spec in specs {
            let sink = open(spec, opts)
                .map_err(|e| io::Error::new(e.kind(), format!("output {spec}: {e}")))?;
            outputs.push(Output::new(spec.clone(), sink));
        }
        Ok(Outputs {
            outputs,
            line: Vec::with_capacity(2048),
            shaped: Vec::new(),
            format: opts.format,
            wrote: false,
            sync_due: None,
            next_retry: None,
            counters: Counters::default(),
        })
    }

    pub fn describe(&self) -> String {
        self.outputs.iter().map(|o| o.spec.to_string()).collect::<Vec<_>>().join(", ")
    }

    /// Writes the report to every sink, after whatever each still owes; a
    /// batched sink gets it at the latest with the turn's `flush`.
    pub fn emit(&mut self, r: Report) {
        // Retries first: they use `line` too.
        for i in 0..self.outputs.len() {
            self.flush_pending(i);
        }
        self.line.clear();
        if let Err(e) = serialize(&mut self.line, &r) {
            // Cannot happen for these types (no maps with non-string keys, no
            // failing Serialize impl); counted and logged should it ever.
            self.counters.dropped += 1;
            for o in &mut self.outputs {
                o.counters.dropped += 1;
            }
            crate::error!("cannot serialize {}: {e}", r.serial());
            return;
        }
        self.shaped.clear();
        if self.format != Format::Native && self.outputs.iter().any(|o| o.sink.formatted()) {
            shape(&mut self.shaped, &r, self.format);
        }
        let n = self.outputs.len();
        let mut r = Some(r);
        for i in 0..n {
            let mine = if i + 1 == n { r.take().unwrap() } else { r.clone().unwrap() };
            let o = &mut self.outputs[i];
            let line = if o.sink.formatted() && self.format != Format::Native {
                &self.shaped
            } else {
                &self.line
            };
            if !o.pending.is_empty() {
                self.queue(i, mine);
            } else if o.sink.batched() {
                o.batch.extend_from_slice(line);
                o.batched.push(mine);
                if o.batch.len() >= BATCH_BYTES {
                    self.flush_one(i);
                }
            } else if let Err(e) = o.sink.write(&mine, line) {
                self.failed(i, mine, &e);
            } else {
                self.wrote = true;
            }
        }
    }

    /// Writes what batched sinks hold: at the end of each event-loop turn.
    pub fn flush(&mut self) {
        for i in 0..self.outputs.len() {
            self.flush_one(i);
        }
    }

    fn flush_one(&mut self, i: usize) {
        let o = &mut self.outputs[i];
        let Some(first) = o.batched.first() else { return };
        match o.sink.write(first, &o.batch) {
            Ok(()) => {
                o.batch.clear();
                o.batched.clear();
                self.wrote = true;
            }
            Err(e) => {
                // The sink left nothing of the write behind (jsonl cuts the file
                // back): every report of the batch is retried, in order.
                self.counters.failed += 1;
                o.counters.failed += 1;
                crate::error!(
                    "output {} failed: {e}; will retry {} report(s)",
                    o.spec,
                    o.batched.len()
                );
                o.batch.clear();
                for r in std::mem::take(&mut o.batched) {
                    self.queue(i, r);
                }
            }
        }
    }

    /// Retries what is queued; `force` ignores the retry timer (SIGHUP, exit).
    pub fn retry(&mut self, now: Instant, force: bool) {
        if !force && self.next_retry.is_none_or(|t| now < t) {
            return;
        }
        self.next_retry = None;
        for i in 0..self.outputs.len() {
            self.flush_pending(i);
        }
    }

    /// When queued findings are next retried; `None` when nothing is queued.
    pub fn next_retry(&self) -> Option<Instant> {
        self.next_retry
    }

    /// Each output's failures, under its spec.
    pub fn each(&self) -> impl Iterator<Item = (&OutputSpec, Counters)> {
        self.outputs.iter().map(|o| (&o.spec, o.counters))
    }

    pub fn pending(&self) -> usize {
        self.outputs.iter().map(|o| o.pending.len()).sum()
    }

    /// At exit: what failing outputs still owe, logged in full so that it is not
    /// lost without a trace. Returns how many.
    pub fn give_up(&mut self) -> usize {
        let mut n = 0;
        for o in &mut self.outputs {
            for r in o.pending.drain(..) {
                n += 1;
                o.counters.dropped += 1;
                self.counters.dropped += 1;
                crate::error!("output {}: not written before exit: {}", o.spec, r.to_json());
            }
        }
        n
    }

    /// SIGHUP.
    pub fn reopen(&mut self) {
        self.flush();
        for o in &mut self.outputs {
            if let Err(e) = o.sink.reopen() {
                crate::error!("output {}: cannot reopen: {e}", o.spec);
            }
        }
        self.retry(Instant::now(), true);
    }

    /// Syncs now what was written (exit).
    pub fn sync(&mut self) {
        self.flush();
        self.sync_due = None;
        if std::mem::take(&mut self.wrote) {
            for o in &mut self.outputs {
                o.sink.sync();
            }
        }
    }

    /// End of an event-loop turn: syncs once SYNC_EVERY has passed since the
    /// first line written after the last sync, so a burst costs one sync a second.
    pub fn sync_when_due(&mut self, now: Instant) {
        if self.wrote && self.sync_due.is_none() {
            self.sync_due = Some(now + SYNC_EVERY);
        }
        if self.sync_due.is_some_and(|due| now >= due) {
            self.sync();
        }
    }

    /// When `sync_when_due` next has work: only while lines wait for a sync, so
    /// an idle daemon has no timer.
    pub fn next_sync(&self) -> Option<Instant> {
        self.sync_due
    }

    fn write_one(&mut self, i: usize, r: &Report) -> io::Result<()> {
        self.line.clear();
        if self.outputs[i].sink.formatted() && self.format != Format::Native {
            shape(&mut self.line, r, self.format);
        } else {
            serialize(&mut self.line, r).map_err(io::Error::other)?;
        }
        self.outputs[i].sink.write(r, &self.line)?;
        self.wrote = true;
        Ok(())
    }

    fn flush_pending(&mut self, i: usize) {
        while let Some(f) = self.outputs[i].pending.pop_front() {
            if let Err(e) = self.write_one(i, &f) {
                if permanent(&e) {
                    self.give_up_on(i, &f, &e);
                    continue;
                }
                self.outputs[i].pending.push_front(f);
                self.counters.failed += 1;
                self.outputs[i].counters.failed += 1;
                crate::debug!("output {}: retry failed: {e}", self.outputs[i].spec);
                self.arm_retry();
                return;
            }
        }
    }

    fn failed(&mut self, i: usize, r: Report, e: &io::Error) {
        self.counters.failed += 1;
        self.outputs[i].counters.failed += 1;
        if permanent(e) {
            self.give_up_on(i, &r, e);
            return;
        }
        crate::error!("output {} failed: {e}; will retry ({})", self.outputs[i].spec, r.serial());
        self.queue(i, r);
    }

    /// A report this sink can never take (too big): logged in full, counted.
    fn give_up_on(&mut self, i: usize, r: &Report, e: &io::Error) {
        self.counters.dropped += 1;
        self.outputs[i].counters.dropped += 1;
        crate::error!("output {} cannot take this ({e}): {}", self.outputs[i].spec, r.to_json());
    }

    fn queue(&mut self, i: usize, f: Report) {
        let o = &mut self.outputs[i];
        if o.pending.len() >= PENDING_MAX {
            if let Some(lost) = o.pending.pop_front() {
                self.counters.dropped += 1;
                o.counters.dropped += 1;
                crate::error!(
                    "output {}: {PENDING_MAX} reports queued; dropping the oldest: {}",
                    o.spec,
                    lost.to_json()
                );
            }
        }
        o.pending.push_back(f);
        self.arm_retry();
    }

    fn arm_retry(&mut self) {
        if self.next_retry.is_none() {
            self.next_retry = Some(Instant::now() + RETRY_EVERY);
        }
    }
}

/// The report's JSON line, newline included.
fn serialize(line: &mut Vec<u8>, r: &Report) -> serde_json::Result<()> {
    match r {
        Report::Finding(f) => f.write_json(line),
        Report::Health(h) => json::to_writer(&mut *line, h)?,
    }
    line.push(b'\n');
    Ok(())
}

/// The report's line in `format`, newline included.
pub fn shape(line: &mut Vec<u8>, r: &Report, format: Format) {
    use crate::core::formats::{ecs, ocsf};
    let v = match (r, format) {
        // Cannot fail for these types (see `emit`).
        (_, Format::Native) => return drop(serialize(line, r)),
        (Report::Finding(f), Format::Ecs) => ecs::finding(f),
        (Report::Health(h), Format::Ecs) => ecs::health(h),
        (Report::Finding(f), Format::Ocsf) => ocsf::finding(f),
        (Report::Health(h), Format::Ocsf) => ocsf::health(h),
    };
    // A Value always serializes; the escaping of every string is `core::json`'s.
    let _ = json::to_writer(&mut *line, &v);
    line.push(b'\n');
}

/// Errors a retry cannot cure: the message is too large for the socket, or the
/// socket is of a kind that cannot take it.
fn permanent(e: &io::Error) -> bool {
    use nix::errno::Errno;
    matches!(Errno::from_raw(e.raw_os_error().unwrap_or(0)), Errno::EMSGSIZE | Errno::EPROTOTYPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!("stdout".parse(), Ok(OutputSpec::Stdout));
        assert_eq!("journald".parse(), Ok(OutputSpec::Journald));
        assert_eq!("syslog".parse(), Ok(OutputSpec::Syslog(None)));
        assert_eq!(
            "syslog:/run/x.sock".parse(),
            Ok(OutputSpec::Syslog(Some("/run/x.sock".into())))
        );
        assert_eq!(
            "jsonl:/var/log/x.jsonl".parse(),
            Ok(OutputSpec::Jsonl("/var/log/x.jsonl".into()))
        );
        for bad in ["jsonl:rel.jsonl", "syslog:rel", "file:/x", "", "journal"] {
            assert!(bad.parse::<OutputSpec>().is_err(), "{bad}");
        }
        for s in ["stdout", "journald", "syslog", "syslog:/x", "jsonl:/y"] {
            assert_eq!(s.parse::<OutputSpec>().unwrap().to_string(), s);
        }
    }

    struct Flaky {
        fail: std::rc::Rc<std::cell::Cell<bool>>,
        got: std::rc::Rc<std::cell::RefCell<Vec<u64>>>,
    }

    impl Sink for Flaky {
        fn write(&mut self, r: &Report, _: &[u8]) -> io::Result<()> {
            if self.fail.get() {
                return Err(io::Error::other("disk full"));
            }
            let Report::Finding(f) = r else { panic!() };
            self.got.borrow_mut().push(f.audit.as_ref().unwrap().serial);
            Ok(())
        }
    }

    #[test]
    fn a_failing_sink_queues_in_order_and_catches_up() {
        let fail = std::rc::Rc::new(std::cell::Cell::new(true));
        let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut outs = Outputs {
            outputs: vec![Output::new(
                OutputSpec::Stdout,
                Box::new(Flaky { fail: fail.clone(), got: got.clone() }),
            )],
            line: Vec::new(),
            shaped: Vec::new(),
            format: Format::Native,
            wrote: false,
            sync_due: None,
            next_retry: None,
            counters: Counters::default(),
        };
        let mut f = crate::core::finding::tests::sample();
        for serial in 1..=3 {
            f.audit.as_mut().unwrap().serial = serial;
            outs.emit(Report::Finding(Box::new(f.clone())));
        }
        assert_eq!(outs.pending(), 3);
        assert_eq!(
            outs.counters.failed, 3,
            "each emit retries the queue first, and counts its failure"
        );
        let each: Vec<_> = outs.each().map(|(s, c)| (s.to_string(), c)).collect();
        assert_eq!(each, [("stdout".to_string(), outs.counters)], "the one output's own counts");
        assert!(outs.next_retry().is_some());
        // Not yet due: nothing happens.
        outs.retry(Instant::now(), false);
        assert!(got.borrow().is_empty());
        fail.set(false);
        outs.retry(Instant::now() + RETRY_EVERY, false);
        f.audit.as_mut().unwrap().serial = 4;
        outs.emit(Report::Finding(Box::new(f)));
        assert_eq!(*got.borrow(), [1, 2, 3, 4]);
        assert_eq!(outs.pending(), 0);
        assert_eq!(outs.next_retry(), None);
    }

    struct Recording {
        formatted: bool,
        lines: std::rc::Rc<std::cell::RefCell<Vec<Vec<u8>>>>,
        fail: std::rc::Rc<std::cell::Cell<bool>>,
    }

    impl Recording {
        fn new(
            formatted: bool,
            lines: &std::rc::Rc<std::cell::RefCell<Vec<Vec<u8>>>>,
        ) -> Box<Recording> {
            Box::new(Recording { formatted, lines: lines.clone(), fail: Default::default() })
        }
    }

    impl Sink for Recording {
        fn write(&mut self, _: &Report, line: &[u8]) -> io::Result<()> {
            if self.fail.get() {
                return Err(io::Error::other("disk full"));
            }
            self.lines.borrow_mut().push(line.to_vec());
            Ok(())
        }
        fn formatted(&self) -> bool {
            self.formatted
        }
    }

    /// `--format` shapes the lines of stdout and jsonl only: the journal and
    /// syslog (sinks that are not `formatted`) get the native line, byte for
    /// byte, and native is the same line everywhere.
    #[test]
    fn the_format_reaches_only_the_sinks_that_take_it() {
        let health = Health::new(
            "2026-11-28T00:00:00.000000Z".into(),
            crate::core::health::Event::RecordsLost,
            crate::core::health::Level::Warning,
            "lost".into(),
            "h",
        );
        let finding = crate::core::finding::tests::sample();
        let mut native = Vec::new();
        finding.write_json(&mut native);
        native.push(b'\n');
        for (format, class) in
            [(Format::Ecs, None), (Format::Ocsf, Some(2004)), (Format::Native, None)]
        {
            let shaped = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let plain = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let mut outs = Outputs {
                outputs: vec![
                    Output::new(OutputSpec::Stdout, Recording::new(true, &shaped)),
                    Output::new(OutputSpec::Journald, Recording::new(false, &plain)),
                ],
                line: Vec::new(),
                shaped: Vec::new(),
                format,
                wrote: false,
                sync_due: None,
                next_retry: None,
                counters: Counters::default(),
            };
            outs.emit(Report::Finding(Box::new(finding.clone())));
            outs.emit(Report::Health(health.clone()));
            let (shaped, plain) = (shaped.borrow(), plain.borrow());
            assert_eq!(plain[0], native, "{format:?}: the journal keeps native");
            let v: serde_json::Value = serde_json::from_slice(&shaped[0]).unwrap();
            let h: serde_json::Value = serde_json::from_slice(&shaped[1]).unwrap();
            assert!(
                shaped
                    .iter()
                    .all(|l| l.ends_with(b"\n") && l.iter().filter(|&&b| b == b'\n').count() == 1)
            );
            match format {
                Format::Native => {
                    assert_eq!(shaped[0], native);
                    assert_eq!(h["kind"], "health");
                }
                Format::Ecs => {
                    assert_eq!(
                        (v["event"]["kind"].as_str(), h["event"]["kind"].as_str()),
                        (Some("alert"), Some("event"))
                    );
                }
                Format::Ocsf => {
                    assert_eq!(v["class_uid"].as_u64(), class);
                    assert_eq!(h["class_uid"], 0);
                }
            }
        }
    }

    /// A line a formatted sink could not take is retried in the format.
    #[test]
    fn retries_keep_the_format() {
        let lines = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let sink = Recording::new(true, &lines);
        let fail = sink.fail.clone();
        fail.set(true);
        let mut outs = Outputs {
            outputs: vec![Output::new(OutputSpec::Stdout, sink)],
            line: Vec::new(),
            shaped: Vec::new(),
            format: Format::Ecs,
            wrote: false,
            sync_due: None,
            next_retry: None,
            counters: Counters::default(),
        };
        outs.emit(Report::Finding(Box::new(crate::core::finding::tests::sample())));
        assert_eq!((outs.pending(), lines.borrow().len()), (1, 0));
        fail.set(false);
        outs.retry(Instant::now(), true);
        assert_eq!(outs.pending(), 0);
        let v: serde_json::Value = serde_json::from_slice(&lines.borrow()[0]).unwrap();
        assert_eq!(v["event"]["kind"], "alert");
    }

    #[test]
    fn syncs_wait_for_their_second_and_idle_has_no_timer() {
        let dir = std::env::temp_dir().join(format!("sockwatch-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec: OutputSpec = format!("jsonl:{}", dir.join("f.jsonl").display()).parse().unwrap();
        let opts = Options {
            syslog_format: syslog::Format::Rfc5424,
            syslog_facility: 10,
            jsonl_fsync: jsonl::Fsync::Batch,
            format: Format::Native,
            hostname: "h".into(),
        };
        let mut outs = Outputs::open(&[spec], &opts).unwrap();
        let t0 = Instant::now();
        outs.sync_when_due(t0);
        assert_eq!(outs.next_sync(), None, "nothing written: no timer");
        outs.emit(Report::Finding(Box::new(crate::core::finding::tests::sample())));
        outs.flush();
        outs.sync_when_due(t0);
        assert_eq!(outs.next_sync(), Some(t0 + SYNC_EVERY), "the first line starts the second");
        outs.emit(Report::Finding(Box::new(crate::core::finding::tests::sample())));
        outs.flush();
        outs.sync_when_due(t0 + SYNC_EVERY / 2);
        assert_eq!(outs.next_sync(), Some(t0 + SYNC_EVERY), "later lines wait with it");
        outs.sync_when_due(t0 + SYNC_EVERY);
        assert_eq!(outs.next_sync(), None, "synced, and no timer until the next line");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
