//! The audit keeper's decisions: from what the kernel reports (audit's status,
//! how each rule load went, the task-list never rules) to what sockwatch does
//! about it and the health events it raises. The daemon (`daemon::keeper`)
//! reads the kernel, calls these and carries out the result.
//!
//! Health events are stamped by the caller's `Stamp` (time and host), so these
//! functions read no clock.

use super::blind::{TASK_NEVER_SOURCE, invisible_without};
use super::health::{Event, Health, Level};
use super::rules::{RuleSpec, is_required};

/// Audit's status as the kernel reports it (AUDIT_GET).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// 0 off, 1 on, 2 on and locked until reboot.
    pub enabled: u32,
    pub pid: u32,
    pub lost: u32,
    pub backlog: u32,
    pub backlog_limit: u32,
    /// In jiffies (the kernel's HZ), as the kernel keeps it.
    pub backlog_wait_time: u32,
    pub failure: u32,
}

/// Makes a health event stamped now, from this host.
pub type Stamp<'a> = &'a dyn Fn(Event, Level, String) -> Health;

/// How the keeper was told to behave.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// --keep-audit-state: audit switched off is reported, not undone.
    pub keep_audit_state: bool,
    /// Registered as the audit daemon (--audit-mode unicast).
    pub unicast: bool,
    pub own_pid: u32,
}

/// What the keeper remembers about audit's status between checks.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// The kernel's lost counter at the last check.
    pub lost: u32,
    /// Audit is off and left off: reported once.
    pub blind: bool,
    /// Losing the registration was reported.
    pub lost_registration: bool,
}

/// What to do about a status.
#[derive(Debug, Default)]
pub struct Plan {
    pub health: Vec<Health>,
    /// Audit is off and must be turned back on (then call `enabled`).
    pub enable: bool,
}

/// The reaction to audit's status: records lost, audit switched off (turned
/// back on unless told to keep it), switched on again.
pub fn on_status(st: &Status, policy: Policy, mem: &mut Memory, h: Stamp<'_>) -> Plan {
    let mut plan = Plan::default();
    if st.lost > mem.lost {
        let n = st.lost - mem.lost;
        plan.health.push(
            h(
                Event::RecordsLost,
                Level::Error,
                format!("the kernel lost {n} audit record(s): connects may have been missed"),
            )
            .with("source", "kernel")
            .with("lost", n)
            .with("lost_total", st.lost)
            .with("backlog", st.backlog)
            .with("backlog_limit", st.backlog_limit),
        );
    }
    mem.lost = st.lost;
    if st.enabled == 0 && policy.keep_audit_state {
        if !mem.blind {
            mem.blind = true;
            plan.health.push(h(Event::AuditDisabled, Level::Error, "audit was switched off; left off (--keep-audit-state): no connect can be seen until it is on again".into()).with("restored", false));
        }
    } else if st.enabled == 0 {
        plan.enable = true;
    } else if mem.blind {
        mem.blind = false;
        plan.health.push(h(Event::AuditEnabled, Level::Info, "audit is on again".into()));
    }
    plan
}

/// Registered as the audit daemon and no longer: said once. Checked after
/// `on_status`'s plan is carried out.
pub fn registration(st: &Status, policy: Policy, mem: &mut Memory, h: Stamp<'_>) -> Option<Health> {
    if !policy.unicast || st.pid == policy.own_pid || mem.lost_registration {
        return None;
    }
    mem.lost_registration = true;
    Some(h(
        Event::RegistrationLost,
        Level::Error,
        format!(
            "no longer the registered audit daemon (the kernel now has pid {}): records no longer reach sockwatch",
            st.pid
        ),
    ))
}

/// After turning audit back on: the health event, and the enabled flag now.
pub fn enabled(result: Result<(), String>, h: Stamp<'_>) -> (Health, u32) {
    match result {
        Ok(()) => (
            h(
                Event::AuditDisabled,
                Level::Warning,
                "audit was switched off; turned it back on".into(),
            )
            .with("restored", true),
            1,
        ),
        Err(e) => (
            h(
                Event::AuditDisabled,
                Level::Error,
                format!("audit was switched off and cannot be turned on: {e}"),
            )
            .with("restored", false),
            0,
        ),
    }
}

/// The result of loading one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Load {
    Added,
    AlreadyLoaded,
    Refused(String),
}

