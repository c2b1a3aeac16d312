//! `sockwatch test` on the real kernel (root): it reports its own throw-away
//! process and leaves audit as it found it; it fails, saying why, when a `never`
//! rule on the task list blinds audit; and it runs beside another `sockwatch run`
//! without touching that run's rules or findings. Every test takes the audit lock
//! and checks that audit's rules and state are as it found them.

mod common;

use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use sockwatch::io::netlink::Control;

/// `sockwatch test` with no configuration file, and its pid.
fn sockwatch_test(extra: &[&str]) -> (Output, u32) {
    let child = Command::new(BIN)
        .args(["--config", "/dev/null", "test"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sockwatch test");
    let pid = child.id();
    (child.wait_with_output().unwrap(), pid)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The test's directories under /run: none may stay behind.
fn scratch_dirs() -> Vec<String> {
    std::fs::read_dir("/run")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sockwatch-test."))
        .collect()
}

/// Checks a passing run's output: one JSON line for the throw-away process's
/// connect to the throw-away socket, one human line; returns the finding.
fn check_passed(out: &Output, test_pid: u32) -> serde_json::Value {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "exit {}; stderr:\n{stderr}", out.status);
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let f: serde_json::Value = serde_json::from_str(stdout.trim_end()).unwrap();
    assert_eq!(f["kind"], "finding");
    assert_eq!(f["signature"]["id"], "TRC-1019");
    let sock = f["socket"]["watched"].as_str().unwrap();
    assert!(sock.starts_with("/run/sockwatch-test.") && sock.ends_with("/test.sock"), "{sock}");
    assert_eq!(f["socket"]["path"], sock);
    assert!(!Path::new(sock).parent().unwrap().exists(), "its directory is removed");
    // The throw-away process: a child of `sockwatch test`, named so, in
    // namespaces of its own, reported as a container of an unknown runtime.
    assert_eq!(f["process"]["ppid"], test_pid);
    assert_eq!(f["process"]["comm"], "sockwatch-test");
    assert_eq!(f["outcome"]["success"], true);
    assert_eq!(f["container"]["runtime"], "unknown");
    let own_mnt = std::fs::metadata("/proc/self/ns/mnt").unwrap().ino();
    assert_ne!(f["container"]["namespaces"]["mnt"], own_mnt);
    let pid = f["process"]["pid"].as_u64().unwrap();
    let human: Vec<&str> = stderr.lines().collect();
    assert_eq!(human.len(), 1, "{stderr}");
    assert!(
        human[0].starts_with("sockwatch test: passed: ")
            && human[0].contains(&format!("(pid {pid},"))
            && human[0].contains(sock),
        "{stderr}"
    );
    f
}

#[test]
fn sockwatch_test_reports_its_own_process_and_leaves_audit_as_it_found_it() {
    if !privileged("sockwatch test") {
        return;
    }
    let t = AuditTest::begin("selftest");
    let (out, pid) = sockwatch_test(&[]);
    let f = check_passed(&out, pid);
    eprintln!("sockwatch test: finding {:.1} ms after the connect's audit record", latency_ms(&f));
    assert_eq!(scratch_dirs(), Vec::<String>::new());
    t.end();
}

/// `-a never,task`, loaded over netlink as auditctl loads it, for the life of
/// this value.
struct TaskNever {
    rule: Vec<u8>,
}

impl TaskNever {
    /// `None` when the host has such a rule already (the test cannot tell its
    /// own from the host's).
    fn load() -> Option<TaskNever> {
        use netlink_packet_audit::rules::{RuleAction, RuleFlags, RuleMessage, RuleSyscalls};
        use netlink_packet_core::Emitable;
        let mut m = RuleMessage::new();
        m.flags = RuleFlags::from(1); // AUDIT_FILTER_TASK
        m.action = RuleAction::from(0); // AUDIT_NEVER
        m.syscalls = RuleSyscalls::new_maxed();
        let mut rule = vec![0; m.buffer_len()];
        m.emit(&mut rule);
        match Control::open().unwrap().add_rule(&rule) {
            Ok(()) => Some(TaskNever { rule }),
            Err(e) if e.raw_os_error() == Some(nix::libc::EEXIST) => None,
            Err(e) => panic!("loading -a never,task: {e}"),
        }
    }
}

impl Drop for TaskNever {
    fn drop(&mut self) {
        if let Err(e) = Control::open().and_then(|mut c| c.del_rule(&self.rule)) {
            eprintln!("cannot delete the test's -a never,task: {e}");
        }
    }
}

impl TaskNever {
    /// The rule loaded, or None (and the test skipped, which CI=true forbids)
    /// where the host loads one of its own: deleting it would change the host.
    fn load_or_skip(test: &str) -> Option<TaskNever> {
        let never = TaskNever::load();
        if never.is_none() {
            let why = "this host loads a -a never,task rule of its own";
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "cannot run under CI=true: {why}"
            );
            skip(test, why);
        }
        never
    }
}

#[test]
fn sockwatch_test_fails_with_the_reason_under_a_task_list_never_rule() {
    if !privileged("sockwatch test under a never rule") {
        return;
    }
    let t = AuditTest::begin("selftest-never");
    let Some(never) = TaskNever::load_or_skip("sockwatch test under a never rule") else {
        return t.end();
    };
    let (out, _) = sockwatch_test(&["--timeout", "2"]);
    drop(never);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    eprintln!("sockwatch test under -a never,task said:\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(stdout, "", "no finding is printed");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(
            "sockwatch test: FAILED: a `never` rule on audit's task list (-a never,task)"
        ) && first.ends_with("run `sockwatch doctor` to see what does not work on this host"),
        "{stderr}"
    );
    // What the run reported and logged follows the reason.
    assert!(stderr.contains("log of the test's `sockwatch run`:"), "{stderr}");
    assert!(
        stderr.contains("  sockwatch: error: health: a never rule on audit's task list"),
        "{stderr}"
    );
    assert!(stderr.contains("sockwatch: info: stopped: "), "{stderr}");
    assert_eq!(scratch_dirs(), Vec::<String>::new());
    t.end();
}

