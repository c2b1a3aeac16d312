//! The loop: one mio `Poll`, a named token per source, one handler each, then
//! the timers. Reads are batched so that no source (a flood of audit records, a
//! host forking without pause) keeps the others, or a signal, waiting.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::Signal;

use crate::core::record::{Record, types};
use crate::error::{Context, Error};
use crate::io::fswatch::FsWatch;
use crate::io::intake::{Intake, Read};
use crate::io::procevents::{ProcEvents, Read as ProcRead};
use crate::io::sockets;
use crate::{debug, error, info, warn};

use super::Daemon;
use super::start::Sources;

const AUDIT: Token = Token(0);
const SIGNAL: Token = Token(1);
const PROC: Token = Token(2);
const FILES: Token = Token(3);

/// Datagrams read per wakeup before signals get a look in.
const READ_BATCH: usize = 4096;
/// Datagrams still read after SIGTERM, at most: systemd's stop timeout must not
/// run out (and SIGKILL would leave the rules behind).
const SHUTDOWN_DRAIN: usize = 100_000;
/// Checks asked for by directories appearing or going, at most this often.
const DIR_CHECK_EVERY: Duration = Duration::from_millis(200);

/// Sources with more queued than one turn reads.
#[derive(Default)]
struct Backlog {
    audit: bool,
    procs: bool,
    files: bool,
}

