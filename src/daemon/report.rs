//! Findings, health events and counters on their way out: the allowlist, the
//! de-duplication window, the outputs, the log.

use std::time::{Duration, Instant};

use crate::core::allow;
use crate::core::cgroup::{self, Container};
use crate::core::connect::ConnectEvent;
use crate::core::finding::Finding;
use crate::core::health::{Event, Health, Level};
use crate::core::origin::ProcView;
use crate::core::signature;
use crate::io::clock;
use crate::io::lookups::Stalled;
use crate::io::output::Report;
use crate::{error, info, warn};

use super::Daemon;

/// The counters are logged this long after they first change since the last
/// report (and on SIGUSR1 and at exit); an idle daemon logs nothing and wakes for
/// nothing.
pub(super) const STATS_EVERY: Duration = Duration::from_secs(600);
/// ENOBUFS losses are reported at most this often.
pub(super) const ENOBUFS_EVERY: Duration = Duration::from_secs(10);
/// Containers named in one health event, at most (the total is given beside).
const CONTAINERS_SHOWN: usize = 100;
/// Unchecked connects are reported at most this often (the rest are counted
/// into the next report).
pub(super) const UNCHECKED_EVERY: Duration = Duration::from_secs(10);

/// Connects whose path could not be resolved in time, for the health events
/// about them.
pub(super) struct Stalls {
    pub unchecked_reported: u64,
    pub unchecked_next: Instant,
    /// The latest unchecked connect not yet reported.
    pub pending: Option<Health>,
}

impl Stalls {
    pub fn new(now: Instant) -> Stalls {
        Stalls { unchecked_reported: 0, unchecked_next: now, pending: None }
    }
}

impl Daemon {
    /// A health event stamped now, from this host.
    pub(super) fn health(&self, event: Event, level: Level, message: String) -> Health {
        Health::new(clock::now_micros(), event, level, message, &self.hostname)
    }

    pub(super) fn report(&mut self, health: Vec<Health>) {
        for ev in health {
            if self.health_on_stderr {
                match ev.level {
                    Level::Error => error!("health: {}", ev.message),
                    Level::Warning => warn!("health: {}", ev.message),
                    Level::Info => info!("health: {}", ev.message),
                }
            }
            self.stats.health_events += 1;
            self.stats.health_by_event[ev.event.index()] += 1;
            self.outputs.emit(Report::Health(ev));
        }
    }

    /// Counts a finding and says whether the allowlist takes it.
    pub(super) fn is_allowed(&mut self, f: &Finding) -> bool {
        let sig = signature::index(f.signature);
        self.stats.findings += 1;
        self.stats.findings_by_signature[sig] += 1;
        let allowed = allow::allowed(&self.allow, f);
        if allowed {
            self.stats.allowed += 1;
            self.stats.allowed_by_signature[sig] += 1;
        }
        allowed
    }

    /// A finding through the de-duplication window to the outputs.
    pub(super) fn offer(&mut self, f: Finding, now: Instant) {
        let mut out = std::mem::take(&mut self.emitted);
        self.dedup.offer(f, now, &mut out);
        self.emitted = out;
        self.emit();
    }

    pub(super) fn emit(&mut self) {
        // Drained, not taken: the vector keeps its capacity. (Findings are large;
        // a new vector of them per connect was a large allocation each time,
        // which made the allocator consolidate its free lists.)
        let mut emitted = std::mem::take(&mut self.emitted);
        for f in emitted.drain(..) {
            self.stats.findings_emitted += 1;
            self.stats.emitted_by_signature[signature::index(f.signature)] += 1;
            self.outputs.emit(Report::Finding(Box::new(f)));
        }
        self.emitted = emitted;
        self.stats.output_errors = self.outputs.counters.failed;
        self.stats.output_dropped = self.outputs.counters.dropped;
    }

