//! The metrics file (`--metrics-file`): written at start, so that every series
//! exists from the first scrape; when the counters changed, at most every 15 s
//! (`core::metrics::next_write`: a deadline armed by a change, never a periodic
//! timer, so an idle daemon neither wakes nor writes for it); and at a clean
//! exit, with `sockwatch_up 0`. A failed write is counted and logged, retried
//! with the next, and never stops the daemon.

use std::time::Instant;

use crate::core::metrics::{self, OutputCounts, Snapshot};
use crate::io::metrics_file::MetricsFile;
use crate::{error, info};

use super::Daemon;

pub(super) struct Metrics {
    file: MetricsFile,
    /// The start, in seconds since the epoch.
    start_time: u64,
    /// The counters the file holds (or was last meant to hold, after a failure).
    written: Snapshot,
    last_write: Instant,
    due: Option<Instant>,
    /// The file's text, reused between writes.
    text: String,
    /// Failures since the last write that succeeded.
    failing: u64,
}

impl Metrics {
    pub fn new(file: MetricsFile, start_time: u64, now: Instant) -> Metrics {
        Metrics {
            file,
            start_time,
            written: Snapshot::default(),
            last_write: now,
            due: None,
            text: String::new(),
            failing: 0,
        }
    }
}

impl Daemon {
    /// When the metrics file is next written, for the loop's timeout.
    pub(super) fn metrics_due(&self) -> Option<Instant> {
        self.metrics.as_ref().and_then(|m| m.due)
    }

    /// After each turn: arms the write when the counters changed, and writes
    /// when it is due.
    pub(super) fn metrics_turn(&mut self, now: Instant) {
        let Some(m) = self.metrics.as_ref() else { return };
        let changed = self.stats != m.written.stats
            || self.outputs.each().map(|(_, c)| (c.failed, c.dropped)).ne(m
                .written
                .outputs
                .iter()
                .map(|o| (o.errors, o.dropped)));
        let due = metrics::next_write(m.due, changed, m.last_write, now);
        if let Some(m) = self.metrics.as_mut() {
            m.due = due;
        }
        if due.is_some_and(|d| now >= d) {
            self.write_metrics(true, now);
        }
    }

    /// Writes the file now; `up` is false only at exit.
    pub(super) fn write_metrics(&mut self, up: bool, now: Instant) {
        let outputs: Vec<OutputCounts> = self
            .outputs
            .each()
            .map(|(spec, c)| OutputCounts {
                name: spec.to_string(),
                errors: c.failed,
                dropped: c.dropped,
            })
            .collect();
        let Some(m) = self.metrics.as_mut() else { return };
        let snapshot = Snapshot { stats: self.stats.clone(), outputs };
        metrics::render(&snapshot, up, m.start_time, &mut m.text);
        m.due = None;
        m.last_write = now;
        // What is in the file, or was meant to be: after a failure the changed
        // failure counter arms the retry, at most every 15 s.
        m.written = snapshot;
        match m.file.write(m.text.as_bytes()) {
            Ok(()) => {
                if m.failing > 0 {
                    info!(
                        "metrics file {}: written again after {} failed write(s)",
                        m.file.path().display(),
                        m.failing
                    );
                    m.failing = 0;
                }
            }
            Err(e) => {
                m.failing += 1;
                self.stats.metrics_write_errors += 1;
                // The first failure and then at powers of two: a full disk must
                // not flood the log.
                if m.failing.is_power_of_two() {
                    let hint = if e.raw_os_error() == Some(nix::libc::EROFS) {
                        " (read-only: under the packaged unit, its directory needs a ReadWritePaths= line)"
                    } else {
                        ""
                    };
                    error!(
                        "metrics file {}: cannot write it: {e}{hint}; {} failure(s) in a row, retried while the counters change, at most every {} s",
                        m.file.path().display(),
                        m.failing,
                        metrics::WRITE_EVERY.as_secs()
                    );
                }
            }
        }
    }
}