/// What the keeper remembers about the rules between checks.
#[derive(Debug, Clone, Default)]
pub struct RuleMemory {
    /// The rules wanted at the last check: one wanted again after it went is
    /// restored; one wanted for the first time is a socket directory that appeared.
    pub wanted_before: Vec<RuleSpec>,
    /// Optional rules the kernel refused, reported once.
    pub refused_reported: Vec<RuleSpec>,
    /// Sockets whose appearance was reported (`socket_watched`), once each.
    pub announced: Vec<String>,
    /// Required rules that cannot be loaded were reported (until they load).
    pub missing_reported: bool,
}

/// A rule's load outcome, with whether its socket's directory went between the
/// look and the load (then it is waiting, not refused).
pub struct Outcome<'a> {
    pub rule: &'a RuleSpec,
    pub load: &'a Load,
    pub dir_gone: bool,
}

/// After loading the missing rules: which were restored (someone removed
/// them), which are sockets appearing, which the kernel refused, and which
/// required ones cannot be loaded. `added`: the rules this run added (removed
/// on exit); those it adds now join them. `runtime_of` names a socket's runtime.
/// Returns the health events and lines for the log.
pub fn after_load(
    outcomes: &[Outcome<'_>],
    mem: &mut RuleMemory,
    added: &mut Vec<RuleSpec>,
    runtime_of: &dyn Fn(&str) -> Option<&'static str>,
    h: Stamp<'_>,
) -> (Vec<Health>, Vec<String>) {
    let mut health = Vec::new();
    let Sorted { restored, appeared, refused, notes } = sort(outcomes, mem, added);
    let required: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o.load {
            Load::Refused(why) if is_required(o.rule) && !o.dir_gone => {
                Some(format!("{}: {why}", o.rule.describe()))
            }
            _ => None,
        })
        .collect();
    if restored > 0 {
        health.push(
            h(
                Event::RulesRestored,
                Level::Warning,
                format!("{restored} sockwatch audit rule(s) had been removed; loaded them again"),
            )
            .with("restored", restored),
        );
    }
    for path in appeared {
        // Once per socket: a directory made and removed over and over (a
        // user's, under /run/user) must not flood.
        if mem.announced.iter().any(|a| a == path) {
            continue;
        }
        mem.announced.push(path.to_string());
        health.push(
            h(
                Event::SocketWatched,
                Level::Info,
                format!("{path}: its directory appeared; its connect rules are loaded"),
            )
            .with("socket", path)
            .with("runtime", runtime_of(path)),
        );
    }
    if !refused.is_empty() {
        health.push(refused_health(&refused, h));
    }
    if !required.is_empty() && !mem.missing_reported {
        mem.missing_reported = true;
        health.push(h(
            Event::RulesMissing,
            Level::Error,
            format!("required rules cannot be loaded: {}", required.join("; ")),
        ));
    } else if required.is_empty() {
        mem.missing_reported = false;
    }
    mem.wanted_before = outcomes.iter().map(|o| o.rule.clone()).collect();
    (health, notes)
}

/// The loads sorted by what they mean.
struct Sorted<'a> {
    restored: usize,
    appeared: Vec<&'a str>,
    refused: Vec<Refused>,
    notes: Vec<String>,
}

fn sort<'a>(
    outcomes: &[Outcome<'a>],
    mem: &mut RuleMemory,
    added: &mut Vec<RuleSpec>,
) -> Sorted<'a> {
    let mut notes = Vec::new();
    let mut restored = 0;
    let mut appeared: Vec<&'a str> = Vec::new();
    let mut refused = Vec::new();
    for o in outcomes {
        match o.load {
            Load::Added => {
                // Ours now, whatever it was at start: removed on exit.
                if !added.contains(o.rule) {
                    added.push(o.rule.clone());
                }
                if let Some(i) = mem.refused_reported.iter().position(|x| x == o.rule) {
                    // Refused before, taken now (a module loaded, say).
                    mem.refused_reported.remove(i);
                    notes.push(format!("the kernel now takes {}", o.rule.describe()));
                    continue;
                }
                match o.rule {
                    RuleSpec::Connect { path, .. } if !mem.wanted_before.contains(o.rule) => {
                        if !appeared.contains(&path.as_str()) {
                            appeared.push(path);
                        }
                    }
                    _ => restored += 1,
                }
            }
            Load::Refused(_) if o.dir_gone => {}
            Load::Refused(why)
                if !is_required(o.rule) && !mem.refused_reported.contains(o.rule) =>
            {
                mem.refused_reported.push(o.rule.clone());
                refused.push((o.rule.clone(), why.clone()));
            }
            _ => {}
        }
    }
    Sorted { restored, appeared, refused, notes }
}

