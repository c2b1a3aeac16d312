//! Keeps audit working while the host changes it: CONFIG_CHANGE records (and a
//! slow poll, as a backstop) trigger a check of the enabled flag, the rules,
//! the lost counter and the task-list never rules. The decisions are
//! `core::keeper`'s; this file reads the kernel, applies them and reports.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::config::Settings;
use crate::core::abi;
use crate::core::blind;
use crate::core::health::{Event, Health, Level};
use crate::core::keeper::{self, Memory, NeverAction, Outcome, Policy, Refused, RuleMemory, Stamp};
use crate::core::record::{Record, types};
use crate::core::rules::{RuleSpec, rule_set};
use crate::core::runtimes;
use crate::info;
use crate::io::audit_rules::{self, load_missing, loaded, remove_duplicates};
use crate::io::{proc, sockets};

use super::Daemon;
use super::stop::AuditGuard;

/// The audit state is also checked this often when no CONFIG_CHANGE record asked
/// for it: a backstop for a change whose record was lost.
pub(super) const AUDIT_POLL: Duration = Duration::from_secs(60);
/// How often the audit state is checked while audit is off and left off.
const BLIND_POLL: Duration = Duration::from_secs(1);

/// A user's runtime directory, /run/user/UID.
pub(super) struct UserDir {
    /// When it appeared.
    seen: Instant,
    /// It has been seen as a mount point.
    mounted: bool,
    /// Its sockets carry rules and marks.
    ready: bool,
}

pub(super) struct Keeper {
    pub audit: AuditGuard,
    /// Every watched socket; the rules of those whose directory exists are
    /// loaded (none with --no-rules).
    pub sockets: Vec<String>,
    no_rules: bool,
    policy: Policy,
    status: Memory,
    pub rules: RuleMemory,
    /// Delete task-list never rules (--remove-task-never).
    remove_task_never: bool,
    /// The task-list never rules present at the last check (their bytes).
    task_never_seen: Vec<Vec<u8>>,
    /// When the last check ran, in clock ticks since boot.
    last_check_ticks: Option<u64>,
    /// A directory on the way to a socket changed: the rules are checked, at
    /// most every `DIR_CHECK_EVERY`.
    pub dir_check: bool,
    pub dir_check_not_before: Instant,
    /// fanotify queue overflows, reported at powers of two.
    pub fan_overflows: u64,
    /// Users' runtime directories whose rootless sockets are watched.
    users: BTreeMap<u32, UserDir>,
    /// When the directories still settling are looked at next.
    pub users_due: Option<Instant>,
    /// A CONFIG_CHANGE record asked for a check.
    pub check: bool,
    pub next_poll: Instant,
    /// ENOBUFS losses already reported, and when the next report may go.
    pub enobufs_reported: u64,
    pub enobufs_next: Instant,
    /// Duplicates are not removed before this (see `hand_over_duplicates`).
    dedup_not_before: Instant,
}

impl Keeper {
    pub fn new(
        audit: AuditGuard,
        sockets: Vec<String>,
        settings: &Settings,
        rules: Vec<RuleSpec>,
        refused: &[Refused],
        lost: u32,
    ) -> Keeper {
        let now = Instant::now();
        Keeper {
            audit,
            sockets,
            no_rules: settings.no_rules,
            policy: Policy {
                keep_audit_state: settings.keep_audit_state,
                unicast: settings.unicast,
                own_pid: std::process::id(),
            },
            status: Memory { lost, ..Memory::default() },
            rules: RuleMemory {
                wanted_before: rules,
                refused_reported: refused.iter().map(|(r, _)| r.clone()).collect(),
                ..RuleMemory::default()
            },
            remove_task_never: settings.remove_task_never,
            task_never_seen: Vec::new(),
            last_check_ticks: None,
            dir_check: false,
            dir_check_not_before: now,
            fan_overflows: 0,
            // Those there at start have long settled.
            users: sockets::user_ids()
                .into_iter()
                .map(|u| {
                    let mounted = sockets::user_dir_is_mount(u).unwrap_or(false);
                    (u, UserDir { seen: now, mounted, ready: true })
                })
                .collect(),
            users_due: None,
            // The first turn checks at once: a task-list never rule must be
            // reported at start.
            check: true,
            next_poll: now + AUDIT_POLL,
            enobufs_reported: 0,
            enobufs_next: now,
            dedup_not_before: now,
        }
    }

