//! A real Debian 12 host in a qemu guest: the .deb from packaging/build.sh
//! installed with apt, the packaged sockwatch.service started by systemd at boot,
//! Docker inside, and the checks of tests/vm/debian-guest.sh run under it, on
//! bookworm's 6.1 and bookworm-backports' 6.12 cloud kernels, each booted plain
//! and with lockdown=confidentiality. The image is built in cached layers by
//! tests/vm/debian-host.sh (debootstrap; /var/cache/sockwatch-tests/debian-host);
//! the host's audit, Docker and fanotify state are never touched.
//!
//! One test boots all four, one after the other (two TCG guests at once would
//! starve each other on a small machine), and asserts every check at the end, so
//! one run reports all that failed. Timings and counts go to stderr for the CI log.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;
use nix::fcntl::{Flock, FlockArg};

/// A line for the CI log, written straight to stderr: the test harness captures
/// the print macros and shows a passing test's output nowhere, and these timings
/// and counts are wanted from every run.
macro_rules! log {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

const WHAT: &str = "Debian host in a VM";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vm/debian-host.sh");
/// Events an assembler may close by timeout in one run (check 10).
const TIMED_OUT_MAX: u64 = 5;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The tools the image build and the boot need; under CI=true a missing one fails.
fn tools_present() -> bool {
    for (tool, pkg) in [
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("debootstrap", "debootstrap"),
        ("mkfs.ext4", "e2fsprogs"),
        ("gcc", "gcc"),
        ("busybox", "busybox-static"),
        ("unshare", "util-linux"),
    ] {
        if run("sh", &["-c", &format!("command -v {tool}")]).stdout.is_empty() {
            let why = format!("{tool} is not installed (tests/run.sh installs {pkg})");
            assert!(!ci(), "{WHAT}: cannot run under CI=true: {why}");
            skip(WHAT, &why);
            return false;
        }
    }
    true
}

/// Runs a command with its stderr passed through (progress lands in the log) and
/// returns its stdout; panics with both when it fails.
fn step(what: &str, cmd: &mut Command) -> String {
    let t0 = Instant::now();
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::inherit()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    log!("vm-debian: {what}: {:.1} s", t0.elapsed().as_secs_f64());
    for l in stdout.lines().filter(|l| l.starts_with("SWVM-TIME: ")) {
        log!("vm-debian: {l}");
    }
    assert!(out.status.success(), "{what} failed ({}):\n{stdout}", out.status);
    stdout
}

fn newest_deb(dist: &Path) -> PathBuf {
    std::fs::read_dir(dist)
        .expect("dist/ after packaging/build.sh")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("sockwatch_") && n.ends_with(".deb")))
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("a sockwatch_*.deb in dist/")
}

struct Boot {
    name: String,
    locked: bool,
    res: BTreeMap<String, String>,
    text: String,
    dir: PathBuf,
}

impl Boot {
    fn get(&self, k: &str) -> &str {
        self.res.get(k).map(String::as_str).unwrap_or("(missing)")
    }
    fn num(&self, k: &str) -> Option<u64> {
        self.get(k).trim().parse().ok()
    }
}

/// `timed_out=N` in a stats line.
fn timed_out(stats: &str) -> Option<u64> {
    stats.split_whitespace().find_map(|w| w.strip_prefix("timed_out=")).and_then(|n| n.parse().ok())
}

fn boot(flavour: &str, mode: &str, out: &Path) -> Boot {
    let name = format!("{flavour} {}", if mode == "full" { "plain" } else { "locked" });
    let _ = std::fs::remove_dir_all(out);
    let t0 = Instant::now();
    let o = Command::new(SCRIPT)
        .args(["boot", flavour, mode, out.to_str().unwrap()])
        .env("SOCKWATCH_VM_TIMEOUT", if mode == "full" { "1500" } else { "1200" })
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run debian-host.sh boot");
    for l in String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with("SWVM-TIME: ")) {
        log!("vm-debian: {l}");
    }
    log!("vm-debian: {name}: whole guest run {:.1} s ({})", t0.elapsed().as_secs_f64(), o.status);
    let text = std::fs::read_to_string(out.join("results/results.txt")).unwrap_or_default();
    let res = text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Boot { name, locked: mode == "locked", res, text, dir: out.to_path_buf() }
}

