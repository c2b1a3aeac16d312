//! A real Debian 12 host in a qemu guest: the .deb from packaging/build.sh
//! installed with apt, the packaged sockwatch.service, Docker inside, and the
//! checks of tests/vm/debian-guest.sh run under it, on bookworm's 6.1 and
//! bookworm-backports' 6.12 cloud kernels, each booted plain and with
//! lockdown=confidentiality, and on Debian 11's 5.10 (which refuses the io_uring
//! rule; booted with the x32 ABI on). The plain boots hold the unit back at boot
//! and start it after a container: 6.1 without audit=1 (that container's connect
//! makes no audit record at all; sockwatch warns), 6.12 with audit=1 (reported).
//! The image is built in cached layers by tests/vm/debian-host.sh (debootstrap;
//! /var/cache/sockwatch-tests/debian-host); the host's audit, Docker and fanotify
//! state are never touched.
//!
//! One test boots all five, two at a time (two TCG guests at once took 562 s of
//! wall time where one after the other took 779 s, on 2 cores: each guest idles
//! part of the time), and asserts every check at the end, so one run reports all
//! that failed. Timings and counts go to stderr for the CI log.

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
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
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
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("sockwatch_") && n.ends_with(".deb"))
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("a sockwatch_*.deb in dist/")
}

/// One guest run: kernel flavour, mode (full, locked, old; see debian-host.sh)
/// and extra kernel parameters.
struct Plan {
    flavour: &'static str,
    mode: &'static str,
    params: &'static [&'static str],
}

/// The boots, longest first: they are taken in this order by two workers. The
/// plain ones both run the late-audit check (sw.late=1): 6.1 without audit=1 on
/// the kernel command line, 6.12 with it.
const PLANS: [Plan; 5] = [
    Plan { flavour: "6.1", mode: "full", params: &[] },
    Plan { flavour: "6.12", mode: "full", params: &["audit=1"] },
    Plan { flavour: "6.1", mode: "locked", params: &[] },
    Plan { flavour: "6.12", mode: "locked", params: &[] },
    Plan { flavour: "5.10", mode: "old", params: &["syscall.x32=y"] },
];
/// Guests at once.
const PARALLEL: usize = 2;

struct Boot {
    name: String,
    mode: String,
    locked: bool,
    /// audit=1 on the kernel command line.
    audit1: bool,
    /// syscall.x32=y on the kernel command line.
    x32: bool,
    res: BTreeMap<String, String>,
    text: String,
    dir: PathBuf,
    /// findings.jsonl as the guest left it (results/findings.jsonl), parsed.
    findings: Vec<serde_json::Value>,
}

impl Boot {
    fn get(&self, k: &str) -> &str {
        self.res.get(k).map(String::as_str).unwrap_or("(missing)")
    }
    fn num(&self, k: &str) -> Option<u64> {
        self.get(k).trim().parse().ok()
    }
    /// The late-audit check ran (full mode: sw.late=1).
    fn late(&self) -> bool {
        self.mode == "full"
    }
    fn old(&self) -> bool {
        self.mode == "old"
    }
    /// Health events named EVENT in findings.jsonl.
    fn health(&self, event: &str) -> Vec<&serde_json::Value> {
        self.findings.iter().filter(|f| f["kind"] == "health" && f["event"] == event).collect()
    }
    /// Health events named EVENT, compact, for a failure message.
    fn health_text(&self, event: &str) -> String {
        let h = self.health(event);
        if h.is_empty() {
            let all: Vec<String> = self
                .findings
                .iter()
                .filter(|f| f["kind"] == "health")
                .map(|f| f["event"].to_string())
                .collect();
            format!("(no {event} event; health events: [{}])", all.join(", "))
        } else {
            h.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n    ")
        }
    }
}

/// The container ids in an event's details.containers.
fn container_ids(ev: &serde_json::Value) -> Vec<&str> {
    ev["details"]["containers"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["id"].as_str()).collect())
        .unwrap_or_default()
}