    /// The rules this run needs loaded now.
    fn wanted(&self) -> Vec<RuleSpec> {
        if self.no_rules {
            return Vec::new();
        }
        // A user's sockets wait until their runtime directory is ready (see
        // `core::runtimes::user_dir_ready`).
        let ready = |p: &String| {
            runtimes::user_of(p).is_none_or(|u| self.users.get(&u).is_some_and(|d| d.ready))
        };
        let present: Vec<String> =
            self.sockets.iter().filter(|p| sockets::dir_exists(p) && ready(p)).cloned().collect();
        rule_set(&present, abi::native())
    }

    /// A socket's rules went with its directory (the kernel drops a path rule
    /// whose directory is deleted): loading them again is the socket appearing,
    /// not a restore after someone removed them.
    pub fn forget(&mut self, socket: &str) {
        self.rules
            .wanted_before
            .retain(|r| !matches!(r, RuleSpec::Connect { path, .. } if *path == socket));
    }

    /// A user's runtime directory appeared (or appeared again): it settles
    /// before its sockets get rules and marks.
    pub fn user_appeared(&mut self, uid: u32, now: Instant) {
        self.users.insert(uid, UserDir { seen: now, mounted: false, ready: false });
        self.users_due = Some(now);
    }

    /// Looks at the users' runtime directories still settling (or going): returns
    /// the sockets of those that became ready, whose watch must be armed again.
    pub fn settle_users(&mut self, now: Instant) -> Vec<String> {
        const LOOK_EVERY: Duration = Duration::from_millis(50);
        let mut rearm = Vec::new();
        let mut due: Option<Instant> = None;
        let mut gone = Vec::new();
        for (uid, d) in self.users.iter_mut() {
            let Some(is_mount) = sockets::user_dir_is_mount(*uid) else {
                gone.push(*uid);
                continue;
            };
            let unmounted = d.mounted && !is_mount;
            d.mounted |= is_mount;
            let ready = runtimes::user_dir_ready(
                is_mount,
                unmounted,
                now.saturating_duration_since(d.seen),
            );
            if ready && !d.ready {
                rearm.extend(runtimes::rootless(*uid));
            }
            d.ready = ready;
            if !ready && !unmounted {
                due = Some(due.map_or(now + LOOK_EVERY, |t| t.min(now + LOOK_EVERY)));
            }
        }
        for uid in gone {
            self.users.remove(&uid);
        }
        if !rearm.is_empty() {
            // Rules loaded now are the sockets appearing, not a restore.
            for p in &rearm {
                self.forget(p);
            }
            self.check = true;
        }
        self.users_due = due;
        rearm
    }

    /// Another loader (augenrules, `auditctl -R`) loaded a copy of a rule this run
    /// had loaded: the kernel never refuses a duplicate of a rule added first on
    /// its list. One copy is enough, and it is the other loader's now, so it stays
    /// when sockwatch exits. Only rules this run owns are touched, and after a
    /// removal it pauses (longer or shorter per process): two sockwatch instances
    /// that both re-added the same rules must not both remove a copy, each time.
    fn hand_over_duplicates(&mut self, now: Instant, health: &mut Vec<Health>, h: Stamp<'_>) {
        if now < self.dedup_not_before {
            // Copies that arrive meanwhile are looked at when the pause ends.
            self.next_poll = self.next_poll.min(self.dedup_not_before);
            return;
        }
        let owned: Vec<RuleSpec> =
            self.wanted().into_iter().filter(|r| self.audit.added.contains(r)).collect();
        match remove_duplicates(&mut self.audit.ctl, &owned) {
            Ok(handed) if !handed.is_empty() => {
                for (r, n) in handed {
                    self.audit.added.retain(|a| *a != r);
                    info!(
                        "{} was loaded {n} time(s) more by another loader: removed the extra copies; it stays loaded when sockwatch exits",
                        r.describe()
                    );
                }
                let jitter = u64::from(std::process::id()).wrapping_mul(7919) % 1000;
                self.dedup_not_before = now + Duration::from_millis(500 + jitter);
            }
            Ok(_) => {}
            Err(e) => health.push(h(Event::RulesUnreadable, Level::Error, e.to_string())),
        }
    }