/// Every check of one boot; failures are pushed as messages with the evidence.
fn check(b: &Boot, fails: &mut Vec<String>) {
    if b.get("done") != "yes" {
        let tail: String = std::fs::read_to_string(b.dir.join("console.log"))
            .unwrap_or_default()
            .replace('\r', "")
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        fails.push(format!(
            "[{}] the guest did not finish its checks; results so far:\n{}\nconsole tail:\n{tail}",
            b.name, b.text
        ));
        if b.res.is_empty() {
            return;
        }
    }
    let mut fail = |what: &str, keys: &[&str]| {
        let ev: Vec<String> = keys.iter().map(|k| format!("  {k}={}", b.get(k))).collect();
        fails.push(format!("[{}] {what}\n{}", b.name, ev.join("\n")));
    };
    // 1. The unit came up (READY=1), nothing failed, no sandbox denial, no restart.
    if b.get("check1.active") != "active" || b.get("check1.nrestarts") != "0" {
        fail("1: sockwatch.service is not active after boot, or was restarted", &["check1.active", "check1.substate", "check1.nrestarts"]);
    }
    if !b.get("check1.failed_units").is_empty() {
        fail("1: failed units after boot", &["check1.failed_units"]);
    }
    if b.num("check1.eperm_lines") != Some(0) || b.num("check1.seccomp_records") != Some(0) {
        fail("1: sandbox denials in the journal (see results/sockwatch-boot.log)", &["check1.eperm_lines", "check1.seccomp_records"]);
    }
    // 2. One container, one finding, in both outputs; also under another name.
    for (j, jr) in [("check2.jsonl", "check2.journal"), ("check2.alias_jsonl", "check2.alias_journal")] {
        if b.num(j) != Some(1) || b.num(jr) != Some(1) {
            fail("2: a container's connect is not reported exactly once in findings.jsonl and the journal", &["check2.id", j, jr, "check2.alias_id"]);
        }
    }
    if b.get("check2.file_mode") != "root:adm 640" {
        fail("2: /var/log/sockwatch/findings.jsonl is not root:adm 0640", &["check2.file_mode"]);
    }
    // 3. Short-lived clients, every one with the right id.
    if b.get("check3.exec_reported") != "50/50" || b.get("check3.run_reported") != "10/10" || b.num("check3.wrong_id") != Some(0) {
        fail(
            "3: short-lived clients not all reported with the right container id",
            &["check3.exec_reported", "check3.run_reported", "check3.run_counts", "check3.wrong_id", "check3.total_new"],
        );
    }
    // 6. Lockdown: plain allows, locked refuses.
    let probes = ["probe.bpf_probe_read_kernel", "probe.bpf_probe_read_kernel_str", "probe.perf_kprobe", "probe.tracefs", "probe.kcore"];
    let mut keys = vec!["probe.lockdown", "probe.bpf_baseline"];
    keys.extend(probes);
    if b.get("probe.bpf_baseline") != "ok" {
        fail("6: a BPF socket filter without helpers did not load", &keys);
    }
    if b.locked {
        let refused = |k: &str, e: &str| b.get(k).starts_with(e);
        if !b.get("probe.lockdown").contains("[confidentiality]")
            || !refused("probe.bpf_probe_read_kernel", "EINVAL")
            || !refused("probe.perf_kprobe", "EPERM")
            || b.get("probe.tracefs") == "ok"
            || b.get("probe.kcore") == "ok"
        {
            fail("6: lockdown=confidentiality does not refuse what it should", &keys);
        }
    } else if !b.get("probe.lockdown").contains("[none]") || probes.iter().any(|k| b.get(k) != "ok") {
        fail("6: the plain boot refuses a probe", &keys);
    }
    // 10. Event assembly: few events closed by timeout.
    for k in ["check10.stats", "check10.stats_at_stop"] {
        if b.locked && k == "check10.stats_at_stop" {
            continue;
        }
        match timed_out(b.get(k)) {
            Some(n) if n <= TIMED_OUT_MAX => {}
            _ => fail(
                &format!("10: more than {TIMED_OUT_MAX} events timed out (no EOE); results/no-eoe-summary.txt has their record types"),
                &[k, "check10.no_eoe_total", "check10.no_eoe_top"],
            ),
        }
    }
    if b.locked {
        return;
    }
    // 4. Host clients.
    if b.num("check4.new_findings") != Some(0) {
        fail("4: `docker version` on the host gave a finding", &["check4.docker_version_rc", "check4.new_findings"]);
    }
    // 5. dockerd restart.
    if b.num("check5.sw1001_sw1002") != Some(0) || b.num("check5.after_jsonl") != Some(1) {
        fail("5: dockerd's restart gave SW-1001/SW-1002 (results/sw100x.json), or a connect after it was not reported", &["check5.sw1001_sw1002", "check5.after_jsonl", "check5.sockwatch_active"]);
    }
    // 8. Recorded only.
    if !b.get("check8.exposure").to_lowercase().contains("exposure") {
        fail("8: no exposure line from systemd-analyze security", &["check8.exposure"]);
    }
    // 9. auditd started after sockwatch: no rule twice, findings still arrive.
    if b.get("check9.auditd_active") != "active" || b.num("check9.duplicates") != Some(0) || b.num("check9.after_jsonl") != Some(1) {
        fail(
            "9: with auditd started after sockwatch, a rule is loaded twice or findings stopped",
            &["check9.auditd_active", "check9.rules_before", "check9.rules_after", "check9.duplicates", "check9.auditctl_l", "check9.after_jsonl"],
        );
    }
    // 7. Reload, stop, purge.
    if b.get("check7.reload_rc") != "0"
        || b.get("check7.reload_same_pid") != "yes"
        || b.get("check7.reload_active") != "active"
        || b.num("check7.reopened") != Some(1)
    {
        fail(
            "7: reload is not a SIGHUP to the same running process",
            &["check7.reload_rc", "check7.reload_error", "check7.reload_same_pid", "check7.reload_active", "check7.reopened"],
        );
    }
    if b.get("check7.stop_rc") != "0" || b.get("check7.exec_main_status") != "0" || b.get("check7.result") != "success" {
        fail("7: stop did not exit 0", &["check7.stop_rc", "check7.exec_main_status", "check7.result"]);
    }
    // Stopped before auditd ever ran: no rule of sockwatch's left, other rules as
    // they were, audit switched off again (journald had it off) and the backlog
    // limit back where sockwatch found it.
    let enabled_expected = if b.num("check7.turned_on") == Some(1) { "0" } else { "1" };
    if b.num("check7.rules_after_stop") != Some(0)
        || b.get("check7.other_rules_same") != "yes"
        || b.get("check7.enabled_after_stop") != enabled_expected
        || b.get("check7.backlog_at_start").is_empty()
        || b.get("check7.backlog_after_stop") != b.get("check7.backlog_at_start")
        || b.get("check7.started_again") != "active"
    {
        fail(
            "7: after stop, sockwatch's rules are not all gone or audit's state is not as sockwatch found it",
            &[
                "check7.rules_after_stop",
                "check7.other_rules_same",
                "check7.turned_on",
                "check7.enabled_after_stop",
                "check7.backlog_at_start",
                "check7.backlog_after_stop",
                "check7.started_again",
            ],
        );
    }
    // Stopped beside auditd (check 9): the rules augenrules loaded from the
    // package's rules file are auditd's and stay, once each; audit stays on.
    if b.get("check7.stop2_rc") != "0"
        || b.num("check7.auditd_pid").is_none_or(|p| p == 0)
        || b.num("check7.rules_after_stop2") != b.num("check9.rules_file")
        || b.num("check7.duplicates_after_stop2") != Some(0)
        || b.get("check7.enabled_after_stop2") != "1"
    {
        fail(
            "7: a stop beside auditd removed auditd's copies of the rules, left duplicates, or switched audit off",
            &[
                "check7.stop2_rc",
                "check7.auditd_pid",
                "check9.rules_file",
                "check7.rules_after_stop2",
                "check7.duplicates_after_stop2",
                "check7.auditctl_after_stop2",
                "check7.enabled_after_stop2",
            ],
        );
    }
    if b.get("check7.purge_rc") != "0"
        || !b.get("check7.left_after_purge").is_empty()
        || b.num("check7.rules_after_purge") != Some(0)
        || !b.get("check7.process_left").trim().is_empty()
        || b.get("check7.dpkg_status").contains("installed") && !b.get("check7.dpkg_status").contains("not-installed")
    {
        fail(
            "7: apt purge left something behind",
            &["check7.purge_rc", "check7.left_after_purge", "check7.rules_after_purge", "check7.process_left", "check7.dpkg_status"],
        );
    }
}