/// The strings in an event's details.KEY.
fn detail_strings<'a>(ev: &'a serde_json::Value, key: &str) -> Vec<&'a str> {
    ev["details"][key]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default()
}

/// `timed_out=N` in a stats line.
fn timed_out(stats: &str) -> Option<u64> {
    stats.split_whitespace().find_map(|w| w.strip_prefix("timed_out=")).and_then(|n| n.parse().ok())
}

fn boot(plan: &Plan, out: &Path) -> Boot {
    let (flavour, mode) = (plan.flavour, plan.mode);
    let mut name = format!("{flavour} {}", if mode == "full" { "plain" } else { mode });
    if !plan.params.is_empty() {
        name = format!("{name} {}", plan.params.join(" "));
    }
    let _ = std::fs::remove_dir_all(out);
    let t0 = Instant::now();
    let o = Command::new(SCRIPT)
        .args(["boot", flavour, mode, out.to_str().unwrap()])
        .args(plan.params)
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
    let res = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let findings = std::fs::read_to_string(out.join("results/findings.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Boot {
        name,
        mode: mode.to_string(),
        locked: mode == "locked",
        audit1: plan.params.contains(&"audit=1"),
        x32: plan.params.contains(&"syscall.x32=y"),
        res,
        text,
        dir: out.to_path_buf(),
        findings,
    }
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
    // late: audit turned on after a container's process was created.
    if b.late() {
        late(b, &mut fail);
    } else if b.get("start.sockwatch") != "active" {
        fail(
            "1: sockwatch.service was not active when the harness started",
            &["start.sockwatch", "start.sockwatch_condition"],
        );
    }
    // 1. The unit came up (READY=1; at boot, or started by the late check), nothing
    // failed, no sandbox denial, no restart.
    if b.get("check1.active") != "active" || b.get("check1.nrestarts") != "0" {
        fail(
            "1: sockwatch.service is not active (started at boot, or by the harness), or was restarted",
            &["check1.started_by", "check1.active", "check1.substate", "check1.nrestarts"],
        );
    }
    if !b.get("check1.failed_units").is_empty() {
        fail("1: failed units after boot", &["check1.failed_units"]);
    }
    if b.num("check1.eperm_lines") != Some(0) || b.num("check1.seccomp_records") != Some(0) {
        fail(
            "1: sandbox denials in the journal (see results/sockwatch-boot.log)",
            &["check1.eperm_lines", "check1.seccomp_records"],
        );
    }
    // 2. One container, one finding, in both outputs; also under another name.
    for (j, jr) in
        [("check2.jsonl", "check2.journal"), ("check2.alias_jsonl", "check2.alias_journal")]
    {
        if b.num(j) != Some(1) || b.num(jr) != Some(1) {
            fail(
                "2: a container's connect is not reported exactly once in findings.jsonl and the journal",
                &["check2.id", j, jr, "check2.alias_id"],
            );
        }
    }
    if b.get("check2.file_mode") != "root:adm 640" {
        fail("2: /var/log/sockwatch/findings.jsonl is not root:adm 0640", &["check2.file_mode"]);
    }
    // doctor: x32 (on only with syscall.x32=y, and then a health event too) and
    // the audit= setting of the kernel command line.
    if b.x32 {
        if !b.get("doctor.x32").contains("ENABLED") || b.health("x32_enabled").is_empty() {
            fail(
                &format!(
                    "doctor: booted with syscall.x32=y, but doctor does not say x32 is ENABLED or there is no x32_enabled event (results/doctor.txt):\n    {}",
                    b.health_text("x32_enabled")
                ),
                &["kernel", "doctor.x32", "check11.x32_events"],
            );
        }
    } else if !b.get("doctor.x32").contains("disabled") || !b.health("x32_enabled").is_empty() {
        fail(
            &format!(
                "doctor: without syscall.x32=y, doctor does not say x32 is disabled, or there is an x32_enabled event:\n    {}",
                b.health_text("x32_enabled")
            ),
            &["kernel", "doctor.x32"],
        );
    }
    if !b.get("doctor.cmdline").contains(if b.audit1 { "audit=1" } else { "no audit=" })
        || b.get("doctor.rc") != "0"
    {
        fail(
            "doctor: the cmdline line does not give the kernel command line's audit= setting, or doctor failed (results/doctor.txt)",
            &["cmdline", "doctor.cmdline", "doctor.rc", "doctor.result"],
        );
    }
    // 11. Debian 11's 5.10: the io_uring rule is refused, and sockwatch says so.
    if b.old() {
        let io_uring = b.health("rules_refused").iter().any(|e| {
            detail_strings(e, "rules").iter().any(|r| r.contains("io_uring"))
                && detail_strings(e, "invisible").iter().any(|i| i.contains("io_uring"))
        });
        if !io_uring {
            fail(
                &format!(
                    "11: no rules_refused event naming the io_uring rule and saying io_uring connects are invisible (results/rules-status.txt):\n    {}",
                    b.health_text("rules_refused")
                ),
                &[
                    "kernel",
                    "check11.refused_events",
                    "check11.refused_rules",
                    "check11.refused_errors",
                    "check11.refused_invisible",
                    "check11.rules_status",
                ],
            );
        }
    }
    // 3 and 6 (not in the old boot).
    if !b.old() {
        checks_3_6(b, &mut fail);
    }
    // 10. Event assembly: few events closed by timeout.
    for k in ["check10.stats", "check10.stats_at_stop"] {
        if (b.locked || b.old()) && k == "check10.stats_at_stop" {
            continue;
        }
        match timed_out(b.get(k)) {
            Some(n) if n <= TIMED_OUT_MAX => {}
            _ => fail(
                &format!(
                    "10: more than {TIMED_OUT_MAX} events timed out (no EOE); results/no-eoe-summary.txt has their record types"
                ),
                &[k, "check10.no_eoe_total", "check10.no_eoe_top"],
            ),
        }
    }
    // 12. --respond freeze under the packaged unit: the container stops where
    // it stands until `sockwatch release`, then finishes.
    if !b.old() {
        let frozen = matches!(b.get("check12.result"), "frozen" | "freezing");
        if b.get("check12.active") != "active"
            || b.num("check12.jsonl") != Some(1)
            || !frozen
            || b.num("check12.frozen") != Some(1)
            || !b.get("check12.output_frozen").trim().is_empty()
            || b.num("check12.failed") != Some(0)
        {
            fail(
                "12: with respond = \"freeze\" the unit did not freeze the container (results/finding-frozen.json, sockwatch-respond.log)",
                &[
                    "check12.active",
                    "check12.id",
                    "check12.jsonl",
                    "check12.result",
                    "check12.latency_us",
                    "check12.cgroup",
                    "check12.frozen",
                    "check12.output_frozen",
                    "check12.failed",
                ],
            );
        }
        if b.num("check12.release_rc") != Some(0)
            || b.num("check12.exit") != Some(0)
            || b.get("check12.output_after").trim() != "after-release"
            || b.num("check12.released").is_none_or(|n| n < 1)
            || b.get("check12.active_after") != "active"
        {
            fail(
                "12: `sockwatch release` did not thaw the container, or the release was not recorded",
                &[
                    "check12.release_rc",
                    "check12.exit",
                    "check12.output_after",
                    "check12.released",
                    "check12.active_after",
                ],
            );
        }
    }
    if b.locked || b.old() {
        return;
    }
    // 4. Host clients.
    if b.num("check4.new_findings") != Some(0) {
        fail(
            "4: `docker version` on the host gave a finding",
            &["check4.docker_version_rc", "check4.new_findings"],
        );
    }
    // 5. dockerd restart.
    if b.num("check5.sw1001_sw1002") != Some(0) || b.num("check5.after_jsonl") != Some(1) {
        fail(
            "5: dockerd's restart gave SW-1001/SW-1002 (results/sw100x.json), or a connect after it was not reported",
            &["check5.sw1001_sw1002", "check5.after_jsonl", "check5.sockwatch_active"],
        );
    }
    // 8. Recorded only.
    if !b.get("check8.exposure").to_lowercase().contains("exposure") {
        fail("8: no exposure line from systemd-analyze security", &["check8.exposure"]);
    }
    // 9. auditd started after sockwatch: no rule twice, findings still arrive.
    if b.get("check9.auditd_active") != "active"
        || b.num("check9.duplicates") != Some(0)
        || b.num("check9.after_jsonl") != Some(1)
    {
        fail(
            "9: with auditd started after sockwatch, a rule is loaded twice or findings stopped",
            &[
                "check9.auditd_active",
                "check9.rules_before",
                "check9.rules_after",
                "check9.duplicates",
                "check9.auditctl_l",
                "check9.after_jsonl",
            ],
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
            &[
                "check7.reload_rc",
                "check7.reload_error",
                "check7.reload_same_pid",
                "check7.reload_active",
                "check7.reopened",
            ],
        );
    }
    if b.get("check7.stop_rc") != "0"
        || b.get("check7.exec_main_status") != "0"
        || b.get("check7.result") != "success"
    {
        fail(
            "7: stop did not exit 0",
            &["check7.stop_rc", "check7.exec_main_status", "check7.result"],
        );
    }
    // Stopped before auditd ever ran: no rule of sockwatch's left, other rules as
    // they were, audit switched off again (journald had it off) and the backlog
    // limit back where sockwatch found it.
    // (Check 12 restarts the unit twice; each start finds audit as the last
    // stop left it, so one start that found it off means every one did.)
    let enabled_expected =
        if b.num("check7.turned_on").is_some_and(|n| n >= 1) { "0" } else { "1" };
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
        || b.get("check7.dpkg_status").contains("installed")
            && !b.get("check7.dpkg_status").contains("not-installed")
    {
        fail(
            "7: apt purge left something behind",
            &[
                "check7.purge_rc",
                "check7.left_after_purge",
                "check7.rules_after_purge",
                "check7.process_left",
                "check7.dpkg_status",
            ],
        );
    }
}

/// Checks 3 (short-lived clients, every one with the right id) and 6 (lockdown:
/// plain allows, locked refuses).
fn checks_3_6(b: &Boot, fail: &mut impl FnMut(&str, &[&str])) {
    if b.get("check3.exec_reported") != "50/50"
        || b.get("check3.run_reported") != "10/10"
        || b.num("check3.wrong_id") != Some(0)
    {
        fail(
            "3: short-lived clients not all reported with the right container id",
            &[
                "check3.exec_reported",
                "check3.run_reported",
                "check3.run_counts",
                "check3.wrong_id",
                "check3.total_new",
            ],
        );
    }
    let probes = [
        "probe.bpf_probe_read_kernel",
        "probe.bpf_probe_read_kernel_str",
        "probe.perf_kprobe",
        "probe.tracefs",
        "probe.kcore",
    ];
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
    } else if !b.get("probe.lockdown").contains("[none]") || probes.iter().any(|k| b.get(k) != "ok")
    {
        fail("6: the plain boot refuses a probe", &keys);
    }
}