impl Daemon {
    /// Runs until SIGTERM or SIGINT (Ok) or a source fails for good (Err).
    pub(super) fn run(&mut self, mut s: Sources) -> Result<(), Error> {
        let mut poll = Poll::new().context("cannot create the event loop")?;
        register(&poll, &s)?;
        let mut events = Events::with_capacity(16);
        let mut backlog = Backlog::default();
        loop {
            if backlog.procs {
                backlog.procs = self.read_proc_events(&mut s.procs);
            }
            let timeout = self.next_timeout(&backlog);
            if let Err(e) = poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::msg(format!("event loop: {e}")));
            }
            let mut audit_ready = backlog.audit;
            for ev in events.iter() {
                match ev.token() {
                    AUDIT => audit_ready = true,
                    PROC => backlog.procs = self.read_proc_events(&mut s.procs),
                    FILES => backlog.files = true,
                    SIGNAL if self.on_signals(&mut s)? => return Ok(()),
                    _ => {}
                }
            }
            if backlog.files {
                backlog.files = self.on_fanotify(&mut s.files);
            }
            if audit_ready {
                // Forks that happened before the connects just queued must be known
                // first: read the (cheap) process events, then the records.
                backlog.procs = self.read_proc_events(&mut s.procs);
                backlog.audit = self.drain(&mut s.intake, READ_BATCH)?;
            }
            self.on_timers(Instant::now(), &mut s.files);
        }
    }

    /// Zero while a source has more queued; else until the earliest timer, or
    /// for ever.
    fn next_timeout(&self, backlog: &Backlog) -> Option<Duration> {
        if backlog.audit || backlog.procs || backlog.files {
            return Some(Duration::ZERO);
        }
        let k = &self.keeper;
        [
            self.assembler.next_deadline(),
            self.dedup.next_deadline(),
            self.outputs.next_retry(),
            self.outputs.next_sync(),
            self.stats_due,
            Some(k.next_poll),
            k.users_due,
            k.dir_check.then_some(k.dir_check_not_before),
            (self.stats.lost_enobufs > k.enobufs_reported).then_some(k.enobufs_next),
            self.stalls.pending.is_some().then_some(self.stalls.unchecked_next),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Returns whether to stop.
    fn on_signals(&mut self, s: &mut Sources) -> Result<bool, Error> {
        while let Some(sig) = s.signals.pending().context("reading signals")? {
            match sig {
                Signal::SIGTERM | Signal::SIGINT => {
                    info!("{sig}: shutting down");
                    // What is already queued is still ours to report, within
                    // reason: on a busy host the queue never runs dry.
                    self.drain(&mut s.intake, SHUTDOWN_DRAIN)?;
                    return Ok(true);
                }
                Signal::SIGHUP => {
                    self.outputs.reopen();
                    info!("SIGHUP: outputs reopened");
                }
                Signal::SIGUSR1 => info!("stats: {}", self.stats),
                _ => {}
            }
        }
        Ok(false)
    }

    /// Reads a batch of fanotify events; returns whether more may be waiting. A
    /// broken fanotify is closed, not fatal.
    fn on_fanotify(&mut self, files: &mut Option<FsWatch>) -> bool {
        let Some(f) = files.as_mut() else { return false };
        match f.read() {
            Ok((changes, more)) => {
                for p in self.on_file_changes(changes) {
                    f.add(&p);
                }
                more
            }
            Err(e) => {
                error!("fanotify failed ({e}); continuing without it");
                *files = None;
                false
            }
        }
    }

    /// Whatever is due: events without EOE closed, users' directories settled,
    /// the keeper's check, loss reports, de-duplication summaries, output
    /// retries and syncs, the counters.
    fn on_timers(&mut self, now: Instant, files: &mut Option<FsWatch>) {
        self.assembler.expire(now, &mut self.closed);
        self.handle_closed();
        if self.keeper.users_due.is_some_and(|t| now >= t) {
            for p in self.keeper.settle_users(now) {
                if let Some(f) = files.as_mut() {
                    let changes = f.rearm(&p);
                    for extra in self.on_file_changes(changes) {
                        f.add(&extra);
                    }
                }
            }
            let changed = sockets::refresh(&mut self.watched);
            self.socket_changes(changed);
        }
        if self.keeper.dir_check && now >= self.keeper.dir_check_not_before {
            // Directory churn (a user's mkdir and rmdir in a loop) costs at
            // most one check per DIR_CHECK_EVERY.
            self.keeper.dir_check = false;
            self.keeper.dir_check_not_before = now + DIR_CHECK_EVERY;
            self.keeper.check = true;
        }
        if self.keeper.check || now >= self.keeper.next_poll {
            self.keep_audit(now);
        }
        if self.stalls.pending.is_some() && now >= self.stalls.unchecked_next {
            self.report_unchecked(now);
        }
        if self.stats.lost_enobufs > self.keeper.enobufs_reported && now >= self.keeper.enobufs_next
        {
            self.report_enobufs(now);
        }
        self.dedup.expire(now, &mut self.emitted);
        self.emit();
        self.outputs.retry(now, false);
        self.outputs.sync_when_due(now);
        self.stats.output_errors = self.outputs.counters.failed;
        self.stats.output_dropped = self.outputs.counters.dropped;
        self.periodic_stats(now);
    }

    /// Reads queued process events (at most a batch; returns whether more may be
    /// waiting). A broken connector is closed, not fatal: attribution carries on
    /// with /proc and the record's ppid alone.
    fn read_proc_events(&mut self, procs: &mut Option<ProcEvents>) -> bool {
        let Some(p) = procs.as_mut() else { return false };
        for _ in 0..READ_BATCH {
            match p.read() {
                Ok(Some(ProcRead::Event(ev))) => self.attributor.apply(ev),
                Ok(Some(ProcRead::Lost)) => self.proc_events_lost(),
                Ok(None) => return false,
                Err(e) => {
                    error!("process events failed ({e}); continuing without them");
                    *procs = None;
                    self.attributor.reset();
                    self.attributor.tracking = false;
                    return false;
                }
            }
        }
        true
    }

    /// Forks were missed: cached pids may have been reused since. A health event
    /// the first time and then at powers of two: a host forking faster than
    /// sockwatch reads must not flood.
    fn proc_events_lost(&mut self) {
        self.attributor.reset();
        self.stats.lost_proc_events += 1;
        let n = self.stats.lost_proc_events;
        if n.is_power_of_two() {
            let ev = self
                .health(
                    "process_events_lost",
                    crate::core::health::Level::Warning,
                    format!("process events were lost (ENOBUFS on the process connector, {n} time(s) so far): the fork and exec history was cleared, so a client that exits at once may be reported with an unknown container until it is rebuilt"),
                )
                .with("times", n);
            self.report(vec![ev]);
        }
    }

    /// Reads up to `limit` datagrams; returns whether more may be waiting.
    fn drain(&mut self, intake: &mut Intake, limit: usize) -> Result<bool, Error> {
        for _ in 0..limit {
            let now = Instant::now();
            match intake.read().context("reading audit records")? {
                None => {
                    self.handle_closed();
                    return Ok(false);
                }
                Some(Read::Lost) => {
                    self.stats.lost_enobufs += 1;
                    if self.stats.lost_enobufs.is_power_of_two() {
                        warn!(
                            "audit records lost: the receive buffer overflowed (ENOBUFS, {} time(s) so far)",
                            self.stats.lost_enobufs
                        );
                    }
                }
                Some(Read::Record(rtype, payload)) => self.on_record(rtype, payload, now),
            }
            if self.closed.len() >= 64 {
                self.handle_closed();
            }
        }
        self.handle_closed();
        Ok(true)
    }

    /// One record into the assembler; a malformed one is counted and logged.
    fn on_record(&mut self, rtype: u16, payload: &[u8], now: Instant) {
        self.stats.records += 1;
        match Record::parse(rtype, payload) {
            Ok(rec) => {
                if !types::is_known_range(rec.rtype) {
                    self.stats.unknown_record_types += 1;
                    debug!("unknown audit record type {}", rec.rtype);
                }
                self.assembler.push(rec, now, &mut self.closed);
            }
            Err(e) => {
                self.stats.malformed_records += 1;
                debug!(
                    "malformed audit record (type {rtype}): {e}: {:?}",
                    String::from_utf8_lossy(payload)
                );
            }
        }
    }
}

fn register(poll: &Poll, s: &Sources) -> Result<(), Error> {
    let reg = poll.registry();
    reg.register(&mut SourceFd(&s.intake.as_raw_fd()), AUDIT, Interest::READABLE)
        .context("cannot poll the audit socket")?;
    reg.register(&mut SourceFd(&s.signals.as_raw_fd()), SIGNAL, Interest::READABLE)
        .context("cannot poll signals")?;
    if let Some(p) = &s.procs {
        reg.register(&mut SourceFd(&p.as_raw_fd()), PROC, Interest::READABLE)
            .context("cannot poll process events")?;
    }
    if let Some(f) = &s.files {
        reg.register(&mut SourceFd(&f.as_raw_fd()), FILES, Interest::READABLE)
            .context("cannot poll fanotify")?;
    }
    Ok(())
}