    /// Loads the rules wanted now that are missing; what happened is reported.
    fn restore_rules(&mut self, enabled: u32, now: Instant, h: Stamp<'_>) -> Vec<Health> {
        let rules = self.wanted();
        if rules.is_empty() {
            return Vec::new();
        }
        if enabled == 2 {
            // Locked: nothing can be loaded; say once if what we need is missing.
            let Ok((have, _)) = loaded(&mut self.audit.ctl, &rules) else { return Vec::new() };
            return keeper::when_locked(&rules, &have, &mut self.rules, h).into_iter().collect();
        }
        if self.status.blind {
            return Vec::new();
        }
        let loads = match load_missing(&mut self.audit.ctl, &rules) {
            Ok(l) => l,
            Err(e) => return vec![h(Event::RulesUnreadable, Level::Error, e.to_string())],
        };
        // A directory that went between the look and the load: waiting.
        let outcomes: Vec<Outcome<'_>> = rules
            .iter()
            .zip(&loads)
            .map(|(rule, load)| Outcome {
                rule,
                load,
                dir_gone: matches!(rule, RuleSpec::Connect { path, .. } if !sockets::dir_exists(path)),
            })
            .collect();
        let (mut health, notes) = keeper::after_load(
            &outcomes,
            &mut self.rules,
            &mut self.audit.added,
            &runtimes::runtime_of,
            h,
        );
        for n in notes {
            info!("{n}");
        }
        self.hand_over_duplicates(now, &mut health, h);
        health
    }
}

impl Daemon {
    /// Checks audit's state and puts right what the host changed under us.
    pub(super) fn keep_audit(&mut self, now: Instant) {
        let host = self.hostname.clone();
        let h = move |event, level, msg: String| {
            Health::new(crate::io::clock::now_micros(), event, level, msg, &host)
        };
        let k = &mut self.keeper;
        k.check = false;
        k.next_poll = now + AUDIT_POLL;
        let st = match k.audit.ctl.status() {
            Ok(st) => st,
            Err(e) => {
                let ev = h(
                    Event::AuditUnreadable,
                    Level::Error,
                    format!("cannot read the audit status: {e}"),
                );
                return self.report(vec![ev]);
            }
        };
        let plan = keeper::on_status(&st, k.policy, &mut k.status, &h);
        self.stats.kernel_lost = u64::from(k.status.lost);
        let mut health = plan.health;
        let mut enabled = st.enabled;
        if plan.enable {
            let result = k.audit.ctl.set_enabled(1).map_err(|e| e.to_string());
            let (ev, now_enabled) = keeper::enabled(result, &h);
            if now_enabled == 1 {
                self.stats.audit_reenabled += 1;
            }
            health.push(ev);
            enabled = now_enabled;
        }
        health.extend(keeper::registration(&st, k.policy, &mut k.status, &h));
        if k.status.blind {
            // Turning audit on from off leaves no record to wake us: look often
            // while blind.
            k.next_poll = now + BLIND_POLL;
        }
        health.extend(k.restore_rules(enabled, now, &h));
        self.check_task_never(enabled, &mut health);
        self.report(health);
    }

    /// Task-list never rules: reported while loaded, or deleted at once with
    /// --remove-task-never. Tasks created while one was loaded stay unaudited
    /// until they restart; the containers that have such processes are named.
    fn check_task_never(&mut self, enabled: u32, health: &mut Vec<Health>) {
        // Before the listing: a rule absent from it was loaded after this.
        let ticks = proc::boot_ticks_now();
        let found = match audit_rules::task_never_rules(&mut self.keeper.audit.ctl) {
            Ok(f) => f,
            Err(e) => {
                health.push(self.health(Event::RulesUnreadable, Level::Error, e.to_string()));
                return;
            }
        };
        let previous = self.keeper.last_check_ticks.replace(ticks);
        let seen = std::mem::take(&mut self.keeper.task_never_seen);
        let mut still = Vec::new();
        for (text, raw) in found {
            let new = !seen.contains(&raw);
            match keeper::task_never_action(new, self.keeper.remove_task_never, enabled) {
                NeverAction::Keep => still.push(raw),
                NeverAction::Report { locked } => {
                    health.push(keeper::never_reported(&text, locked, &|e, l, m| {
                        self.health(e, l, m)
                    }));
                    still.push(raw);
                }
                NeverAction::Remove => match self.keeper.audit.ctl.del_rule(&raw) {
                    // New since the last check: loaded after it. Otherwise it
                    // may have been there since boot.
                    Ok(()) => health
                        .push(self.task_never_removed(&text, new.then_some(previous).flatten())),
                    Err(e) => {
                        // Said once, while it stays.
                        if new {
                            let ev =
                                keeper::never_unremovable(&text, &e.to_string(), &|e, l, m| {
                                    self.health(e, l, m)
                                });
                            health.push(ev);
                        }
                        still.push(raw);
                    }
                },
            }
        }
        self.keeper.task_never_seen = still;
    }

