//! `sockwatch doctor`: what works on this host, on one screen, without changing
//! anything. Exits 1, with the reasons, when detection cannot work. The
//! verdicts on sockets and outputs are `core::doctor`'s; this gathers the state.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::ExitCode;

use crate::cli::DoctorArgs;
use crate::config::Config;
use crate::core::abi;
use crate::core::doctor::{self as verdict, JsonlState, SocketFile, Verdict};
use crate::core::rules::{BACKLOG_LIMIT, rule_set};
use crate::io::intake::Intake;
use crate::io::output::OutputSpec;

use super::resolve_sockets;
use crate::core::blind::{self, TASK_NEVER_SOURCE};
use crate::error::Error;
use crate::io::audit_rules::{loaded, open_control, task_never_rules};

pub fn main(args: &DoctorArgs, cfg: &Config) -> Result<ExitCode, Error> {
    let mut fatal: Vec<String> = Vec::new();
    let configured = crate::config::sockets(&args.sockets.sockets, cfg);
    let paths = resolve_sockets(configured.as_deref())?;
    let present: Vec<String> =
        paths.iter().filter(|p| crate::io::sockets::dir_exists(p)).cloned().collect();
    let rules = rule_set(&present, abi::native());

    audit(&rules, &mut fatal);
    multicast(&mut fatal);
    blind_spots();
    fanotify(&paths);
    cgroups();
    sockets(&paths, configured.is_some(), &mut fatal);
    runtimes();
    outputs(args, cfg, &mut fatal);
    if fatal.is_empty() {
        println!("result     detection can work");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("result     DETECTION CANNOT WORK: {}", fatal.join("; "));
        Ok(ExitCode::FAILURE)
    }
}

/// Audit's state, sockwatch's rules, and the task-list never rules.
fn audit(rules: &[crate::core::rules::RuleSpec], fatal: &mut Vec<String>) {
    match open_control().and_then(|mut c| Ok((c.status().map_err(Error::from)?, c))) {
        Ok((st, mut ctl)) => {
            let state = match st.enabled {
                0 => "off (sockwatch run turns it on)",
                1 => "on",
                2 => "on, locked until reboot",
                _ => "unknown",
            };
            println!("audit      enabled={} {state}", st.enabled);
            let holder = if st.pid == 0 {
                "none registered (records are also printed to the kernel log)".to_string()
            } else {
                let comm = fs::read_to_string(format!("/proc/{}/comm", st.pid)).unwrap_or_default();
                format!("pid {} ({})", st.pid, comm.trim())
            };
            println!("           audit daemon: {holder}");
            println!(
                "           lost {}, backlog {}/{} (sockwatch run raises the limit to {BACKLOG_LIMIT}), backlog_wait_time {} jiffies",
                st.lost, st.backlog, st.backlog_limit, st.backlog_wait_time
            );
            match loaded(&mut ctl, rules) {
                Ok((have, _)) => {
                    let n = have.iter().filter(|h| **h).count();
                    println!(
                        "           sockwatch rules loaded: {n}/{} (for the sockets whose directory exists)",
                        rules.len()
                    );
                    if n < rules.len() && st.enabled == 2 {
                        fatal.push(
                            "audit is locked and sockwatch's rules are not all loaded".into(),
                        );
                    }
                }
                Err(e) => fatal.push(format!("cannot list audit rules: {e}")),
            }
            match task_never_rules(&mut ctl) {
                Ok(never) if never.is_empty() => println!("           task-list never rules: none"),
                Ok(never) => {
                    for (text, _) in &never {
                        println!("           BLIND: task-list never rule loaded: {text}");
                        fatal.push(format!(
                            "the audit rule `{text}` gives no task created while it is loaded an audit context (it usually comes from {TASK_NEVER_SOURCE}); delete it (auditctl -d never,task) and the file it came from, or run sockwatch with --remove-task-never"
                        ));
                    }
                }
                Err(e) => fatal.push(format!("cannot list audit rules: {e}")),
            }
        }
        Err(e) => {
            println!("audit      UNAVAILABLE: {e}");
            fatal.push(format!("audit control: {e}"));
        }
    }
}