    /// Containers for a health event: id, runtime, name (from the runtime's state)
    /// and the number of processes concerned; at most 100 (the total is given
    /// beside them).
    pub(super) fn containers_json(
        &mut self,
        list: Vec<(Container, usize)>,
    ) -> (serde_json::Value, usize) {
        let total = list.len();
        let out: Vec<serde_json::Value> = list
            .into_iter()
            .take(CONTAINERS_SHOWN)
            .map(|(c, n)| {
                let name = self.meta.lookup(&c).and_then(|m| m.name);
                serde_json::json!({"id": c.id, "runtime": c.runtime.as_str(), "name": name, "processes": n})
            })
            .collect();
        (serde_json::Value::Array(out), total)
    }

    /// ENOBUFS on sockwatch's own socket, reported at most every 10 s: it happens
    /// when sockwatch is already behind, so it must cost next to nothing.
    pub(super) fn report_enobufs(&mut self, now: Instant) {
        let k = &mut self.keeper;
        let n = self.stats.lost_enobufs - k.enobufs_reported;
        k.enobufs_reported = self.stats.lost_enobufs;
        k.enobufs_next = now + ENOBUFS_EVERY;
        let ev = self
            .health(
                Event::RecordsLost,
                Level::Error,
                format!("{n} overflow(s) of sockwatch's audit socket (ENOBUFS): connects may have been missed"),
            )
            .with("source", "enobufs")
            .with("overflows", n)
            .with("overflows_total", self.stats.lost_enobufs);
        self.report(vec![ev]);
    }

    /// A connect whose sun_path could not be resolved: it may have reached a
    /// watched socket, so it is reported, though not as a finding.
    pub(super) fn unchecked(&mut self, c: &ConnectEvent, path: Vec<u8>, why: Stalled) {
        self.stats.connects_unchecked += 1;
        let pid = c.ids.pid.unwrap_or_default();
        let comm = String::from_utf8_lossy(c.comm.as_deref().unwrap_or_default()).into_owned();
        let path = String::from_utf8_lossy(&path).into_owned();
        let container = self.proc.cgroup(pid).and_then(|t| cgroup::container_of(&t)).map(|c| c.id);
        let ev = self
            .health(
                Event::ConnectUnchecked,
                Level::Error,
                format!(
                    "a connect by pid {pid} ({comm:?}) to {path:?} could not be checked against the watched sockets: \
                     resolving the path in the process's root: {}; a file system the process controls (FUSE) may be stalling sockwatch",
                    why.as_str()
                ),
            )
            .with("pid", pid)
            .with("comm", comm)
            .with("path", path)
            .with("via", c.via.as_str())
            .with("reason", why.as_str())
            .with("container_id", container)
            .with("helpers_stuck", self.proc.lookups.stuck());
        let c = self.proc.lookups.counters();
        self.stats.lookups_stalled = c.timed_out + c.refused;
        self.stalls.pending = Some(ev);
        let now = Instant::now();
        if now >= self.stalls.unchecked_next {
            self.report_unchecked(now);
        }
    }

    /// The latest unchecked connect, with how many there were since the last
    /// report: at most one every `UNCHECKED_EVERY`.
    pub(super) fn report_unchecked(&mut self, now: Instant) {
        let total = self.stats.connects_unchecked;
        let n = total - self.stalls.unchecked_reported;
        self.stalls.unchecked_reported = total;
        self.stalls.unchecked_next = now + UNCHECKED_EVERY;
        if let Some(ev) = self.stalls.pending.take() {
            self.report(vec![ev.with("connects", n).with("connects_total", total)]);
        }
    }

    pub(super) fn periodic_stats(&mut self, now: Instant) {
        match self.stats_due {
            Some(due) if now >= due => {
                info!("stats: {}", self.stats);
                self.reported = self.stats.clone();
                self.stats_due = None;
            }
            None if self.stats != self.reported => self.stats_due = Some(now + STATS_EVERY),
            _ => {}
        }
    }
}
