//! `sockwatch rules`: the audit rules, live over netlink and as a rules.d file.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::process::ExitCode;

use crate::cli::{RulesAction, RulesArgs};
use crate::core::abi;
use crate::core::blind::{TASK_NEVER_SOURCE, task_never};
use crate::core::rules::{
    RuleSpec, carries_our_key, copies, describe_listed, rule_set, rules_file,
};
use crate::io::netlink::{Control, Status};

use super::{Failure, ctx, resolve_sockets};

pub const RULES_FILE: &str = "50-sockwatch.rules";

/// Where the rules file goes, and whether it is written: the command line, then
/// the configuration file, then the defaults.
struct Persist {
    dir: std::path::PathBuf,
    enabled: bool,
}

pub fn main(args: &RulesArgs, cfg: &crate::config::Config) -> Result<ExitCode, Failure> {
    let configured = crate::config::sockets(&args.sockets.sockets, cfg);
    let paths = resolve_sockets(configured.as_deref())?;
    let rules = rule_set(&paths, abi::native());
    // The file is the same on every host: users' rootless sockets come and go
    // with their logins, and `sockwatch run` follows them.
    let fixed: Vec<std::path::PathBuf> =
        crate::core::runtimes::default_set(&[]).into_iter().map(Into::into).collect();
    let file_rules =
        rule_set(&resolve_sockets(Some(configured.as_deref().unwrap_or(&fixed)))?, abi::native());
    // The kernel takes a path rule only while the socket's directory exists.
    let present: Vec<String> =
        paths.iter().filter(|p| crate::io::sockets::dir_exists(p)).cloned().collect();
    let loadable = rule_set(&present, abi::native());
    let persist = Persist {
        dir: args
            .options
            .rules_dir
            .clone()
            .or_else(|| cfg.rules.rules_dir.clone())
            .unwrap_or_else(|| "/etc/audit/rules.d".into()),
        enabled: !args
            .options
            .no_persist
            .or(args.options.persist)
            .or(cfg.rules.no_persist)
            .unwrap_or(false),
    };
    if args.options.all && args.action != RulesAction::Remove {
        return Err(Failure("--all goes only with `rules remove`".into()));
    }
    match args.action {
        RulesAction::Print => {
            print!("{}", rules_file(&file_rules));
            Ok(ExitCode::SUCCESS)
        }
        RulesAction::Install => {
            for p in paths.iter().filter(|p| !present.contains(p)) {
                println!(
                    "waiting: {p} (its directory does not exist yet; `sockwatch run` loads its rules once it does)"
                );
            }
            install(&persist, &loadable, &file_rules)
        }
        RulesAction::Remove if args.options.all => remove_all(&persist),
        RulesAction::Remove => remove(&persist, &rules),
        RulesAction::Status => status(&rules),
    }
}

/// The result of loading one rule.
#[derive(Debug, PartialEq, Eq)]
pub enum Load {
    Added,
    AlreadyLoaded,
    Refused(String),
}

pub fn open_control() -> Result<Control, Failure> {
    ctx(Control::open(), "cannot open the audit netlink socket (are you root?)")
}

/// Fails with one line when the audit configuration is locked (`auditctl -e 2`).
pub fn ensure_unlocked(st: &Status) -> Result<(), Failure> {
    if st.enabled == 2 {
        return Err(Failure(
            "the audit configuration is locked (enabled=2, auditctl -e 2): rules cannot be changed until reboot".into(),
        ));
    }
    Ok(())
}

/// Loads each of `rules` that is not loaded yet, first on its list, and reports
/// what happened to each, in the order of `rules`. The kernel does not refuse a
/// duplicate of a rule added first on its list (it compares flags, and clears the
/// prepend flag once the rule is in), so duplicates are found by listing.
pub fn load_missing(ctl: &mut Control, rules: &[RuleSpec]) -> Result<Vec<Load>, Failure> {
    let (have, _) = loaded(ctl, rules)?;
    let mut result: Vec<Load> = have.iter().map(|_| Load::AlreadyLoaded).collect();
    // In reverse: each goes to the front, so they end up in the order given.
    for (i, r) in rules.iter().enumerate().rev() {
        if have[i] {
            continue;
        }
        result[i] = match ctl.add_rule(&r.add_message()) {
            Ok(()) => Load::Added,
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EEXIST as i32) => {
                Load::AlreadyLoaded
            }
            Err(e) => Load::Refused(e.to_string()),
        };
    }
    Ok(result)
}