/// The late-audit check (sw.late=1): a container started before sockwatch, then
/// sockwatch, then a control container; both connect.
fn late(b: &Boot, fail: &mut impl FnMut(&str, &[&str])) {
    if b.get("start.sockwatch") != "inactive" || b.get("start.sockwatch_condition") != "no" {
        fail(
            "late: sockwatch.service was not held back at boot (the image's ConditionKernelCommandLine=!sw.late=1 drop-in)",
            &["start.sockwatch", "start.sockwatch_condition"],
        );
    }
    if b.get("late.start_rc") != "0" || b.get("late.sockwatch_active") != "active" {
        fail(
            "late: `systemctl start sockwatch` failed",
            &["late.start_rc", "late.sockwatch_active"],
        );
    }
    if b.get("late.client_out") != "connect: ok"
        || b.get("late.control_client_out") != "connect: ok"
    {
        fail(
            "late: a container's client did not connect to /run/docker.sock",
            &["late.client_out", "late.control_client_out"],
        );
    }
    if b.num("late.control_jsonl") != Some(1) || b.num("late.control_records_key").unwrap_or(0) < 1
    {
        fail(
            "late: the control container (started after sockwatch) was not reported exactly once, or its connect made no SYSCALL record",
            &[
                "late.control_id",
                "late.control_pid",
                "late.control_jsonl",
                "late.control_records",
                "late.control_records_key",
            ],
        );
    }
    let events = b.health("audit_enabled_late");
    if b.audit1 {
        if b.num("late.jsonl") != Some(1) || b.num("late.records_key").unwrap_or(0) < 1 {
            fail(
                "late (audit=1): the container started before sockwatch was not reported exactly once, or its connect made no SYSCALL record",
                &["late.id", "late.pid", "late.jsonl", "late.records", "late.records_key"],
            );
        }
        if !events.is_empty() {
            fail(
                &format!(
                    "late (audit=1): an audit_enabled_late event, with audit=1 on the kernel command line:\n    {}",
                    b.health_text("audit_enabled_late")
                ),
                &["cmdline", "late.event_count"],
            );
        }
        return;
    }
    if b.get("start.audit_enabled") != "0"
        || b.get("late.audit_enabled_before") != "0"
        || b.get("late.audit_at_init") != "0"
        || b.num("late.audit_switches_before") != Some(0)
    {
        fail(
            "late: audit was on at some point before sockwatch started (nothing else may turn it on: auditd is disabled in the image)",
            &[
                "start.audit_enabled",
                "late.audit_at_init",
                "late.audit_switches_before",
                "late.audit_enabled_before",
            ],
        );
    }
    if b.num("late.jsonl") != Some(0) || b.num("late.records") != Some(0) {
        fail(
            "late: the connect of a process created before audit was ever enabled made a SYSCALL record or a finding (the kernel gives such a task no audit context)",
            &[
                "late.id",
                "late.pid",
                "late.jsonl",
                "late.records",
                "late.records_key",
                "late.control_records_key",
            ],
        );
    }
    // The first one: a later start (check 7) may warn again, naming what runs then.
    let first = events.first();
    let named = first.is_some_and(|e| container_ids(e).contains(&b.get("late.id")));
    let control = first.is_some_and(|e| container_ids(e).contains(&b.get("late.control_id")));
    if !named
        || control
        || first
            .is_some_and(|e| e["level"] != "warning" || !e["details"]["cmdline_audit"].is_null())
    {
        fail(
            &format!(
                "late: the first audit_enabled_late event is not a warning naming the container started before sockwatch (and not the control), with cmdline_audit null:\n    {}",
                b.health_text("audit_enabled_late")
            ),
            &[
                "late.id",
                "late.control_id",
                "late.event_count",
                "late.event_names_container",
                "late.event_names_control",
            ],
        );
    }
}