    /// The health event for a never rule just removed, naming the containers
    /// with processes started from `from` (clock ticks since boot; `None`: boot)
    /// to now, which may be unaudited.
    fn task_never_removed(&mut self, text: &str, from: Option<u64>) -> Health {
        let until = proc::boot_ticks_now();
        let started = blind::containers_started(&proc::processes(), from, until);
        let (names, n) = self.containers_json(started);
        keeper::never_removed(text, names, n, &|e, l, m| self.health(e, l, m))
    }
}

/// A CONFIG_CHANGE record about the enabled flag or the rules: any removal, an
/// addition of a rule with sockwatch's key (another loader's copy of one of ours
/// makes a duplicate, see `core::rules::copies`), and any addition to the task
/// list (a never rule there blinds audit, see `core::blind`).
pub(super) fn is_audit_change(r: &Record) -> bool {
    r.rtype == types::CONFIG_CHANGE && {
        let op = r.raw("op").unwrap_or_default();
        // A failed add (res=0: its directory is gone, say) is logged too; it
        // loaded nothing, and checking on it would retry the add at once, forever.
        let done = || r.raw("res").is_some_and(|v| v == b"1");
        let ours = || {
            r.raw("key").is_some_and(|k| {
                k.strip_prefix(b"\"").and_then(|k| k.strip_suffix(b"\""))
                    == Some(crate::core::rules::key().as_bytes())
            })
        };
        let task_list = || r.raw("list").is_some_and(|l| l == b"1");
        op == b"set" && r.raw("audit_enabled").is_some()
            || op == b"remove_rule"
            || op == b"\"remove_rule\""
            || (op == b"add_rule" || op == b"\"add_rule\"") && done() && (ours() || task_list())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_changes_that_call_for_a_check() {
        let capture = include_bytes!("../../tests/data/records-6.18.txt");
        let changes: Vec<String> = capture
            .split(|&b| b == b'\n')
            .filter_map(|l| Record::parse_line(l).ok())
            .filter(is_audit_change)
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        // sockwatch's own exit in the capture: seven rules removed, audit switched off.
        assert_eq!(
            changes
                .iter()
                .filter(|c| c.starts_with("auid=") && c.contains("op=remove_rule"))
                .count(),
            7,
            "{changes:#?}"
        );
        assert_eq!(
            changes.iter().filter(|c| c.starts_with("op=set audit_enabled=0")).count(),
            1,
            "{changes:#?}"
        );
        let ours = Record::parse_line(
            b"type=1305 audit(1.000:1): op=add_rule key=\"sockwatch\" list=4 res=1",
        )
        .unwrap();
        assert!(
            is_audit_change(&ours),
            "someone may have loaded a second copy of one of our rules"
        );
        let failed = Record::parse_line(
            b"type=1305 audit(1.000:1): op=add_rule key=\"sockwatch\" list=4 res=0",
        )
        .unwrap();
        assert!(
            !is_audit_change(&failed),
            "a failed add changed nothing (and re-checking would loop)"
        );
        let other =
            Record::parse_line(b"type=1305 audit(1.000:1): op=add_rule key=\"www\" list=4 res=1")
                .unwrap();
        assert!(!is_audit_change(&other), "others' rules are theirs");
        // auditctl -a never,task
        let never = Record::parse_line(b"type=1305 audit(1.000:1): auid=0 ses=1 subj=unconfined op=add_rule key=(null) list=1 res=1").unwrap();
        assert!(is_audit_change(&never), "a task-list rule may blind audit");
        let exit_rule = Record::parse_line(
            b"type=1305 audit(1.000:1): auid=0 ses=1 op=add_rule key=(null) list=4 res=1",
        )
        .unwrap();
        assert!(!is_audit_change(&exit_rule));
        let backlog = Record::parse_line(
            b"type=1305 audit(1.000:2): op=set audit_backlog_limit=8192 old=64 res=1",
        )
        .unwrap();
        assert!(!is_audit_change(&backlog));
    }
}
