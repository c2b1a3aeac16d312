//! Assembled audit events -> connects -> TRC-1019 findings. The decision is
//! `core::detect::detect`, the same function `scan` uses; this file supplies
//! what only a live host knows: the process's origin from /proc and the
//! process connector, its full argv, and the sockets' current identities.

use std::time::Instant;

use crate::core::assemble::Close;
use crate::core::connect::{self, ConnectEvent};
use crate::core::detect::{self, FileId, Hit, Process, Skip};
use crate::core::origin::{By, Origin};
use crate::debug;
use crate::io::{clock, proc, sockets};

use super::Daemon;
use super::keeper::is_audit_change;

/// Spare record bodies kept, at most, and the largest kept (a record is at most
/// 8970 bytes).
const SPARE_BODIES: usize = 1024;
const SPARE_BODY_MAX: usize = 16 << 10;

impl Daemon {
    /// Takes the events the assembler closed: counts them, wakes the keeper on
    /// an audit configuration change, and judges every connect.
    pub(super) fn handle_closed(&mut self) {
        let mut closed = std::mem::take(&mut self.closed);
        for ev in &closed {
            self.stats.events += 1;
            match ev.closed_by {
                Close::Timeout => self.stats.events_timed_out += 1,
                Close::Evicted => self.stats.events_evicted += 1,
                _ => {}
            }
            if ev.records.iter().any(is_audit_change) {
                self.keeper.check = true;
            }
            if let Some(c) = connect::extract(ev) {
                self.stats.connects += 1;
                self.on_connect(&c);
            }
        }
        for mut ev in closed.drain(..) {
            for r in ev.records.drain(..) {
                if self.spare_bodies.len() < SPARE_BODIES && r.body.capacity() <= SPARE_BODY_MAX {
                    self.spare_bodies.push(r.body);
                }
            }
            self.assembler.recycle(ev.records);
        }
        self.closed = closed;
    }

    fn on_connect(&mut self, c: &ConnectEvent) {
        let resolved = self.resolve_without_path(c);
        let mut result = self.detect(c, resolved);
        if let Err(skip) = result {
            // A runtime may just have re-created its socket: look again.
            if detect::worth_refresh(c, skip) {
                let changed = sockets::refresh(&mut self.watched);
                if !changed.is_empty() {
                    self.socket_changes(changed);
                    result = self.detect(c, resolved);
                }
            }
        }
        let (mut f, mut origin) = match result {
            Ok(d) => (d.finding, d.origin),
            Err(skip) => return self.skip(c, skip),
        };
        if self.is_allowed(&f) {
            debug!("connect {}: allowed by the allowlist ({:?})", c.stamp, f.container.name);
            return;
        }
        // Before anything else that costs: the client's next request on the
        // API is a round trip away.
        let failed = self.respond(c, &origin, &mut f);
        if let (true, Origin::Container(a)) = (self.meta_after_response, &mut origin) {
            a.meta = self.meta.lookup(&a.container);
            f.container = crate::core::finding::container_info(&origin);
            f.summarize();
        }
        // The costly part last, for a finding that will be written: the whole
        // argv from /proc (bounded), when the record's was cut short.
        if let Some((argv, truncated)) = proc::full_cmdline(c.ids.pid, c.proctitle.as_deref()) {
            f.process = f.process.with_cmdline(&argv, truncated);
        }
        self.offer(f, Instant::now());
        if let Some(ev) = failed {
            self.report(vec![ev]);
        }
    }

    fn detect(
        &mut self,
        c: &ConnectEvent,
        resolved: Option<FileId>,
    ) -> Result<detect::Detection, Skip> {
        // Lent out and put back (the lookup needs the daemon mutably): no copy
        // per connect.
        let watched = std::mem::take(&mut self.watched);
        let hostname = std::mem::take(&mut self.hostname);
        let now = clock::now_micros();
        let result =
            detect::detect(c, &watched, resolved, |hit| self.look_up(c, hit), now, Some(&hostname));
        self.watched = watched;
        self.hostname = hostname;
        result
    }

    /// What only /proc and the process history know about a connect that
    /// reached a watched socket.
    fn look_up(&mut self, c: &ConnectEvent, _hit: &Hit) -> Process {
        let at = c.stamp.sec as f64 + f64::from(c.stamp.msec) / 1000.0;
        let mut origin = self.attributor.attribute(c.ids.pid, c.ids.ppid, at, &self.proc);
        match &mut origin {
            Origin::Container(a) => {
                if a.by != By::Pid {
                    self.stats.proc_vanished += 1;
                }
                if !self.meta_after_response {
                    a.meta = self.meta.lookup(&a.container);
                }
            }
            Origin::Unknown { namespaces: None, .. } => {
                self.stats.proc_vanished += 1;
                self.stats.unattributed += 1;
                debug!(
                    "connect {}: pid {:?} gone and no ancestor tells its container",
                    c.stamp, c.ids.pid
                );
            }
            Origin::Unknown { .. } | Origin::Host => {}
        }
        Process { origin }
    }

    /// A connect with no PATH record (the kernel did not resolve a name) is matched
    /// by resolving sun_path inside the process's root, while it still exists.
    /// When that read does not answer (a FUSE mount the process serves), the
    /// connect cannot be checked, and a health event says so.
    fn resolve_without_path(&mut self, c: &ConnectEvent) -> Option<FileId> {
        let path = detect::needs_resolution(c)?;
        let pid = c.ids.pid?;
        match self.proc.resolve(pid, c.cwd.as_deref(), path) {
            Ok(r) => r.ok(),
            Err(why) => {
                self.unchecked(c, path.to_vec(), why);
                None
            }
        }
    }

    fn skip(&mut self, c: &ConnectEvent, why: Skip) {
        match why {
            Skip::NotUnixPath => self.stats.skipped_not_unix += 1,
            Skip::NotWatched => self.stats.skipped_not_watched += 1,
            Skip::HostProcess => self.stats.skipped_host += 1,
        }
        debug!(
            "connect {} by pid {:?} ({}) skipped: {}",
            c.stamp,
            c.ids.pid,
            String::from_utf8_lossy(c.comm.as_deref().unwrap_or_default()),
            why.as_str()
        );
    }
}
