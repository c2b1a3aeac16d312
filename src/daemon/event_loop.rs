//! The loop: one mio `Poll`, a named token per source, one handler each, then
//! the timers. Reads are batched so that no source (a flood of audit records, a
//! host forking without pause) keeps the others, or a signal, waiting.
//!
//! A busy source is paced: the kernel wakes a reader for every message, and a
//! host forking a thousand times a second, or a connect's six records, would
//! wake the loop per message. When a source wakes the loop again within its
//! pause of the last read, it is taken off the poll and read on a timer, once a
//! pause, until a read finds it empty. Records then wait at most `AUDIT_PAUSE`
//! longer; process events are read before any audit record is handled, so they
//! are never late for one.

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};
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
/// A busy audit source is read this often (see the module's comment): what a
/// finding may wait, bought for a wakeup per batch instead of per record.
const AUDIT_PAUSE: Duration = Duration::from_millis(1);
/// A busy process connector is read this often. A fork storm of 100,000 events
/// a second fills about 8 MiB of the socket's 16 MiB in this time.
const PROC_PAUSE: Duration = Duration::from_millis(50);

/// Sources with more queued than one turn reads.
#[derive(Default)]
struct Backlog {
    audit: bool,
    procs: bool,
    files: bool,
}

/// What a read of a source found.
#[derive(Clone, Copy)]
struct Drained {
    /// Something was read.
    any: bool,
    /// The batch ran out before the source did.
    more: bool,
}

/// A source that is paced while busy (see the module's comment).
struct Pace {
    token: Token,
    fd: RawFd,
    pause: Duration,
    /// The last read that woke the loop.
    last: Option<Instant>,
    /// Off the poll, read on a timer: the next read is due then.
    due: Option<Instant>,
}

impl Pace {
    fn new(token: Token, fd: RawFd, pause: Duration) -> Pace {
        Pace { token, fd, pause, last: None, due: None }
    }

    /// After a read on a wakeup that emptied the source: a second wakeup within
    /// the pause takes the source off the poll.
    fn woke(&mut self, reg: &Registry, now: Instant) -> Result<(), Error> {
        let busy = self.last.is_some_and(|t| now < t + self.pause);
        self.last = Some(now);
        if busy && self.due.is_none() {
            reg.deregister(&mut SourceFd(&self.fd)).context("pacing a busy source")?;
            self.due = Some(now + self.pause);
        }
        Ok(())
    }

    fn is_due(&self, now: Instant) -> bool {
        self.due.is_some_and(|t| now >= t)
    }

    /// After the timed read: while it finds something the source stays off the
    /// poll; once it finds nothing, the source wakes the loop again.
    fn read(&mut self, reg: &Registry, got: Drained, now: Instant) -> Result<(), Error> {
        if got.any || got.more {
            self.due = Some(now + self.pause);
            return Ok(());
        }
        reg.register(&mut SourceFd(&self.fd), self.token, Interest::READABLE)
            .context("resuming a paced source")?;
        self.due = None;
        self.last = None;
        Ok(())
    }
}

