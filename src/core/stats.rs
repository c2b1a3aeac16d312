//! Counters for everything the daemon saw, skipped or lost, so that no skip is
//! silent: they are logged at shutdown and on SIGUSR1.

use std::fmt;

use super::health::Event;
use super::signature;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub records: u64,
    pub malformed_records: u64,
    pub unknown_record_types: u64,
    pub events: u64,
    pub events_timed_out: u64,
    pub events_evicted: u64,
    pub connects: u64,
    pub findings: u64,
    /// Findings the allowlist matched: not emitted.
    pub allowed: u64,
    /// Findings written (first occurrences and de-duplication summaries).
    pub findings_emitted: u64,
    pub skipped_not_watched: u64,
    pub skipped_not_unix: u64,
    pub skipped_host: u64,
    pub proc_vanished: u64,
    pub unattributed: u64,
    pub lost_enobufs: u64,
    pub lost_proc_events: u64,
    pub output_errors: u64,
    pub output_dropped: u64,
    pub health_events: u64,
    /// Connects with no PATH record whose sun_path could not be resolved in
    /// time (a file system the process controls stalled the read).
    pub connects_unchecked: u64,
    /// Lookups in a process's root that did not answer in time, or were not
    /// tried since earlier ones had not.
    pub lookups_stalled: u64,
    /// `findings`, `allowed` and `findings_emitted` by signature, indexed as
    /// `signature::IDS` (the metrics' `signature` label).
    pub findings_by_signature: [u64; signature::IDS.len()],
    pub allowed_by_signature: [u64; signature::IDS.len()],
    pub emitted_by_signature: [u64; signature::IDS.len()],
    /// `health_events` by event, indexed as `Event::ALL`.
    pub health_by_event: [u64; Event::ALL.len()],
    /// Times audit was found switched off and turned back on.
    pub audit_reenabled: u64,
    /// The kernel's own lost counter (auditctl -s's `lost`) at the last check:
    /// records the kernel dropped for every reader, sockwatch's socket aside.
    pub kernel_lost: u64,
    /// Writes of the metrics file (`--metrics-file`) that failed.
    pub metrics_write_errors: u64,
    /// `--respond`: containers frozen, processes killed, responses that failed.
    pub responses_frozen: u64,
    pub responses_killed: u64,
    pub responses_failed: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "records={} malformed={} unknown_types={} events={} timed_out={} evicted={} \
             connects={} findings={} allowed={} emitted={} not_watched={} not_unix={} host={} \
             proc_vanished={} unattributed={} lost_enobufs={} lost_proc_events={} output_errors={} output_dropped={} health_events={} \
             connects_unchecked={} lookups_stalled={} frozen={} killed={} responses_failed={}",
            self.records,
            self.malformed_records,
            self.unknown_record_types,
            self.events,
            self.events_timed_out,
            self.events_evicted,
            self.connects,
            self.findings,
            self.allowed,
            self.findings_emitted,
            self.skipped_not_watched,
            self.skipped_not_unix,
            self.skipped_host,
            self.proc_vanished,
            self.unattributed,
            self.lost_enobufs,
            self.lost_proc_events,
            self.output_errors,
            self.output_dropped,
            self.health_events,
            self.connects_unchecked,
            self.lookups_stalled,
            self.responses_frozen,
            self.responses_killed,
            self.responses_failed,
        )
    }
}
