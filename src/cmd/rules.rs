//! `sockwatch rules`: the audit rules, live over netlink and as a rules.d file.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{RulesArgs, RulesCommand, SocketArgs};
use crate::core::abi;
use crate::core::blind::TASK_NEVER_SOURCE;
use crate::core::rules::{
    RuleSpec, carries_our_key, describe_listed, is_required, rule_set, rules_file,
    unwritable_in_file,
};
use crate::io::audit_rules::{
    self, Load, ensure_unlocked, load_missing, loaded_copies, open_control, task_never_rules,
};

use super::resolve_sockets;
use crate::error::{Context, Error};

pub const RULES_FILE: &str = "50-sockwatch.rules";

/// Where the rules file goes, and whether it is written: the command line, then
/// the configuration file, then the defaults.
struct Persist {
    dir: std::path::PathBuf,
    enabled: bool,
}

pub fn main(args: &RulesArgs, cfg: &crate::config::Config) -> Result<ExitCode, Error> {
    match &args.action {
        RulesCommand::Print(sockets) => {
            let sockets = Sockets::new(sockets, cfg)?;
            let file_rules = sockets.file_rules()?;
            print!("{}", rules_file(&file_rules));
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Install(a) => {
            let sockets = Sockets::new(&a.sockets, cfg)?;
            let persist = Persist::new(&a.options, cfg);
            // Refused before anything is loaded: half an install is worse.
            let file_rules = if persist.enabled { sockets.file_rules()? } else { Vec::new() };
            let present = sockets.present();
            for p in sockets.paths.iter().filter(|p| !present.contains(p)) {
                println!(
                    "waiting: {p} (its directory does not exist yet; `sockwatch run` loads its rules once it does)"
                );
            }
            install(&persist, &rule_set(&present, abi::native()), &file_rules)
        }
        RulesCommand::Remove(a) if a.all => remove_all(&Persist::new(&a.rules.options, cfg)),
        RulesCommand::Remove(a) => {
            let sockets = Sockets::new(&a.rules.sockets, cfg)?;
            remove(&Persist::new(&a.rules.options, cfg), &sockets.rules())
        }
        RulesCommand::Status(sockets) => status(&Sockets::new(sockets, cfg)?.rules()),
    }
}

/// The sockets a rules command is about: the command line's, else the
/// configuration's, else (`configured` is `None`) every known one.
struct Sockets {
    configured: Option<Vec<PathBuf>>,
    paths: Vec<String>,
}

impl Sockets {
    fn new(args: &SocketArgs, cfg: &crate::config::Config) -> Result<Sockets, Error> {
        let configured = crate::config::sockets(&args.sockets, cfg);
        let paths = resolve_sockets(configured.as_deref())?;
        Ok(Sockets { configured, paths })
    }

    fn rules(&self) -> Vec<RuleSpec> {
        rule_set(&self.paths, abi::native())
    }

    /// Those whose directory exists: the kernel takes a path rule only then.
    fn present(&self) -> Vec<String> {
        self.paths.iter().filter(|p| crate::io::sockets::dir_exists(p)).cloned().collect()
    }

    /// The rules of the rules file, which is the same on every host: users'
    /// rootless sockets come and go with their logins, and `sockwatch run`
    /// follows them. A socket that no line of the file can name is a usage
    /// error: the file would stop auditctl, or name another file.
    fn file_rules(&self) -> Result<Vec<RuleSpec>, Error> {
        let fixed: Vec<PathBuf> =
            crate::core::runtimes::default_set(&[]).into_iter().map(Into::into).collect();
        let paths = resolve_sockets(Some(self.configured.as_deref().unwrap_or(&fixed)))?;
        for p in &paths {
            if let Some(why) = unwritable_in_file(p) {
                return Err(Error::usage(format!(
                    "socket {p:?} cannot be written in an audit rules file: {why}; watch it under a path without one (a bind mount or a symlink to it), or load its rules only live (`sockwatch rules install --no-persist`, or `sockwatch run`)"
                )));
            }
        }
        Ok(rule_set(&paths, abi::native()))
    }
}

impl Persist {
    fn new(o: &crate::cli::RulesOptions, cfg: &crate::config::Config) -> Persist {
        Persist {
            dir: o
                .rules_dir
                .clone()
                .or_else(|| cfg.rules.rules_dir.clone())
                .unwrap_or_else(|| crate::config::DEFAULT_RULES_DIR.into()),
            enabled: !o.no_persist.or(o.persist).or(cfg.rules.no_persist).unwrap_or(false),
        }
    }
}

fn install(
    persist: &Persist,
    rules: &[RuleSpec],
    file_rules: &[RuleSpec],
) -> Result<ExitCode, Error> {
    let mut ctl = open_control()?;
    let st = audit_rules::status(&mut ctl)?;
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

fn write_rules_file(dir: &Path, rules: &[RuleSpec]) -> Result<(), Error> {
    fs::create_dir_all(dir).context(format!("cannot create {}", dir.display()))?;
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
    write().context(format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, &path).context(format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn remove(persist: &Persist, rules: &[RuleSpec]) -> Result<ExitCode, Error> {
    let mut ctl = open_control()?;
    let st = audit_rules::status(&mut ctl)?;
    ensure_unlocked(&st)?;
    let mut ok = true;
    for r in rules {
        match ctl.del_rule(&r.bytes()) {
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
fn remove_all(persist: &Persist) -> Result<ExitCode, Error> {
    let mut ctl = open_control()?;
    let st = audit_rules::status(&mut ctl)?;
    ensure_unlocked(&st)?;
    let listed = ctl.list_rules().context("cannot list the audit rules")?;
    let mut ok = true;
    let mut removed = 0;
    for m in listed.iter().filter(|m| carries_our_key(m)) {
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

fn delete_rules_file(persist: &Persist) -> Result<(), Error> {
    if persist.enabled {
        let path = persist.dir.join(RULES_FILE);
        match fs::remove_file(&path) {
            Ok(()) => println!("deleted {}", path.display()),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::msg(format!("cannot delete {}: {e}", path.display()))),
        }
    }
    Ok(())
}

fn status(rules: &[RuleSpec]) -> Result<ExitCode, Error> {
    let mut ctl = open_control()?;
    let st = audit_rules::status(&mut ctl)?;
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