fn report(b: &Boot) {
    let t = |k: &str| b.get(k).to_string();
    log!(
        "vm-debian: {} ({}): since the kernel started: systemd (after the initramfs) at {} s, multi-user.target at {} s, \
         sockwatch active at {} s, docker.service active at {} s, docker ready at {} s, harness start {} s, done at {} s",
        b.name,
        t("kernel"),
        t("time.userspace_start"),
        t("time.multi_user"),
        t("time.sockwatch_active"),
        t("time.docker_active"),
        t("time.docker_ready"),
        t("time.harness_start"),
        t("time.total")
    );
    let checks: Vec<String> = b.res.iter().filter(|(k, _)| k.starts_with("time.")).map(|(k, v)| format!("{}={v}", &k[5..])).collect();
    log!("vm-debian: {}: timings (s): {}", b.name, checks.join(" "));
    let counts: Vec<String> = b
        .res
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("time.") && !k.ends_with("_id") && !k.ends_with(".id") && !k.ends_with("run_ids") && *k != "cmdline"
        })
        .map(|(k, v)| format!("  {k}={v}"))
        .collect();
    log!("vm-debian: {}: results ({}):\n{}", b.name, b.dir.join("results").display(), counts.join("\n"));
}

#[test]
fn debian_host_in_qemu_runs_the_packaged_unit() {
    if !privileged(WHAT) || !tools_present() {
        return;
    }
    let cache = std::env::var("SOCKWATCH_VM_CACHE").unwrap_or_else(|_| "/var/cache/sockwatch-tests".into());
    std::fs::create_dir_all(&cache).unwrap();
    // One such test at a time on this machine, whoever runs it.
    let lock = File::create(Path::new(&cache).join("debian-host-test.lock")).unwrap();
    let _lock = Flock::lock(lock, FlockArg::LockExclusive).map_err(|(_, e)| e).expect("take the VM test lock");

    let t0 = Instant::now();
    let root = env!("CARGO_MANIFEST_DIR");
    step("packaging/build.sh", Command::new(format!("{root}/packaging/build.sh")).stdout(Stdio::piped()));
    let deb = newest_deb(&Path::new(root).join("dist"));
    log!("vm-debian: package {}", deb.display());
    let flavours = ["6.12", "6.1"];
    for f in flavours {
        step(&format!("image {f}"), Command::new(SCRIPT).args(["image", f, deb.to_str().unwrap()]));
    }
    log!("vm-debian: package and images ready in {:.1} s", t0.elapsed().as_secs_f64());

    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vm-debian-host");
    let mut boots = Vec::new();
    for f in flavours {
        for mode in ["full", "locked"] {
            let b = boot(f, mode, &base.join(format!("{f}-{mode}")));
            report(&b);
            boots.push(b);
        }
    }
    let mut fails = Vec::new();
    for b in &boots {
        check(b, &mut fails);
    }
    // 6, across boots: what plain allows, locked refuses (on each kernel).
    let summary: Vec<String> = boots
        .iter()
        .map(|b| {
            format!(
                "{}: exec {} run {} wrong_id {} timed_out {}/{} duplicates {} exposure {:?} bpf_read {} kprobe {} tracefs {} kcore {}",
                b.name,
                b.get("check3.exec_reported"),
                b.get("check3.run_reported"),
                b.get("check3.wrong_id"),
                timed_out(b.get("check10.stats")).map_or("?".into(), |n| n.to_string()),
                timed_out(b.get("check10.stats_at_stop")).map_or("-".into(), |n| n.to_string()),
                b.get("check9.duplicates"),
                b.get("check8.exposure"),
                b.get("probe.bpf_probe_read_kernel"),
                b.get("probe.perf_kprobe"),
                b.get("probe.tracefs"),
                b.get("probe.kcore"),
            )
        })
        .collect();
    log!("vm-debian: summary:\n  {}", summary.join("\n  "));
    log!("vm-debian: whole test {:.1} s", t0.elapsed().as_secs_f64());
    assert!(fails.is_empty(), "{} check(s) failed in the Debian guest:\n{}", fails.len(), fails.join("\n\n"));
}
