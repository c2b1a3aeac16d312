//! The audit rule service: load, list, compare and remove sockwatch's rules in
//! the kernel, and the lock check, over the audit netlink socket. `rules`,
//! `run` and `doctor` all go through it, so they agree on what "loaded" means.

use crate::core::blind::task_never;
use crate::core::rules::{RuleSpec, copies};
use crate::error::{Context, Error};
use crate::io::netlink::{Control, Status};

pub use crate::core::keeper::Load;

pub fn open_control() -> Result<Control, Error> {
    Control::open().context("cannot open the audit netlink socket (are you root?)")
}

/// Fails with one line when the audit configuration is locked (`auditctl -e 2`).
pub fn ensure_unlocked(st: &Status) -> Result<(), Error> {
    if st.enabled == 2 {
        return Err(Error::msg(
            "the audit configuration is locked (enabled=2, auditctl -e 2): rules cannot be changed until reboot",
        ));
    }
    Ok(())
}

/// Loads each of `rules` that is not loaded yet, first on its list, and reports
/// what happened to each, in the order of `rules`. The kernel does not refuse a
/// duplicate of a rule added first on its list (it compares flags, and clears the
/// prepend flag once the rule is in), so duplicates are found by listing.
pub fn load_missing(ctl: &mut Control, rules: &[RuleSpec]) -> Result<Vec<Load>, Error> {
    let (have, _) = loaded(ctl, rules)?;
    let mut result: Vec<Load> = have.iter().map(|_| Load::AlreadyLoaded).collect();
    // In reverse: each goes to the front, so they end up in the order given.
    for (i, r) in rules.iter().enumerate().rev() {
        if have[i] {
            continue;
        }
        result[i] = match ctl.add_rule(&r.add_bytes()) {
            Ok(()) => Load::Added,
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EEXIST as i32) => {
                Load::AlreadyLoaded
            }
            Err(e) => Load::Refused(e.to_string()),
        };
    }
    Ok(result)
}

/// Audit's status, with the hint a user needs when it cannot be read.
pub fn status(ctl: &mut Control) -> Result<Status, Error> {
    ctl.status().context("cannot read the audit status (needs root, or CAP_AUDIT_CONTROL)")
}

/// Removes exactly `rules` (those a run added); one already gone is fine.
/// Returns the rules that could not be removed, with why.
pub fn remove(ctl: &mut Control, rules: &[RuleSpec]) -> Vec<(RuleSpec, std::io::Error)> {
    let mut failed = Vec::new();
    for r in rules {
        if let Err(e) = ctl.del_rule(&r.bytes()) {
            if e.kind() != std::io::ErrorKind::NotFound {
                failed.push((r.clone(), e));
            }
        }
    }
    failed
}

/// Which of `rules` the kernel has loaded, and how many loaded rules could not be
/// decoded at all.
pub fn loaded(ctl: &mut Control, rules: &[RuleSpec]) -> Result<(Vec<bool>, usize), Error> {
    let (counts, undecodable) = loaded_copies(ctl, rules)?;
    Ok((counts.iter().map(|&n| n > 0).collect(), undecodable))
}

/// How many times each of `rules` is loaded, and how many loaded rules (others')
/// netlink-packet-audit could not decode, so that auditctl may not show them
/// either.
pub fn loaded_copies(ctl: &mut Control, rules: &[RuleSpec]) -> Result<(Vec<usize>, usize), Error> {
    let listed = ctl.list_rules().context("cannot list the audit rules")?;
    let undecodable =
        listed.iter().filter(|raw| !rules.iter().any(|r| r.is(raw)) && !decodes(raw)).count();
    Ok((copies(rules, &listed), undecodable))
}

fn decodes(raw: &[u8]) -> bool {
    use netlink_packet_audit::rules::{RuleBuffer, RuleMessage};
    use netlink_packet_core::Parseable;
    RuleBuffer::new_checked(raw).ok().is_some_and(|b| RuleMessage::parse(&b).is_ok())
}

/// Unloads every copy but one of each of `rules` that is loaded more than once
/// (the copies are identical, so which one goes does not matter). Returns the
/// rules that had copies, with how many were removed.
pub fn remove_duplicates(
    ctl: &mut Control,
    rules: &[RuleSpec],
) -> Result<Vec<(RuleSpec, usize)>, Error> {
    let (counts, _) = loaded_copies(ctl, rules)?;
    let mut removed = Vec::new();
    for (r, n) in rules.iter().zip(counts).filter(|(_, n)| *n > 1) {
        let mut gone = 0;
        for _ in 1..n {
            match ctl.del_rule(&r.bytes()) {
                Ok(()) => gone += 1,
                Err(e) => {
                    crate::warn!("cannot remove a second copy of {}: {e}", r.describe());
                    break;
                }
            }
        }
        if gone > 0 {
            removed.push((r.clone(), gone));
        }
    }
    Ok(removed)
}

/// Every `never` rule on the task list, as text and as the kernel's bytes (to
/// delete it by).
pub fn task_never_rules(ctl: &mut Control) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let listed = ctl.list_rules().context("cannot list the audit rules")?;
    Ok(listed.into_iter().filter_map(|raw| task_never(&raw).map(|t| (t, raw))).collect())
}