/// The late check in a few words: was the container started before sockwatch
/// reported, and the SYSCALL records for its pid against the control's.
fn late_summary(b: &Boot) -> String {
    if !b.late() {
        return "late -".into();
    }
    format!(
        "late ({}): reported {} records {} (control {}) audit_enabled_late {}",
        if b.audit1 { "audit=1" } else { "no audit=" },
        if b.num("late.jsonl").unwrap_or(0) > 0 { "yes" } else { "no" },
        b.get("late.records"),
        b.get("late.control_records"),
        b.health("audit_enabled_late").len(),
    )
}

/// One boot in a line for the CI log: what each of its checks gave (those its
/// mode runs).
fn summary(b: &Boot) -> String {
    let mut s = vec![format!("{}:", b.name), late_summary(b)];
    if !b.old() {
        s.push(format!(
            "exec {} run {} wrong_id {}",
            b.get("check3.exec_reported"),
            b.get("check3.run_reported"),
            b.get("check3.wrong_id")
        ));
    }
    s.push(format!(
        "timed_out {}/{}",
        timed_out(b.get("check10.stats")).map_or("?".into(), |n| n.to_string()),
        timed_out(b.get("check10.stats_at_stop")).map_or("-".into(), |n| n.to_string())
    ));
    if b.late() {
        s.push(format!(
            "duplicates {} exposure {:?}",
            b.get("check9.duplicates"),
            b.get("check8.exposure")
        ));
    }
    if b.old() {
        s.push(format!("refused {}", b.get("check11.refused_rules")));
    } else {
        // 6: what plain allows, locked refuses (on each kernel).
        s.push(format!(
            "bpf_read {} kprobe {} tracefs {} kcore {}",
            b.get("probe.bpf_probe_read_kernel"),
            b.get("probe.perf_kprobe"),
            b.get("probe.tracefs"),
            b.get("probe.kcore")
        ));
    }
    s.push(format!(
        "x32 {}",
        b.get("doctor.x32").split_whitespace().nth(1).unwrap_or("?").trim_end_matches(':')
    ));
    s.push(format!("health [{}]", b.get("health.events")));
    s.join(" ")
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
    let checks: Vec<String> = b
        .res
        .iter()
        .filter(|(k, _)| k.starts_with("time."))
        .map(|(k, v)| format!("{}={v}", &k[5..]))
        .collect();
    log!("vm-debian: {}: timings (s): {}", b.name, checks.join(" "));
    let counts: Vec<String> = b
        .res
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("time.")
                && !k.ends_with("_id")
                && !k.ends_with(".id")
                && !k.ends_with("run_ids")
                && *k != "cmdline"
        })
        .map(|(k, v)| format!("  {k}={v}"))
        .collect();
    log!(
        "vm-debian: {}: results ({}):\n{}",
        b.name,
        b.dir.join("results").display(),
        counts.join("\n")
    );
}

