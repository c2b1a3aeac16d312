//! `sockwatch doctor`: what works on this host, on one screen, without changing
//! anything. Exits 1, with the reasons, when detection cannot work.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::ExitCode;

use crate::cli::DoctorArgs;
use crate::config::Config;
use crate::core::abi;
use crate::core::rules::{rule_set, BACKLOG_LIMIT};
use crate::io::intake::Intake;
use crate::io::output::OutputSpec;

use super::rules::{loaded, open_control};
use super::{resolve_sockets, Failure};

pub fn main(args: &DoctorArgs, cfg: &Config) -> Result<ExitCode, Failure> {
    let mut fatal: Vec<String> = Vec::new();
    let paths = resolve_sockets(&crate::config::sockets(&args.sockets.sockets, cfg))?;
    let rules = rule_set(&paths, abi::native());

    // Audit.
    match open_control().and_then(|mut c| Ok((c.status().map_err(|e| Failure(e.to_string()))?, c))) {
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
            match loaded(&mut ctl, &rules) {
                Ok((have, _)) => {
                    let n = have.iter().filter(|h| **h).count();
                    println!("           sockwatch rules loaded: {n}/{}", rules.len());
                    if n < rules.len() && st.enabled == 2 {
                        fatal.push("audit is locked and sockwatch's rules are not all loaded".into());
                    }
                }
                Err(Failure(e)) => fatal.push(format!("cannot list audit rules: {e}")),
            }
        }
        Err(Failure(e)) => {
            println!("audit      UNAVAILABLE: {e}");
            fatal.push(format!("audit control: {e}"));
        }
    }
    match Intake::open() {
        Ok(_) => println!("           multicast (AUDIT_NLGRP_READLOG): readable"),
        Err(e) => {
            println!("           multicast: NOT READABLE: {e}");
            fatal.push(format!("audit multicast: {e}"));
        }
    }

    // fanotify.
    match crate::io::fswatch::FsWatch::open(&paths) {
        Ok(w) => {
            println!("fanotify   FID-mode group: ok");
            for (path, status) in w.status() {
                let flag = if status.contains("NOT") { "PROBLEM: " } else { "" };
                println!("           {}: {flag}{status}", path.display());
            }
        }
        Err(e) => println!("fanotify   unavailable ({e}): permission changes and replaced sockets will not be seen"),
    }
    match crate::io::fswatch::probe_socket_open() {
        Ok(true) => println!("           open attempts on socket files: reported by this kernel"),
        Ok(false) => println!("           open attempts on socket files: not reported (expected; connects are watched through audit)"),
        Err(e) => println!("           open attempts on socket files: probe failed: {e}"),
    }

    // cgroups.
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
        crate::io::proc::Reference::None => "nothing readable (needs CAP_SYS_PTRACE): runtime monitors are checked by their file only",
    };
    println!("host ns    mnt {} pid {}, from {from}", show(host.mnt), show(host.pid));

    // Sockets.
    for p in &paths {
        match fs::metadata(p) {
            Ok(m) => {
                let kind = if m.file_type().is_socket() { "socket" } else { "NOT A SOCKET" };
                println!(
                    "socket     {p}: {kind}, dev {:02x}:{:02x} inode {}, mode {:04o} uid {} gid {}",
                    nix::sys::stat::major(m.dev()),
                    nix::sys::stat::minor(m.dev()),
                    m.ino(),
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid()
                );
            }
            Err(_) => println!("socket     {p}: absent for now (watched anyway)"),
        }
    }

    // Runtimes.
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
    println!("runtimes   {}", if found.is_empty() { "none running".to_string() } else { found.join(", ") });

    // Outputs.
    let outputs = if args.outputs.is_empty() { cfg.outputs.clone().unwrap_or_else(|| vec![OutputSpec::Stdout]) } else { args.outputs.clone() };
    for o in &outputs {
        let (ok, what) = match o {
            OutputSpec::Stdout => (true, "ok".to_string()),
            OutputSpec::Jsonl(p) => match p.parent().map(|d| d.is_dir()) {
                Some(true) => (true, format!("directory {} exists", p.parent().unwrap().display())),
                _ => (false, format!("directory of {} does not exist", p.display())),
            },
            OutputSpec::Journald => socket_present(crate::io::output::journald::SOCKET),
            OutputSpec::Syslog(p) => socket_present(&p.as_ref().map_or(crate::io::output::syslog::DEV_LOG.to_string(), |p| p.display().to_string())),
        };
        println!("output     {o}: {}{what}", if ok { "" } else { "PROBLEM: " });
    }

    if fatal.is_empty() {
        println!("result     detection can work");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("result     DETECTION CANNOT WORK: {}", fatal.join("; "));
        Ok(ExitCode::FAILURE)
    }
}

fn socket_present(p: &str) -> (bool, String) {
    match fs::metadata(p) {
        Ok(m) if m.file_type().is_socket() => (true, format!("{p} is there")),
        _ => (false, format!("{p} is not there (findings are queued and retried)")),
    }
}