/// The multicast group `run` reads records from beside auditd.
fn multicast(fatal: &mut Vec<String>) {
    match Intake::open() {
        Ok(_) => println!("           multicast (AUDIT_NLGRP_READLOG): readable"),
        Err(e) => {
            println!("           multicast: NOT READABLE: {e}");
            fatal.push(format!("audit multicast: {e}"));
        }
    }
}

/// The kernel command line, and ABIs no syscall rule sees.
fn blind_spots() {
    let cmdline = crate::io::proc::kernel_cmdline();
    match blind::cmdline_audit(&cmdline) {
        Some(v) if !blind::may_be_enabled_late(Some(&v)) => {
            println!("cmdline    audit={v}: every process is audited from boot")
        }
        v => println!(
            "cmdline    {}: a process that started before audit was first switched on since boot (by auditd or sockwatch) is never audited, so a container started earlier can connect unseen until it restarts; add audit=1 to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub and reboot",
            v.map_or("no audit= setting".to_string(), |v| format!("audit={v}"))
        ),
    }
    match crate::io::x32::probe() {
        blind::X32::Disabled => println!("x32        disabled (x32 system calls return ENOSYS)"),
        blind::X32::Enabled => println!(
            "x32        ENABLED: a connect made through the x32 ABI matches no audit syscall rule and is invisible; disable x32 (syscall.x32=n on Debian kernels)"
        ),
        blind::X32::Unknown => println!(
            "x32        unknown: the probe was stopped and no kernel configuration was found"
        ),
    }
}

fn fanotify(paths: &[String]) {
    match crate::io::fswatch::FsWatch::open(paths) {
        Ok(w) => {
            println!("fanotify   FID-mode group: ok");
            for (path, status) in w.status() {
                let flag = if status.contains("NOT") { "PROBLEM: " } else { "" };
                println!("           {}: {flag}{status}", path.display());
            }
        }
        Err(e) => println!(
            "fanotify   unavailable ({e}): permission changes and replaced sockets will not be seen"
        ),
    }
    match crate::io::fswatch::probe_socket_open() {
        Ok(true) => println!("           open attempts on socket files: reported by this kernel"),
        Ok(false) => println!(
            "           open attempts on socket files: not reported (expected; connects are watched through audit)"
        ),
        Err(e) => println!("           open attempts on socket files: probe failed: {e}"),
    }
}

/// The cgroup version, and the host namespaces attribution compares with.
fn cgroups() {
    let cgroup = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "v2 (unified)"
    } else if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
        "v1 with a v2 hierarchy at /sys/fs/cgroup/unified (hybrid)"
    } else {
        "v1"
    };
    println!("cgroup     {cgroup}");
    let (host, reference) = crate::io::proc::host_reference();
    let show = |n: Option<u64>| n.map_or("UNKNOWN".to_string(), |n| n.to_string());
    let from = match reference {
        crate::io::proc::Reference::Pid1 => "PID 1",
        crate::io::proc::Reference::Kthreadd => "kthreadd (PID 2; PID 1's are unreadable)",
        crate::io::proc::Reference::None => {
            "nothing readable (needs CAP_SYS_PTRACE): runtime monitors are checked by their file only"
        }
    };
    println!("host ns    mnt {} pid {}, from {from}", show(host.mnt), show(host.pid));
}

/// The line for a verdict: `prefix` and its text, and a problem added to the
/// reasons detection cannot work (`subject` is what it is about).
fn say(prefix: String, subject: &str, ok: String, v: Verdict, fatal: &mut Vec<String>) {
    match v {
        Verdict::Ok => println!("{prefix}{ok}"),
        Verdict::Waiting(w) => println!("{prefix}{w}"),
        Verdict::Warning(w) => println!("{prefix}WARNING: {w}"),
        Verdict::Problem(p) => {
            println!("{prefix}PROBLEM: {p}");
            fatal.push(format!("{subject}: {p}"));
        }
    }
}

/// What a file is, in words, for a verdict.
fn kind_of(m: &fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "a socket"
    }
}