/// With the configuration locked nothing can be loaded: said once when
/// required rules are missing. `loaded[i]`: whether `rules[i]` is loaded.
pub fn when_locked(
    rules: &[RuleSpec],
    loaded: &[bool],
    mem: &mut RuleMemory,
    h: Stamp<'_>,
) -> Option<Health> {
    let missing = rules.iter().zip(loaded).filter(|(r, l)| !**l && is_required(r)).count();
    if missing == 0 || mem.missing_reported {
        return None;
    }
    mem.missing_reported = true;
    Some(h(
        Event::RulesMissing,
        Level::Error,
        format!(
            "{missing} required rule(s) are not loaded and the audit configuration is locked until reboot: connects to those sockets are not seen"
        ),
    ))
}

/// A rule the kernel refused, and its error.
pub type Refused = (RuleSpec, String);

/// The health event for optional rules the kernel refused: what is now unseen.
pub fn refused_health(refused: &[Refused], h: Stamp<'_>) -> Health {
    let what: Vec<String> = refused
        .iter()
        .map(|(r, why)| format!("{} ({why}): {} are not seen", r.describe(), invisible_without(r)))
        .collect();
    let mut invisible: Vec<&str> = refused.iter().map(|(r, _)| invisible_without(r)).collect();
    invisible.sort_unstable();
    invisible.dedup();
    h(
        Event::RulesRefused,
        Level::Warning,
        format!("the kernel refused {} rule(s): {}", refused.len(), what.join("; ")),
    )
    .with("rules", refused.iter().map(|(r, _)| r.describe()).collect::<Vec<_>>())
    .with("errors", refused.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>())
    .with("invisible", invisible)
}

/// What to do about one task-list never rule found loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeverAction {
    /// Delete it (then report with `never_removed` or `never_unremovable`).
    Remove,
    /// Leave it and report it (`never_reported`).
    Report { locked: bool },
    /// Leave it: already reported.
    Keep,
}

/// `new`: not there at the last check. `remove`: --remove-task-never.
/// `enabled`: audit's enabled flag (2: locked, nothing can be deleted).
pub fn task_never_action(new: bool, remove: bool, enabled: u32) -> NeverAction {
    match (remove, enabled == 2, new) {
        (true, false, _) => NeverAction::Remove,
        (_, _, false) => NeverAction::Keep,
        (remove, locked, true) => NeverAction::Report { locked: remove && locked },
    }
}

pub fn never_reported(text: &str, locked: bool, h: Stamp<'_>) -> Health {
    let message = if locked {
        format!(
            "a never rule on audit's task list is loaded ({text}) and cannot be removed: the audit configuration is locked until reboot; no task created while it is loaded is audited"
        )
    } else {
        format!(
            "a never rule on audit's task list is loaded ({text}): no task created while it is loaded gets an audit context, so no connect of theirs is ever seen; it usually comes from {TASK_NEVER_SOURCE}; remove it, or run sockwatch with --remove-task-never"
        )
    };
    h(Event::AuditTaskNever, Level::Error, message)
        .with("rules", vec![text.to_string()])
        .with("removed", false)
}

/// Removed; `containers` lists those with processes started while it was loaded.
pub fn never_removed(
    text: &str,
    containers: serde_json::Value,
    total: usize,
    h: Stamp<'_>,
) -> Health {
    h(
        Event::AuditTaskNever,
        Level::Warning,
        format!("removed a never rule on audit's task list ({text}); tasks created while it was loaded stay unaudited until they restart: {total} container(s) have processes started then (restart them); it usually comes from {TASK_NEVER_SOURCE}, and comes back when the rules are reloaded"),
    )
    .with("rules", vec![text.to_string()])
    .with("removed", true)
    .with("containers", containers)
    .with("containers_total", total)
}

pub fn never_unremovable(text: &str, error: &str, h: Stamp<'_>) -> Health {
    h(Event::AuditTaskNever, Level::Error, format!("a never rule on audit's task list is loaded ({text}) and cannot be removed ({error}): no task created while it is loaded is audited"))
        .with("rules", vec![text.to_string()])
        .with("removed", false)
}

#[cfg(test)]
mod tests;
