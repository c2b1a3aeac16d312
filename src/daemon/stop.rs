//! Shutdown and clean-up: the last findings out, then what this run changed in
//! the kernel's audit state undone, and only that: the rules it added (never
//! ones that were there before, nor ones an audit daemon's rules file loads),
//! audit turned off again if it was off, the backlog limit put back.

use std::path::PathBuf;
use std::time::Instant;

use crate::core::rules::{BACKLOG_LIMIT, RuleSpec, removed_on_exit};
use crate::io::audit_rules;
use crate::io::netlink::Control;
use crate::io::notify;
use crate::{error, info};

use super::Daemon;

/// The named steps of a clean exit.
pub(super) fn stop(mut daemon: Daemon) {
    let _ = notify::notify("STOPPING=1");
    daemon.flush();
    daemon.write_metrics(false, Instant::now());
    info!("stopped: {}", daemon.stats);
    // Dropping the daemon drops its AuditGuard: the rules it added go, audit is
    // turned back off if it was off.
    drop(daemon);
}

impl Daemon {
    /// Every event still assembling, every summary still owed, every finding
    /// still queued for a failing output gets its last chance.
    fn flush(&mut self) {
        self.assembler.flush(&mut self.closed);
        self.handle_closed();
        self.dedup.flush(&mut self.emitted);
        self.emit();
        self.outputs.flush();
        self.outputs.retry(Instant::now(), true);
        self.outputs.sync();
        // What is still queued is dropped now, and counted (per output too).
        self.outputs.give_up();
        self.stats.output_errors = self.outputs.counters.failed;
        self.stats.output_dropped = self.outputs.counters.dropped;
    }
}

/// What this run changed in the kernel's audit state, undone when it is dropped:
/// on a clean exit, on an error return during start-up, and on a panic alike.
pub(super) struct AuditGuard {
    pub ctl: Control,
    pub added: Vec<RuleSpec>,
    pub enabled_by_us: bool,
    /// The backlog limit before this run raised it.
    pub backlog_was: Option<u32>,
    /// The rules.d file, read on exit only when an audit daemon is registered.
    pub rules_file: PathBuf,
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        // An audit daemon registered since (auditd started) owns the audit state
        // now: leave its enabled flag and backlog limit alone.
        let other_daemon =
            self.ctl.status().is_ok_and(|s| s.pid != 0 && s.pid != std::process::id());
        let file = other_daemon.then(|| std::fs::read_to_string(&self.rules_file).ok()).flatten();
        let (remove, keep) = removed_on_exit(&self.added, other_daemon, file.as_deref());
        for r in keep {
            info!(
                "left loaded for the audit daemon, whose rules file {} loads it too: {}",
                self.rules_file.display(),
                r.describe()
            );
        }
        let remove: Vec<RuleSpec> = remove.into_iter().cloned().collect();
        cleanup(&mut self.ctl, &remove, self.enabled_by_us && !other_daemon);
        if let Some(was) = self.backlog_was.filter(|_| !other_daemon) {
            // Only if nobody changed it since.
            if self.ctl.status().is_ok_and(|s| s.backlog_limit == BACKLOG_LIMIT) {
                if let Err(e) = self.ctl.set_backlog_limit(was) {
                    error!("cannot restore audit's backlog limit to {was}: {e}");
                }
            }
        }
    }
}

/// Removes exactly the rules this run added, and turns audit off again if this run
/// turned it on and it is still on.
pub(super) fn cleanup(ctl: &mut Control, added: &[RuleSpec], enabled_by_us: bool) {
    for (r, e) in audit_rules::remove(ctl, added) {
        error!("cannot remove rule {}: {e}", r.describe());
    }
    if enabled_by_us && ctl.status().is_ok_and(|s| s.enabled == 1) {
        if let Err(e) = ctl.set_enabled(0) {
            error!("cannot turn audit back off: {e}");
        }
    }
}