fn sockets(paths: &[String], configured: bool, fatal: &mut Vec<String>) {
    for p in paths {
        let runtime =
            crate::core::runtimes::runtime_of(p).map_or(String::new(), |r| format!(" ({r})"));
        let meta = fs::symlink_metadata(p);
        let file = match &meta {
            Ok(m) if m.file_type().is_socket() => SocketFile::Socket,
            Ok(m) => SocketFile::NotSocket { kind: kind_of(m) },
            Err(_) => SocketFile::Absent { dir_exists: crate::io::sockets::dir_exists(p) },
        };
        let ok = match &meta {
            Ok(m) => format!(
                "socket, dev {:02x}:{:02x} inode {}, mode {:04o} uid {} gid {}",
                nix::sys::stat::major(m.dev()),
                nix::sys::stat::minor(m.dev()),
                m.ino(),
                m.mode() & 0o7777,
                m.uid(),
                m.gid()
            ),
            Err(_) => String::new(),
        };
        let subject = format!("socket {p}");
        say(
            format!("socket     {p}{runtime}: "),
            &subject,
            ok,
            verdict::socket(file, configured),
            fatal,
        );
    }
}

/// Container runtimes running now.
fn runtimes() {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(comm) = fs::read_to_string(entry.path().join("comm")) else { continue };
        let comm = comm.trim();
        if matches!(comm, "dockerd" | "containerd" | "crio" | "conmon" | "podman") {
            found.push(format!("{comm} (pid {})", entry.file_name().to_string_lossy()));
        }
    }
    found.sort();
    found.dedup();
    println!(
        "runtimes   {}",
        if found.is_empty() { "none running".to_string() } else { found.join(", ") }
    );
}

/// Whether each output can be written to.
fn outputs(args: &DoctorArgs, cfg: &Config, fatal: &mut Vec<String>) {
    let outputs = if args.outputs.is_empty() {
        cfg.run.outputs.clone().unwrap_or_else(|| vec![OutputSpec::Stdout])
    } else {
        args.outputs.clone()
    };
    for o in &outputs {
        let (ok, v) = match o {
            OutputSpec::Stdout => ("ok".to_string(), Verdict::Ok),
            OutputSpec::Jsonl(p) => {
                let dir = p.parent().unwrap_or(Path::new("/"));
                let state = jsonl_state(p, dir);
                let ok = match fs::metadata(p) {
                    Ok(_) => format!("{} can be appended to", p.display()),
                    Err(_) => format!("{} can be created in {}", p.display(), dir.display()),
                };
                (ok, verdict::jsonl(&state, &dir.display().to_string()))
            }
            OutputSpec::Journald => socket_present(crate::io::output::journald::SOCKET),
            OutputSpec::Syslog(p) => socket_present(
                &p.as_ref().map_or(crate::io::output::syslog::DEV_LOG.to_string(), |p| {
                    p.display().to_string()
                }),
            ),
        };
        say(format!("output     {o}: "), &format!("output {o}"), ok, v, fatal);
    }
}

/// Whether `run` could open `path` for appending, asked without opening it.
fn jsonl_state(path: &Path, dir: &Path) -> JsonlState {
    use nix::unistd::{AccessFlags, access};
    match fs::metadata(dir) {
        Err(_) => return JsonlState::NoDirectory { kind: None },
        Ok(m) if !m.is_dir() => return JsonlState::NoDirectory { kind: Some(kind_of(&m)) },
        Ok(_) => {}
    }
    match fs::metadata(path) {
        // A device (/dev/null, a terminal) takes appended lines as a file does;
        // a FIFO would hold `run` at its open until a reader comes.
        Ok(m) if !(m.is_file() || m.file_type().is_char_device()) => {
            JsonlState::NotAFile { kind: kind_of(&m) }
        }
        Ok(_) => match access(path, AccessFlags::W_OK) {
            Ok(()) => JsonlState::Writable,
            Err(e) => JsonlState::FileNotWritable(e.desc().to_string()),
        },
        Err(_) => match access(dir, AccessFlags::W_OK | AccessFlags::X_OK) {
            Ok(()) => JsonlState::Writable,
            Err(e) => JsonlState::DirectoryNotWritable(e.desc().to_string()),
        },
    }
}

fn socket_present(p: &str) -> (String, Verdict) {
    let present = fs::metadata(p).is_ok_and(|m| m.file_type().is_socket());
    (format!("{p} is there"), verdict::daemon_socket(p, present))
}