#[test]
fn sockwatch_test_beside_a_running_sockwatch_leaves_it_undisturbed() {
    if !privileged("sockwatch test beside sockwatch run") {
        return;
    }
    let t = AuditTest::begin("selftest-beside");
    let client = build_client(&t.dir);
    let sock = t.dir.join("real.sock");
    let _listener = UnixListener::bind(&sock).unwrap();
    let d = Daemon::start(&t.dir, &["--socket", sock.to_str().unwrap()]);
    // Its start-up health events (audit switched on late, say) written.
    std::thread::sleep(Duration::from_millis(300));
    let records_before = records_in(&d.findings);
    let with_daemon = audit_state();

    let (out, pid) = sockwatch_test(&[]);
    check_passed(&out, pid);
    assert_eq!(
        audit_state(),
        with_daemon,
        "the running sockwatch's rules, and audit's state, untouched"
    );
    // Time for the running one to look at the rule changes it was told of.
    std::thread::sleep(Duration::from_millis(500));
    let records = records_in(&d.findings);
    assert_eq!(records, records_before, "nothing for the running sockwatch to report");

    // And it still works.
    let c = FakeContainer::new();
    let run = c.sh(&format!("{} {}", client.display(), sock.display()));
    assert!(run.status.success(), "{}", text(&run.stderr));
    d.wait_finding("a connect after sockwatch test", Duration::from_secs(5), |f| {
        f["container"]["id"] == c.id.as_str()
    });
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
    drop(c);
    t.end();
}

#[test]
fn sockwatch_test_without_root_says_so() {
    let what = "sockwatch test without root";
    if !have("/usr/bin/setpriv", what) {
        return;
    }
    // As root, as nobody; otherwise as the user running the tests.
    let mut cmd = if nix::unistd::Uid::effective().is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let out = cmd.args(["--config", "/dev/null", "test"]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("sockwatch test: needs root"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn sockwatch_test_as_root_without_audit_control_says_so() {
    let what = "sockwatch test without CAP_AUDIT_CONTROL";
    if !privileged(what) || !have("/usr/bin/setpriv", what) {
        return;
    }
    let out =
        run("setpriv", &["--bounding-set", "-audit_control", BIN, "--config", "/dev/null", "test"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("sockwatch test: runs as root but without CAP_AUDIT_CONTROL"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn sockwatch_test_interrupted_stops_its_run_and_cleans_up() {
    if !privileged("sockwatch test interrupted") {
        return;
    }
    let t = AuditTest::begin("selftest-int");
    // Under a never rule no finding comes, so the test waits: long enough to be
    // interrupted.
    let Some(never) = TaskNever::load_or_skip("sockwatch test interrupted") else {
        return t.end();
    };
    let before = scratch_dirs();
    let child = Command::new(BIN)
        .args(["--config", "/dev/null", "test", "--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its run is ready once it has reported the never rule.
    let t0 = std::time::Instant::now();
    loop {
        let ready = scratch_dirs().iter().filter(|d| !before.contains(d)).any(|d| {
            std::fs::read_to_string(format!("/run/{d}/findings.jsonl"))
                .is_ok_and(|s| s.contains("audit_task_never"))
        });
        if ready {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "the test's run never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    drop(never);
    let stderr = text(&out.stderr);
    assert!(t0.elapsed() < Duration::from_secs(20), "it ended at the signal, not the timeout");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "sockwatch test: interrupted by SIGINT; its `sockwatch run` is stopped"
    );
    assert_eq!(scratch_dirs(), before, "its directory is removed");
    t.end();
}