/// Native-ABI connect rules are the ones detection cannot do without; 32-bit and
/// io_uring rules are loaded where the kernel supports them.
pub fn is_required(rule: &RuleSpec) -> bool {
    matches!(rule, RuleSpec::Connect { abi, socketcall: false, .. } if Some(abi) == abi::native().first())
}

fn install(
    persist: &Persist,
    rules: &[RuleSpec],
    file_rules: &[RuleSpec],
) -> Result<ExitCode, Failure> {
    let mut ctl = open_control()?;
    let st = ctx(ctl.status(), "cannot read the audit status (needs root, or CAP_AUDIT_CONTROL)")?;
    ensure_unlocked(&st)?;
    if st.backlog_limit < crate::core::rules::BACKLOG_LIMIT {
        match ctl.set_backlog_limit(crate::core::rules::BACKLOG_LIMIT) {
            Ok(()) => println!(
                "raised the backlog limit from {} to {}",
                st.backlog_limit,
                crate::core::rules::BACKLOG_LIMIT
            ),
            Err(e) => eprintln!("sockwatch: warning: cannot raise the backlog limit: {e}"),
        }
    }
    let mut failed_required = false;
    for (r, outcome) in rules.iter().zip(load_missing(&mut ctl, rules)?) {
        match outcome {
            Load::Added => println!("added: {}", r.describe()),
            Load::AlreadyLoaded => println!("already loaded: {}", r.describe()),
            Load::Refused(why) => {
                failed_required |= is_required(r);
                eprintln!("sockwatch: warning: the kernel refused {}: {why}", r.describe());
            }
        }
    }
    if persist.enabled {
        write_rules_file(&persist.dir, file_rules)?;
    }
    if st.enabled == 0 {
        println!(
            "note: audit is off (enabled=0); the rules take effect once it is on (`sockwatch run` turns it on)"
        );
    }
    Ok(if failed_required { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn write_rules_file(dir: &Path, rules: &[RuleSpec]) -> Result<(), Failure> {
    ctx(fs::create_dir_all(dir), &format!("cannot create {}", dir.display()))?;
    let path = dir.join(RULES_FILE);
    let tmp = dir.join(format!(".{RULES_FILE}.tmp"));
    // 0640, as auditd's own rules files.
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&tmp)?;
        f.write_all(rules_file(rules).as_bytes())?;
        f.sync_all()
    };
    ctx(write(), &format!("cannot write {}", tmp.display()))?;
    ctx(fs::rename(&tmp, &path), &format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn remove(persist: &Persist, rules: &[RuleSpec]) -> Result<ExitCode, Failure> {
    let mut ctl = open_control()?;
    let st = ctx(ctl.status(), "cannot read the audit status (needs root, or CAP_AUDIT_CONTROL)")?;
    ensure_unlocked(&st)?;
    let mut ok = true;
    for r in rules {
        match ctl.del_rule(&r.message()) {
            Ok(()) => println!("removed: {}", r.describe()),
            Err(e) if e.kind() == ErrorKind::NotFound => println!("not loaded: {}", r.describe()),
            Err(e) => {
                ok = false;
                eprintln!("sockwatch: error: cannot remove {}: {e}", r.describe());
            }
        }
    }
    delete_rules_file(persist)?;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Unloads every loaded rule with sockwatch's key.
fn remove_all(persist: &Persist) -> Result<ExitCode, Failure> {
    let mut ctl = open_control()?;
    let st = ctx(ctl.status(), "cannot read the audit status (needs root, or CAP_AUDIT_CONTROL)")?;
    ensure_unlocked(&st)?;
    let listed = ctx(ctl.list_rules(), "cannot list the audit rules")?;
    let mut ok = true;
    let mut removed = 0;
    for m in listed.iter().filter_map(|r| r.as_ref().ok()).filter(|m| carries_our_key(m)) {
        match ctl.del_rule(m) {
            Ok(()) => {
                removed += 1;
                println!("removed: {}", describe_listed(m));
            }
            Err(e) => {
                ok = false;
                eprintln!("sockwatch: error: cannot remove {}: {e}", describe_listed(m));
            }
        }
    }
    if removed == 0 && ok {
        println!("no rule with key={} is loaded", crate::core::rules::KEY);
    }
    delete_rules_file(persist)?;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn delete_rules_file(persist: &Persist) -> Result<(), Failure> {
    if persist.enabled {
        let path = persist.dir.join(RULES_FILE);
        match fs::remove_file(&path) {
            Ok(()) => println!("deleted {}", path.display()),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Failure(format!("cannot delete {}: {e}", path.display()))),
        }
    }
    Ok(())
}

/// Which of `rules` the kernel has loaded, and how many loaded rules could not be
/// decoded at all.
pub fn loaded(ctl: &mut Control, rules: &[RuleSpec]) -> Result<(Vec<bool>, usize), Failure> {
    let (counts, undecodable) = loaded_copies(ctl, rules)?;
    Ok((counts.iter().map(|&n| n > 0).collect(), undecodable))
}

/// How many times each of `rules` is loaded, and how many loaded rules could not
/// be decoded at all.
pub fn loaded_copies(
    ctl: &mut Control,
    rules: &[RuleSpec],
) -> Result<(Vec<usize>, usize), Failure> {
    let listed = ctx(ctl.list_rules(), "cannot list the audit rules")?;
    let undecodable = listed.iter().filter(|r| r.is_err()).count();
    let decoded: Vec<_> = listed.into_iter().filter_map(Result::ok).collect();
    Ok((copies(rules, &decoded), undecodable))
}

/// Unloads every copy but one of each of `rules` that is loaded more than once
/// (the copies are identical, so which one goes does not matter). Returns the
/// rules that had copies, with how many were removed.
pub fn remove_duplicates(
    ctl: &mut Control,
    rules: &[RuleSpec],
) -> Result<Vec<(RuleSpec, usize)>, Failure> {
    let (counts, _) = loaded_copies(ctl, rules)?;
    let mut removed = Vec::new();
    for (r, n) in rules.iter().zip(counts).filter(|(_, n)| *n > 1) {
        let mut gone = 0;
        for _ in 1..n {
            match ctl.del_rule(&r.message()) {
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
pub fn task_never_rules(ctl: &mut Control) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let listed = ctx(ctl.list_rules_raw(), "cannot list the audit rules")?;
    Ok(listed.into_iter().filter_map(|raw| task_never(&raw).map(|t| (t, raw))).collect())
}

fn status(rules: &[RuleSpec]) -> Result<ExitCode, Failure> {
    let mut ctl = open_control()?;
    let st = ctx(ctl.status(), "cannot read the audit status (needs root, or CAP_AUDIT_CONTROL)")?;
    let (counts, undecodable) = loaded_copies(&mut ctl, rules)?;
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut all = true;
    for (r, n) in rules.iter().zip(&counts) {
        let twice = if *n > 1 { format!(" ({n} copies)") } else { String::new() };
        let waiting = match r {
            RuleSpec::Connect { path, .. } => !crate::io::sockets::dir_exists(path),
            RuleSpec::Uring => false,
        };
        // A kernel before 5.16 has no io_uring audit filter: the rule cannot be
        // loaded, and io_uring connects are invisible there whatever is done.
        let unsupported =
            *r == RuleSpec::Uring && crate::core::blind::has_uring_filter(&release) == Some(false);
        let (state, note) = match (*n > 0, waiting, unsupported) {
            (true, _, _) => ("loaded: ", String::new()),
            (false, true, _) => ("waiting:", " (its directory does not exist yet)".to_string()),
            (false, false, true) => (
                "NO FILTER:",
                format!(
                    " (kernel {release} has no io_uring audit filter: {} are invisible)",
                    crate::core::blind::invisible_without(r)
                ),
            ),
            (false, false, false) => {
                all = false;
                ("MISSING:", String::new())
            }
        };
        println!("{state} {}{twice}{note}", r.describe());
    }
    let never = task_never_rules(&mut ctl)?;
    for (text, _) in &never {
        println!(
            "BLIND:   {text}: no task created while it is loaded is audited; it usually comes from {TASK_NEVER_SOURCE}"
        );
    }
    let state = match st.enabled {
        0 => "off",
        1 => "on",
        2 => "on (locked)",
        _ => "unknown",
    };
    println!(
        "audit: enabled={} ({state}) pid={} lost={} backlog={}/{} backlog_wait_time={} failure={}",
        st.enabled, st.pid, st.lost, st.backlog, st.backlog_limit, st.backlog_wait_time, st.failure
    );
    if undecodable > 0 {
        println!(
            "note: {undecodable} loaded rule(s) of others could not be decoded and were not compared"
        );
    }
    Ok(if all && never.is_empty() && st.enabled >= 1 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