impl Daemon {
    /// Runs until SIGTERM or SIGINT (Ok) or a source fails for good (Err).
    pub(super) fn run(&mut self, mut s: Sources) -> Result<(), Error> {
        let mut poll = Poll::new().context("cannot create the event loop")?;
        register(&poll, &s)?;
        let mut events = Events::with_capacity(16);
        let mut backlog = Backlog::default();
        // With --respond the reaction time is the point: every record is read
        // as it comes (the last of a connect's records would otherwise wait for
        // the pause), at the cost of a wakeup per record under a flood.
        let audit_pause = if self.responder.is_some() { Duration::ZERO } else { AUDIT_PAUSE };
        let mut audit_pace = Pace::new(AUDIT, s.intake.as_raw_fd(), audit_pause);
        let mut proc_pace = s.procs.as_ref().map(|p| Pace::new(PROC, p.as_raw_fd(), PROC_PAUSE));
        loop {
            if backlog.procs {
                backlog.procs = self.read_proc_events(&mut s.procs).more;
            }
            // The last turn's lines, in one write per batched output (before
            // sleeping: a start-up health event must not wait for a wakeup),
            // and their sync when due.
            self.outputs.flush();
            self.outputs.sync_when_due(Instant::now());
            // After the findings' write: the metrics file never delays them.
            self.metrics_turn(Instant::now());
            let paced = [audit_pace.due, proc_pace.as_ref().and_then(|p| p.due)];
            let timeout = self.next_timeout(&backlog, paced);
            if let Err(e) = poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::msg(format!("event loop: {e}")));
            }
            let reg = poll.registry();
            let now = Instant::now();
            let mut audit_woke = false;
            for ev in events.iter() {
                match ev.token() {
                    AUDIT => audit_woke = true,
                    PROC => {
                        let got = self.read_proc_events(&mut s.procs);
                        backlog.procs = got.more;
                        if let (Some(p), Some(_), false) = (proc_pace.as_mut(), &s.procs, got.more)
                        {
                            p.woke(reg, now)?;
                        }
                    }
                    FILES => backlog.files = true,
                    SIGNAL if self.on_signals(&mut s)? => return Ok(()),
                    _ => {}
                }
            }
            if backlog.files {
                backlog.files = self.on_fanotify(&mut s.files);
            }
            if proc_pace.as_ref().is_some_and(|p| p.is_due(now)) {
                let got = self.read_proc_events(&mut s.procs);
                backlog.procs = got.more;
                if let (Some(p), Some(_)) = (proc_pace.as_mut(), &s.procs) {
                    p.read(reg, got, now)?;
                }
            }
            let audit_timed = audit_pace.is_due(now);
            if audit_woke || audit_timed || backlog.audit {
                // Forks that happened before the connects just queued must be known
                // first: read the (cheap) process events, then the records.
                backlog.procs = self.read_proc_events(&mut s.procs).more;
                let got = self.drain(&mut s.intake, READ_BATCH)?;
                backlog.audit = got.more;
                if audit_timed {
                    audit_pace.read(reg, got, now)?;
                } else if audit_woke && !got.more {
                    audit_pace.woke(reg, now)?;
                }
            }
            if s.procs.is_none() {
                // The connector failed and was closed: its descriptor is gone
                // from the poll, and must not be registered again.
                proc_pace = None;
            }
            self.on_timers(Instant::now(), &mut s.files);
        }
    }

    /// Zero while a source has more queued; else until the earliest timer, or
    /// for ever.
    fn next_timeout(&self, backlog: &Backlog, paced: [Option<Instant>; 2]) -> Option<Duration> {
        if backlog.audit || backlog.procs || backlog.files {
            return Some(Duration::ZERO);
        }
        let k = &self.keeper;
        paced
            .into_iter()
            .chain([
                self.assembler.next_deadline(),
                self.dedup.next_deadline(),
                self.outputs.next_retry(),
                self.outputs.next_sync(),
                self.stats_due,
                self.metrics_due(),
                Some(k.next_poll),
                k.users_due,
                k.dir_check.then_some(k.dir_check_not_before),
                (self.stats.lost_enobufs > k.enobufs_reported).then_some(k.enobufs_next),
                self.stalls.pending.is_some().then_some(self.stalls.unchecked_next),
            ])
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
    /// retries, the counters. (The outputs' flush and sync are at the top of
    /// the loop.)
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
        self.stats.output_errors = self.outputs.counters.failed;
        self.stats.output_dropped = self.outputs.counters.dropped;
        self.periodic_stats(now);
    }

    /// Reads queued process events (at most a batch; returns whether more may be
    /// waiting). A broken connector is closed, not fatal: attribution carries on
    /// with /proc and the record's ppid alone.
    fn read_proc_events(&mut self, procs: &mut Option<ProcEvents>) -> Drained {
        let Some(p) = procs.as_mut() else { return Drained { any: false, more: false } };
        for n in 0..READ_BATCH {
            match p.read() {
                Ok(Some(ProcRead::Event(ev))) => self.attributor.apply(ev),
                Ok(Some(ProcRead::Lost)) => self.proc_events_lost(),
                Ok(None) => return Drained { any: n > 0, more: false },
                Err(e) => {
                    error!("process events failed ({e}); continuing without them");
                    *procs = None;
                    self.attributor.reset();
                    self.attributor.tracking = false;
                    return Drained { any: n > 0, more: false };
                }
            }
        }
        Drained { any: true, more: true }
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
                    crate::core::health::Event::ProcessEventsLost,
                    crate::core::health::Level::Warning,
                    format!("process events were lost (ENOBUFS on the process connector, {n} time(s) so far): the fork and exec history was cleared, so a client that exits at once may be reported with an unknown container until it is rebuilt"),
                )
                .with("times", n);
            self.report(vec![ev]);
        }
    }

    /// Reads up to `limit` datagrams.
    fn drain(&mut self, intake: &mut Intake, limit: usize) -> Result<Drained, Error> {
        // The clock is read once per batch, not per record (it was 2% of the
        // time under load); it only times out events that never see their EOE.
        let mut now = Instant::now();
        for n in 0..limit {
            if n % 256 == 255 {
                now = Instant::now();
            }
            match intake.read().context("reading audit records")? {
                None => {
                    self.handle_closed();
                    return Ok(Drained { any: n > 0, more: false });
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
        Ok(Drained { any: true, more: true })
    }

    /// One record into the assembler; a malformed one is counted and logged.
    fn on_record(&mut self, rtype: u16, payload: &[u8], now: Instant) {
        self.stats.records += 1;
        let buf = self.spare_bodies.pop().unwrap_or_default();
        match Record::parse_into(rtype, payload, buf) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    fn ready(poll: &mut Poll, events: &mut Events, wait: Duration) -> bool {
        poll.poll(events, Some(wait)).unwrap();
        !events.is_empty()
    }

    #[test]
    fn a_busy_source_is_read_on_a_timer_until_it_is_empty() {
        let (tx, rx) = UnixDatagram::pair().unwrap();
        rx.set_nonblocking(true).unwrap();
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(4);
        let fd = rx.as_raw_fd();
        poll.registry().register(&mut SourceFd(&fd), AUDIT, Interest::READABLE).unwrap();
        let pause = Duration::from_millis(50);
        let mut pace = Pace::new(AUDIT, fd, pause);
        let drain = |rx: &UnixDatagram| {
            let mut n = 0;
            while rx.recv(&mut [0; 16]).is_ok() {
                n += 1;
            }
            Drained { any: n > 0, more: false }
        };
        let t0 = Instant::now();
        // A first wakeup: the source stays on the poll.
        tx.send(b"a").unwrap();
        assert!(ready(&mut poll, &mut events, pause));
        drain(&rx);
        pace.woke(poll.registry(), t0).unwrap();
        assert_eq!(pace.due, None);
        // A second within the pause: off the poll, read when due.
        tx.send(b"b").unwrap();
        assert!(ready(&mut poll, &mut events, pause));
        drain(&rx);
        pace.woke(poll.registry(), t0 + Duration::from_millis(1)).unwrap();
        assert_eq!(pace.due, Some(t0 + Duration::from_millis(1) + pause));
        tx.send(b"c").unwrap();
        tx.send(b"d").unwrap();
        assert!(!ready(&mut poll, &mut events, Duration::from_millis(20)), "no wakeup while paced");
        // The timed read finds two: still paced.
        let got = drain(&rx);
        let now = t0 + Duration::from_millis(60);
        pace.read(poll.registry(), got, now).unwrap();
        assert_eq!(pace.due, Some(now + pause));
        // The next finds none: back on the poll, and what comes next wakes it.
        pace.read(poll.registry(), drain(&rx), now + pause).unwrap();
        assert_eq!(pace.due, None);
        tx.send(b"e").unwrap();
        assert!(ready(&mut poll, &mut events, pause));
    }
}