#[test]
fn debian_host_in_qemu_runs_the_packaged_unit() {
    if !privileged(WHAT) || !tools_present() {
        return;
    }
    let cache =
        std::env::var("SOCKWATCH_VM_CACHE").unwrap_or_else(|_| "/var/cache/sockwatch-tests".into());
    std::fs::create_dir_all(&cache).unwrap();
    // One such test at a time on this machine, whoever runs it.
    let lock = File::create(Path::new(&cache).join("debian-host-test.lock")).unwrap();
    let _lock = Flock::lock(lock, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("take the VM test lock");

    let t0 = Instant::now();
    let root = env!("CARGO_MANIFEST_DIR");
    step(
        "packaging/build.sh",
        Command::new(format!("{root}/packaging/build.sh")).stdout(Stdio::piped()),
    );
    let deb = newest_deb(&Path::new(root).join("dist"));
    log!("vm-debian: package {}", deb.display());
    let flavours = ["6.12", "6.1", "5.10"];
    for f in flavours {
        step(&format!("image {f}"), Command::new(SCRIPT).args(["image", f, deb.to_str().unwrap()]));
    }
    log!("vm-debian: package and images ready in {:.1} s", t0.elapsed().as_secs_f64());

    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vm-debian-host");
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(plan) = PLANS.get(i) else { break };
                    let b = boot(plan, &base.join(format!("{}-{}", plan.flavour, plan.mode)));
                    report(&b);
                    done.lock().unwrap().push((i, b));
                }
            });
        }
    });
    let mut boots = done.into_inner().unwrap();
    boots.sort_by_key(|(i, _)| *i);
    let boots: Vec<Boot> = boots.into_iter().map(|(_, b)| b).collect();
    assert_eq!(boots.len(), PLANS.len(), "a boot's thread panicked");
    let mut fails = Vec::new();
    for b in &boots {
        check(b, &mut fails);
    }
    let lines: Vec<String> = boots.iter().map(summary).collect();
    log!("vm-debian: summary:\n  {}", lines.join("\n  "));
    log!("vm-debian: whole test {:.1} s", t0.elapsed().as_secs_f64());
    assert!(
        fails.is_empty(),
        "{} check(s) failed in the Debian guest:\n{}",
        fails.len(),
        fails.join("\n\n")
    );
}
