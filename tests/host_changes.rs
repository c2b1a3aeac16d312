//! The host changes audit under a running sockwatch; it must notice, recover on
//! its own, say so in a health event, and keep detecting: a container connect
//! right after the change is still reported within 2 s. Each test prints how long
//! the recovery took.

mod common;

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::docker::docker_run_with_socket;
use common::*;
use sockwatch::io::netlink::Control;

fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn wait_health(d: &Daemon, event: &str, timeout: Duration) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        if let Some(h) =
            records(&d.findings).into_iter().find(|r| r["kind"] == "health" && r["event"] == event)
        {
            return h;
        }
        assert!(
            t0.elapsed() < timeout,
            "no {event} health event within {timeout:?}; log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A container connect made now is reported within 2 s.
fn still_detects(d: &Daemon, c: &FakeContainer, sock: &Path) {
    let before = records(&d.findings).iter().filter(|r| r.get("signature").is_some()).count();
    let t0 = Instant::now();
    let _ = c.sh(&connect_cmd(sock));
    while records(&d.findings).iter().filter(|r| r.get("signature").is_some()).count() <= before {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "a container connect was not reported within 2 s; log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGTERM: exit 0, and audit as the test found it.
fn finish(t: AuditTest, d: Daemon, c: FakeContainer) {
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    drop(c);
    t.end();
}

/// `auditctl -e 0`, or the same netlink message where auditctl is missing.
fn audit_off() {
    if Path::new("/usr/sbin/auditctl").exists() {
        assert!(run("auditctl", &["-e", "0"]).status.success());
    } else {
        Control::open().unwrap().set_enabled(0).unwrap();
    }
}

fn setup(
    tag: &str,
    extra: &[&str],
) -> (AuditTest, UnixListener, std::path::PathBuf, Daemon, FakeContainer) {
    let t = AuditTest::begin(tag);
    let sock = t.dir.join("real.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut args = vec!["--socket", sock.to_str().unwrap()];
    args.extend_from_slice(extra);
    let d = Daemon::start(&t.dir, &args);
    (t, listener, sock, d, FakeContainer::new())
}

#[test]
fn audit_switched_off_is_turned_back_on() {
    if !privileged("audit switched off") {
        return;
    }
    let (t, _l, sock, d, c) = setup("audit-off", &[]);
    let t0 = Instant::now();
    audit_off();
    let h = wait_health(&d, "audit_disabled", Duration::from_secs(5));
    let recovered = t0.elapsed();
    assert_eq!(h["details"]["restored"], true);
    assert_eq!(Control::open().unwrap().status().unwrap().enabled, 1);
    still_detects(&d, &c, &sock);
    eprintln!("recovery: audit switched off -> on again in {recovered:?}");
    finish(t, d, c);
}

#[test]
fn keep_audit_state_only_reports() {
    if !privileged("--keep-audit-state") {
        return;
    }
    let (t, _l, sock, d, c) = setup("keep-state", &["--keep-audit-state"]);
    audit_off();
    let h = wait_health(&d, "audit_disabled", Duration::from_secs(5));
    assert_eq!(h["details"]["restored"], false);
    assert_eq!(h["level"], "error");
    assert_eq!(Control::open().unwrap().status().unwrap().enabled, 0, "left off");
    // Someone turns it on again: reported, and detection is back.
    Control::open().unwrap().set_enabled(1).unwrap();
    wait_health(&d, "audit_enabled", Duration::from_secs(5));
    still_detects(&d, &c, &sock);
    finish(t, d, c);
}

#[test]
fn journald_starting_switches_audit_off_and_it_comes_back() {
    if !privileged("journald restart") || !have("/lib/systemd/systemd-journald", "journald restart")
    {
        return;
    }
    let (t, _l, sock, d, c) = setup("journald", &[]);
    // Restart journald the way the test command started it; it turns audit off.
    let _ = run("pkill", &["-x", "systemd-journal"]);
    for _ in 0..50 {
        if !run("pgrep", &["-x", "systemd-journal"]).status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let t0 = Instant::now();
    let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/env/setup-journald.sh");
    let out = run(setup, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let h = wait_health(&d, "audit_disabled", Duration::from_secs(10));
    eprintln!(
        "recovery: journald start switched audit off; back on {:?} after journald was started",
        t0.elapsed()
    );
    assert_eq!(h["details"]["restored"], true);
    still_detects(&d, &c, &sock);
    finish(t, d, c);
}

#[test]
fn wiped_rules_are_loaded_again_within_a_second() {
    if !privileged("rules wiped") {
        return;
    }
    let (t, _l, sock, d, c) = setup("wiped", &[]);
    let t0 = Instant::now();
    if Path::new("/usr/sbin/auditctl").exists() {
        assert!(run("auditctl", &["-D"]).status.success());
    } else {
        // What `auditctl -D` does: delete every rule.
        let mut ctl = Control::open().unwrap();
        for rule in ctl.list_rules().unwrap() {
            ctl.del_rule(&rule).unwrap();
        }
    }
    let h = wait_health(&d, "rules_restored", Duration::from_secs(1));
    let recovered = t0.elapsed();
    assert!(h["details"]["restored"].as_u64().unwrap() >= 1);
    assert!(sockwatch_rules_loaded() >= 1);
    still_detects(&d, &c, &sock);
    eprintln!("recovery: rules wiped -> loaded again in {recovered:?}");
    finish(t, d, c);
}

#[test]
fn dockerd_restart_recreates_the_socket_and_matching_follows() {
    if !privileged("dockerd restart")
        || !runtime_ready("docker", "sockwatch-test:latest", "tests/env/setup-docker.sh")
    {
        return;
    }
    let t = AuditTest::begin("dockerd");
    let client = build_client(&t.dir);
    let d = Daemon::start(&t.dir, &[]);
    let inode =
        || std::os::unix::fs::MetadataExt::ino(&std::fs::metadata("/run/docker.sock").unwrap());
    let before = inode();
    // Restart dockerd: stop it, and start it again as the test command does.
    let _ = run("pkill", &["-x", "dockerd"]);
    for _ in 0..200 {
        if !run("pgrep", &["-x", "dockerd"]).status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/env/setup-docker.sh");
    let out = run(setup, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(inode(), before, "dockerd re-created its socket");
    let container = docker_run_with_socket(&client, &["sleep", "60"]);
    let id = container.0.clone();
    let t0 = Instant::now();
    assert!(run("docker", &["exec", &id, "/client", "/var/run/docker.sock"]).status.success());
    let f = d.wait_finding("a connect to the new socket", Duration::from_secs(10), |f| {
        f["container"]["id"] == id.as_str()
    });
    let took = t0.elapsed();
    assert_eq!(f["socket"]["inode"], inode());
    // fanotify saw the old socket go and the new one come, each a health event.
    wait_health(&d, "socket_changed", Duration::from_secs(1));
    let changes: Vec<serde_json::Value> = records(&d.findings)
        .into_iter()
        .filter(|r| r["kind"] == "health" && r["event"] == "socket_changed")
        .collect();
    assert!(changes.iter().any(|h| h["details"]["new_inode"] == inode()), "{changes:#?}");
    let all = records(&d.findings);
    assert!(
        all.iter().all(|f| f["signature"]["id"] != "SW-1002" && f["signature"]["id"] != "SW-1001"),
        "dockerd re-creating and setting up its own socket is no finding: {all:#?}"
    );
    eprintln!(
        "recovery: dockerd restarted; the first connect to the new socket reported {took:?} after `docker exec` began"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let (st, log) = d.stop();
    drop(container);
    assert!(st.success(), "{log}");
    t.end();
}

#[test]
fn auditd_beside_sockwatch_both_see_the_events() {
    if !privileged("auditd beside") || !have("/usr/sbin/auditd", "auditd beside") {
        return;
    }
    let (t, _l, sock, d, c) = setup("auditd", &[]);
    let log = Path::new("/var/log/audit/audit.log");
    let mut auditd = Reaped(
        std::process::Command::new("/usr/sbin/auditd")
            .args(["-n", "-s", "nochange"])
            .spawn()
            .unwrap(),
    );
    let auditd = &mut auditd.0;
    let mut ctl = Control::open().unwrap();
    let t0 = Instant::now();
    while ctl.status().unwrap().pid != auditd.id() {
        assert!(t0.elapsed() < Duration::from_secs(10), "auditd did not register");
        std::thread::sleep(Duration::from_millis(20));
    }
    // What auditd's service does next: load its rules, which begin with -D.
    let t1 = Instant::now();
    let out = run("auditctl", &["-R", "/etc/audit/audit.rules"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_health(&d, "rules_restored", Duration::from_secs(1));
    let recovered = t1.elapsed();
    still_detects(&d, &c, &sock);
    let f = d.findings().into_iter().last().unwrap();
    let serial = f["audit"]["serial"].as_u64().unwrap();
    // auditd logged the same event, and still holds the audit pid: sockwatch
    // stayed on the multicast group.
    let t2 = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text
            .lines()
            .any(|l| l.contains(&format!(":{serial})")) && l.contains("key=\"sockwatch\""))
        {
            break;
        }
        assert!(
            t2.elapsed() < Duration::from_secs(5),
            "auditd's log has no record of serial {serial}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ctl.status().unwrap().pid, auditd.id(), "sockwatch never takes the audit pid");
    eprintln!("recovery: auditd loaded its rules (-D) -> sockwatch's rules back in {recovered:?}");

    // augenrules loads the packaged rules file too: the same rules, each added
    // first on its list (-A), which the kernel does not refuse as duplicates of
    // the ones sockwatch loaded. One copy of each must be left, and it is the
    // file's: it stays when sockwatch exits.
    let ours_before = copies_of_ours();
    assert!(ours_before.iter().all(|&n| n == 1), "{ours_before:?}");
    let file = t.dir.join("50-sockwatch.rules");
    let printed =
        run(BIN, &["--config", "/dev/null", "rules", "print", "--socket", sock.to_str().unwrap()]);
    std::fs::write(&file, printed.stdout).unwrap();
    // A failed assertion below must not leave the file's copies loaded.
    let _unload = OnDrop(|| {
        run(
            BIN,
            &[
                "--config",
                "/dev/null",
                "rules",
                "remove",
                "--no-persist",
                "--socket",
                sock.to_str().unwrap(),
            ],
        );
    });
    let out = run("auditctl", &["-R", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t3 = Instant::now();
    while copies_of_ours() != ours_before {
        assert!(
            t3.elapsed() < Duration::from_secs(5),
            "rules loaded twice: {:?}; log:\n{}",
            copies_of_ours(),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "duplicates: the rules file loaded beside sockwatch's rules -> one copy each again in {:?}",
        t3.elapsed()
    );
    // The counts settle when the last copy goes; the log line follows it.
    d.wait_log("removed the extra copies", Duration::from_secs(2));
    still_detects(&d, &c, &sock);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(auditd.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    auditd.wait().unwrap();
    while ctl.status().unwrap().pid != 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (st, out) = d.stop();
    assert!(st.success(), "{out}");
    // The file's copies stay loaded: the connect rules (the io_uring rule is not
    // in the file, and was sockwatch's alone).
    let file_rules = String::from_utf8_lossy(&std::fs::read(&file).unwrap())
        .lines()
        .filter(|l| l.starts_with("-A"))
        .count();
    assert_eq!(copies_of_ours(), vec![1; file_rules], "{out}");
    let removed = run(
        BIN,
        &[
            "--config",
            "/dev/null",
            "rules",
            "remove",
            "--no-persist",
            "--socket",
            sock.to_str().unwrap(),
        ],
    );
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    // auditd's rules set the backlog limit; put it back as it was.
    ctl.set_backlog_limit(t.before.backlog_limit).unwrap();
    drop(c);
    t.end();
}

/// A child that is killed when the test ends, passed or failed.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// How many copies of each distinct rule with sockwatch's key are loaded.
fn copies_of_ours() -> Vec<usize> {
    let mut copies = std::collections::BTreeMap::<Vec<u8>, usize>::new();
    for rule in Control::open().unwrap().list_rules().unwrap() {
        if sockwatch::core::rules::carries_our_key(&rule) {
            *copies.entry(rule).or_default() += 1;
        }
    }
    copies.into_values().collect()
}

#[test]
fn unicast_mode_takes_the_audit_pid_and_gives_it_back() {
    if !privileged("--audit-mode unicast") {
        return;
    }
    let (t, _l, sock, d, c) = setup("unicast", &["--audit-mode", "unicast"]);
    let mut ctl = Control::open().unwrap();
    assert_eq!(ctl.status().unwrap().pid, d.child.id(), "registered as the audit daemon");
    still_detects(&d, &c, &sock);
    let serial = d.findings().last().unwrap()["audit"]["serial"].as_u64().unwrap();
    // The kernel no longer prints the records to its log.
    let kmsg = String::from_utf8_lossy(&run("dmesg", &[]).stdout).into_owned();
    assert!(
        !kmsg.contains(&format!(":{serial})")),
        "record {serial} was printed to the kernel log"
    );
    // A second one is refused while it holds the pid.
    let refused = run(
        BIN,
        &[
            "--config",
            "/dev/null",
            "run",
            "--no-rules",
            "--audit-mode",
            "unicast",
            "--socket",
            sock.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("another audit daemon is registered"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    assert_eq!(ctl.status().unwrap().pid, 0, "given back on exit");
    drop(c);
    t.end();
}

#[test]
fn lost_process_events_are_a_health_event() {
    if !privileged("lost process events") {
        return;
    }
    let (t, _l, sock, d, c) = setup("proc-lost", &[]);
    assert!(
        !d.log().contains("no process events"),
        "this test needs the process connector; log:\n{}",
        d.log()
    );
    // Stopped, sockwatch reads nothing while the host forks: the connector's
    // socket overflows (ENOBUFS) and the fork history is incomplete.
    let pid = nix::unistd::Pid::from_raw(d.child.id() as i32);
    // However this ends, sockwatch runs again: stopped, it would never exit.
    let _cont = OnDrop(|| {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
    });
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    // Its queue holds 8 MiB; a fork and an exit are two messages of about 768
    // bytes each as the kernel counts them: 15000 subshells overflow it.
    let forks = run("sh", &["-c", "i=0; while [ $i -lt 15000 ]; do ( : ); i=$((i+1)); done"]);
    assert!(forks.status.success());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    let h = wait_health(&d, "process_events_lost", Duration::from_secs(5));
    assert_eq!(h["level"], "warning");
    assert!(h["details"]["times"].as_u64().is_some_and(|n| n >= 1), "{h:#}");
    still_detects(&d, &c, &sock);
    finish(t, d, c);
}
