//! Root tests against the real kernel audit subsystem, with a simulated container:
//! a child moved into a cgroup named like Docker's, in its own mount namespace,
//! reaching the watched socket through a bind mount under another name.
//! Every test takes the audit lock and checks that it leaves audit as it found it.

mod common;

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn simulated_container_reaching_an_aliased_socket_is_reported() {
    if !privileged("simulated container end-to-end") {
        return;
    }
    let t = AuditTest::begin("priv");
    let dir = t.dir.clone();
    let real = dir.join("real.sock");
    let _listener = UnixListener::bind(&real).unwrap();
    // A socket file with no listener: connects are refused.
    let dead = dir.join("dead.sock");
    drop(UnixListener::bind(&dead).unwrap());
    // Watched before it exists.
    let late = dir.join("late.sock");
    // An unrelated socket that is named like the real thing.
    fs::create_dir_all(dir.join("decoy")).unwrap();
    let decoy = dir.join("decoy/docker.sock");
    let _decoy_listener = UnixListener::bind(&decoy).unwrap();
    let alias = dir.join("alias.sock");
    fs::write(&alias, b"").unwrap();

    // The socket is given through a symlinked directory, which must be resolved.
    let link = dir.join("link");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    let d = Daemon::start(
        &dir,
        &[
            "--socket",
            link.join("real.sock").to_str().unwrap(),
            "--socket",
            dead.to_str().unwrap(),
            "--socket",
            late.to_str().unwrap(),
        ],
    );
    assert!(d.log().contains(&format!("watching {}", real.display())), "{}", d.log());
    let c = FakeContainer::new();

    // Not findings: the host by the real name; the container to the decoy.
    assert!(
        run("socat", &["-u", "/dev/null", &format!("UNIX-CONNECT:{}", real.display())])
            .status
            .success()
    );
    assert!(c.sh(&connect_cmd(&decoy)).status.success());

    // Findings: the container through a bind mount under another name ...
    let out = c.sh(&format!(
        "mount --bind {} {} && {}",
        real.display(),
        alias.display(),
        connect_cmd(&alias)
    ));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let f = d.wait_finding("aliased connect", Duration::from_secs(5), |f| {
        f["socket"]["path"] == alias.to_str().unwrap()
    });
    assert_eq!(f["container"]["id"], c.id.as_str());
    assert_eq!(f["container"]["runtime"], "docker");
    assert_eq!(f["socket"]["watched"], real.to_str().unwrap());
    assert_eq!(f["process"]["comm"], "socat");
    assert_eq!(f["outcome"]["success"], true);
    eprintln!("latency (aliased connect): {:.1} ms", latency_ms(&f));

    // ... a refused connect, with its errno ...
    let _ = c.sh(&connect_cmd(&dead));
    let f = d.wait_finding("refused connect", Duration::from_secs(5), |f| {
        f["socket"]["watched"] == dead.to_str().unwrap()
    });
    assert_eq!(f["outcome"]["errno"], "ECONNREFUSED");
    assert_eq!(f["outcome"]["success"], false);

    // ... a denied one (mode 0600, uid 65534) ...
    fs::set_permissions(&real, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let _ =
        c.sh(&format!("setpriv --reuid 65534 --regid 65534 --clear-groups {}", connect_cmd(&real)));
    let f = d.wait_finding("denied connect", Duration::from_secs(5), |f| {
        f["outcome"]["errno"] == "EACCES"
    });
    assert_eq!(f["process"]["uid"], 65534);

    // ... the socket that did not exist at start-up ...
    let _late_listener = UnixListener::bind(&late).unwrap();
    let _ = c.sh(&connect_cmd(&late));
    let f = d.wait_finding("socket created after start-up", Duration::from_secs(5), |f| {
        f["socket"]["watched"] == late.to_str().unwrap()
    });
    assert_eq!(f["container"]["id"], c.id.as_str());

    // ... and the real socket after it was re-created with a new inode (bound
    // beside the old one and renamed over it, so the inode cannot be reused).
    let old_inode = f_inode(&real);
    let _listener2 = UnixListener::bind(dir.join("new.sock")).unwrap();
    fs::rename(dir.join("new.sock"), &real).unwrap();
    drop(_listener);
    assert_ne!(old_inode, f_inode(&real));
    let _ = c.sh(&connect_cmd(&real));
    let f = d.wait_finding("re-created socket", Duration::from_secs(5), |f| {
        f["socket"]["inode"] == f_inode(&real)
    });
    assert_eq!(f["socket"]["watched"], real.to_str().unwrap());

    let (status, log) = d.stop();
    assert!(status.success(), "exit status {status}; log:\n{log}");
    let findings = findings_in(&dir.join("findings.jsonl"));
    assert_eq!(findings.len(), 5, "exactly the five container connects: {findings:#?}");
    assert!(findings.iter().all(|f| f["container"]["id"] == c.id.as_str()));
    assert!(log.contains("host=1"), "the host connect was seen and skipped: {log}");
    drop(c);
    t.end();
}

fn f_inode(p: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap())
}

/// Builds a test client from tests/data/capture with `cc`, then has a simulated
/// container run it against a watched socket once per argument list; returns the
/// findings: one per run, all attributed to the container.
fn container_runs_client(tag: &str, source: &str, cflags: &[&str], runs: &[&str]) {
    let t = AuditTest::begin(tag);
    let dir = t.dir.clone();
    let client = dir.join(tag);
    let src = format!("{}/tests/data/capture/{source}", env!("CARGO_MANIFEST_DIR"));
    let mut args = vec!["-O1", "-o", client.to_str().unwrap(), &src];
    args.extend_from_slice(cflags);
    let cc = run("cc", &args);
    assert!(
        cc.status.success(),
        "building {source} (needs gcc, gcc-multilib, liburing-dev): {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let real = dir.join("real.sock");
    let _listener = UnixListener::bind(&real).unwrap();
    let d = Daemon::start(&dir, &["--socket", real.to_str().unwrap()]);
    let c = FakeContainer::new();
    for extra in runs {
        let out = c.sh(&format!("{} {} {extra}", client.display(), real.display()));
        assert!(out.status.success(), "{tag} {extra}: {}", String::from_utf8_lossy(&out.stdout));
    }
    let want = runs.len();
    d.wait_finding(&format!("{want} finding(s) for {tag}"), Duration::from_secs(5), |_| {
        d.findings().len() >= want
    });
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
    let findings = findings_in(&dir.join("findings.jsonl"));
    assert_eq!(findings.len(), want, "{findings:#?}");
    for f in &findings {
        assert_eq!(f["container"]["id"], c.id.as_str());
        assert_eq!(f["process"]["comm"], tag);
        assert_eq!(f["socket"]["watched"], real.to_str().unwrap());
    }
    drop(c);
    t.end();
}

#[test]
fn io_uring_connect_is_reported() {
    if !privileged("io_uring connect") {
        return;
    }
    container_runs_client("client_uring", "client_uring.c", &["-luring"], &[""]);
}

#[test]
fn thirty_two_bit_connect_and_socketcall_are_reported() {
    if !privileged("32-bit connects") {
        return;
    }
    container_runs_client("client32", "client.c", &["-m32"], &["", "socketcall"]);
}

#[test]
fn rules_that_were_there_before_are_left_in_place() {
    if !privileged("pre-existing rules") {
        return;
    }
    let t = AuditTest::begin("pre");
    let dir = t.dir.clone();
    let sock = dir.join("x.sock");
    let s = sock.to_str().unwrap();
    let rules_dir = dir.join("rules.d");
    let rd = rules_dir.to_str().unwrap();

    let out = run(BIN, &["rules", "install", "--socket", s, "--rules-dir", rd]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let loaded = sockwatch_rules_loaded();
    assert!(loaded >= 2, "at least the b64 connect and io_uring rules: {loaded}");
    // Idempotent: a second install adds nothing.
    let again = run(BIN, &["rules", "install", "--socket", s, "--no-persist"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already loaded"));
    assert_eq!(sockwatch_rules_loaded(), loaded);
    // The rules file is what `rules print` prints.
    let printed = run(BIN, &["rules", "print", "--socket", s]).stdout;
    assert_eq!(fs::read(rules_dir.join("50-sockwatch.rules")).unwrap(), printed);
    // status: rules loaded but audit may be off.
    let status = run(BIN, &["rules", "status", "--socket", s]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(!text.contains("MISSING"), "{text}");
    assert_eq!(status.status.success(), t.before.enabled >= 1, "{text}");

    let d = Daemon::start(&dir, &["--socket", s]);
    assert!(d.log().contains("0 rule(s) added by this run"), "{}", d.log());
    let (st, _) = d.stop();
    assert!(st.success());
    assert_eq!(
        sockwatch_rules_loaded(),
        loaded,
        "rules loaded before sockwatch started stay loaded"
    );

    let out = run(BIN, &["rules", "remove", "--socket", s, "--rules-dir", rd]);
    assert!(out.status.success());
    assert!(!rules_dir.join("50-sockwatch.rules").exists());
    let status = run(BIN, &["rules", "status", "--socket", s]);
    assert!(!status.status.success());
    assert!(String::from_utf8_lossy(&status.stdout).contains("MISSING"));

    // `rules install` raised the backlog limit, persistently by design; undo it.
    sockwatch::io::netlink::Control::open()
        .unwrap()
        .set_backlog_limit(t.before.backlog_limit)
        .unwrap();

    // --no-rules: runs on whatever is loaded, and loads nothing itself.
    let d = Daemon::start(&dir, &["--socket", s, "--no-rules"]);
    assert_eq!(sockwatch_rules_loaded(), 0);
    let (st, _) = d.stop();
    assert!(st.success());
    t.end();
}

#[test]
fn a_socket_with_a_space_is_loaded_live_but_never_written_to_a_rules_file() {
    if !privileged("a socket path with a space") {
        return;
    }
    let t = AuditTest::begin("space");
    let spaced = t.dir.join("a b");
    fs::create_dir_all(&spaced).unwrap();
    let sock = spaced.join("x.sock");
    let s = sock.to_str().unwrap();
    let rules_dir = t.dir.join("rules.d");
    let rd = rules_dir.to_str().unwrap();
    let base = ["--config", "/dev/null", "rules"];
    // Persisting is refused before anything is loaded.
    let out = run(BIN, &[&base[..], &["install", "--socket", s, "--rules-dir", rd]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sockwatch_rules_loaded(), 0);
    assert!(!rules_dir.exists());
    // Over netlink a path is bytes with a length: the rules load, and are the
    // socket's (status finds each of them loaded).
    let out = run(BIN, &[&base[..], &["install", "--socket", s, "--no-persist"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("path={s} ")));
    assert!(sockwatch_rules_loaded() >= 2);
    let status = run(BIN, &[&base[..], &["status", "--socket", s]].concat());
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(!text.contains("MISSING") && text.contains(&format!("path={s} ")), "{text}");
    let out = run(BIN, &[&base[..], &["remove", "--socket", s, "--no-persist"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sockwatch_rules_loaded(), 0);
    sockwatch::io::netlink::Control::open()
        .unwrap()
        .set_backlog_limit(t.before.backlog_limit)
        .unwrap();
    t.end();
}

#[test]
fn remove_all_unloads_every_rule_with_our_key_and_no_other() {
    if !privileged("rules remove --all") {
        return;
    }
    let t = AuditTest::begin("remove-all");
    let a = t.dir.join("a.sock");
    let b = t.dir.join("b.sock");
    for s in [&a, &b] {
        let out = run(
            BIN,
            &[
                "--config",
                "/dev/null",
                "rules",
                "install",
                "--no-persist",
                "--socket",
                s.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let ours = sockwatch_rules_loaded();
    // A rule of someone else's, on the same syscall, with another key.
    let mut other = sockwatch::core::rules::RuleSpec::Uring.bytes();
    let at = other.windows(9).position(|w| w == b"sockwatch").unwrap();
    other[at..at + 9].copy_from_slice(b"elsewhere");
    let mut ctl = sockwatch::io::netlink::Control::open().unwrap();
    ctl.add_rule(&other).unwrap();
    // Configured now: only a third socket; --all still takes a's and b's rules.
    // (On the command line, --socket and --all are refused together.)
    let c = t.dir.join("c.sock");
    let cfg = t.dir.join("c.toml");
    std::fs::write(&cfg, format!("sockets = [\"{}\"]\n", c.display())).unwrap();
    let out =
        run(BIN, &["--config", cfg.to_str().unwrap(), "rules", "remove", "--all", "--no-persist"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(said.lines().filter(|l| l.starts_with("removed: ")).count(), ours, "{said}");
    assert!(said.contains(a.to_str().unwrap()) && said.contains(b.to_str().unwrap()), "{said}");
    assert_eq!(sockwatch_rules_loaded(), 0);
    let listed = ctl.list_rules().unwrap();
    assert!(
        listed.iter().any(|r| sockwatch::core::rule_data::same(r, &other)),
        "someone else's rule stays"
    );
    ctl.del_rule(&other).unwrap();
    // Nothing left to remove is not an error.
    let again = run(BIN, &["--config", "/dev/null", "rules", "remove", "--all", "--no-persist"]);
    assert!(
        again.status.success()
            && String::from_utf8_lossy(&again.stdout).contains("no rule with key=sockwatch")
    );
    // --all belongs to remove only: a usage error anywhere else.
    let status_all = run(BIN, &["--config", "/dev/null", "rules", "status", "--all"]);
    assert_eq!(status_all.status.code(), Some(2));
    ctl.set_backlog_limit(t.before.backlog_limit).unwrap();
    t.end();
}

#[test]
fn a_never_rule_loaded_earlier_does_not_hide_connects() {
    if !privileged("never rule shadowing") {
        return;
    }
    let t = AuditTest::begin("never");
    let dir = t.dir.clone();
    let real = dir.join("real.sock");
    let _listener = UnixListener::bind(&real).unwrap();
    // `-a never,exit -S connect`, loaded first, as a host's noise filter might be.
    let mut never = netlink_packet_audit::rules::RuleMessage::new();
    never.flags = netlink_packet_audit::rules::RuleFlags::FilterExit;
    never.action = netlink_packet_audit::rules::RuleAction::Never;
    never.fields.push((
        netlink_packet_audit::rules::RuleField::Arch(0xc000_003e),
        netlink_packet_audit::rules::RuleFieldFlags::Equal,
    ));
    never.syscalls.set(42);
    let never = {
        use netlink_packet_core::Emitable;
        let mut raw = vec![0; never.buffer_len()];
        never.emit(&mut raw);
        raw
    };
    let mut ctl = sockwatch::io::netlink::Control::open().unwrap();
    ctl.add_rule(&never).unwrap();
    let d = Daemon::start(&dir, &["--socket", real.to_str().unwrap()]);
    let c = FakeContainer::new();
    let _ = c.sh(&connect_cmd(&real));
    let f = d.wait_finding("connect despite a never rule", Duration::from_secs(5), |_| true);
    assert_eq!(f["container"]["id"], c.id.as_str());
    let (st, _) = d.stop();
    ctl.del_rule(&never).unwrap();
    assert!(st.success());
    t.end();
}

#[test]
fn sd_notify_ready_and_stopping() {
    if !privileged("sd_notify") {
        return;
    }
    let t = AuditTest::begin("notify");
    let dir = t.dir.clone();
    let ns = dir.join("notify.sock");
    let rx = std::os::unix::net::UnixDatagram::bind(&ns).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let sock = dir.join("x.sock");
    let d = Daemon::start_with_env(
        &dir,
        &["--socket", sock.to_str().unwrap()],
        &[("NOTIFY_SOCKET", ns.to_str().unwrap())],
    );
    let mut buf = [0u8; 256];
    let n = rx.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    // READY comes only once rules are in and audit is on.
    let status = run(BIN, &["rules", "status", "--socket", sock.to_str().unwrap()]);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stdout));
    let (st, log) = d.stop_with(nix::sys::signal::Signal::SIGINT);
    assert!(st.success(), "SIGINT exits 0: {log}");
    let n = rx.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    t.end();
}

#[test]
fn disguised_and_unrecognised_containers_are_still_reported() {
    if !privileged("disguised and unrecognised containers") {
        return;
    }
    let t = AuditTest::begin("disguise");
    let dir = t.dir.clone();
    let real = dir.join("real.sock");
    let _listener = UnixListener::bind(&real).unwrap();
    // A workload that names itself like runc's init to pass as runtime set-up.
    let fake_runc = dir.join("runc:[2:INIT]");
    fs::copy("/usr/bin/socat", &fake_runc).unwrap();
    let d = Daemon::start(&dir, &["--socket", real.to_str().unwrap()]);
    let c = FakeContainer::new();
    let _ =
        c.sh(&format!("'{}' -u /dev/null UNIX-CONNECT:{}", fake_runc.display(), real.display()));
    let f = d.wait_finding("disguised as runc init", Duration::from_secs(5), |f| {
        f["process"]["comm"] == "runc:[2:INIT]"
    });
    assert_eq!(f["container"]["id"], c.id.as_str());

    // The client in the host's namespaces is host: no finding. (Before the next
    // connect, whose finding then proves this one was processed too.)
    assert!(
        run("socat", &["-u", "/dev/null", &format!("UNIX-CONNECT:{}", real.display())])
            .status
            .success()
    );
    // Nor is a host process that sits in a cgroup named like a Docker container's
    // (anyone with a delegated cgroup can name one so) but in the host's mount
    // namespace: no container frames itself that way.
    let framed = Command::new("sh")
        .args([
            "-c",
            &format!(
                "echo $$ > {}/cgroup.procs && {}; sleep 0.3",
                c.cgroup.display(),
                connect_cmd(&real)
            ),
        ])
        .output()
        .unwrap();
    assert!(framed.status.success(), "{}", String::from_utf8_lossy(&framed.stderr));

    // A container of a runtime sockwatch does not know: own mount and pid
    // namespaces, in a cgroup that names no container.
    let script = format!("{}; sleep 0.3", connect_cmd(&real));
    let out = Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let f = d.wait_finding("unrecognised container", Duration::from_secs(5), |f| {
        f["container"]["runtime"] == "unknown"
    });
    assert_eq!(f["container"]["id"], serde_json::Value::Null);
    assert_eq!(f["process"]["comm"], "socat");
    let (st, log) = d.stop();
    assert!(st.success());
    assert_eq!(d_findings(&dir).len(), 2, "{log}");
    assert!(log.contains("host=2"), "{log}");
    drop(c);
    t.end();
}

fn d_findings(dir: &Path) -> Vec<serde_json::Value> {
    findings_in(&dir.join("findings.jsonl"))
}

#[test]
fn a_full_disk_leaves_no_partial_line_and_the_finding_is_retried() {
    if !privileged("jsonl on a full disk") {
        return;
    }
    let t = AuditTest::begin("fulldisk");
    let dir = t.dir.clone();
    let small = dir.join("small");
    fs::create_dir_all(&small).unwrap();
    assert!(
        run("mount", &["-t", "tmpfs", "-o", "size=64k", "tmpfs", small.to_str().unwrap()])
            .status
            .success()
    );
    // Unmounted however the test ends.
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(small.clone());
    let jsonl = small.join("findings.jsonl");
    let real = dir.join("real.sock");
    let _listener = UnixListener::bind(&real).unwrap();
    let out = format!("--output=jsonl:{}", jsonl.display());
    let d = Daemon::start(&dir, &["--socket", real.to_str().unwrap(), &out]);
    let c = FakeContainer::new();
    let _ = c.sh(&connect_cmd(&real));
    let t0 = std::time::Instant::now();
    while fs::read(&jsonl).unwrap_or_default().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(5), "no first finding: {}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Fill the file system. The file's last page may still have room for a line
    // or two; connect until a write fails.
    let filler = small.join("filler");
    let _ = run("dd", &["if=/dev/zero", &format!("of={}", filler.display()), "bs=1k", "count=64"]);
    assert_eq!(
        nix::sys::statvfs::statvfs(&small).unwrap().blocks_available(),
        0,
        "the tmpfs is full"
    );
    let lines = || fs::read_to_string(&jsonl).unwrap().lines().count();
    let mut written = lines();
    let mut size = fs::metadata(&jsonl).unwrap().len();
    for _ in 0..10 {
        let _ = c.sh(&connect_cmd(&real));
        let t0 = std::time::Instant::now();
        while lines() == written && !d.log().contains("will retry") {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "neither a line nor an error: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        if d.log().contains("will retry") {
            break;
        }
        written = lines();
        size = fs::metadata(&jsonl).unwrap().len();
    }
    assert!(d.log().contains("will retry"), "the disk never filled up");
    assert_eq!(fs::metadata(&jsonl).unwrap().len(), size, "no partial line was left");
    // Space again: the queued finding is written by the retry timer.
    fs::remove_file(&filler).unwrap();
    let t0 = std::time::Instant::now();
    while lines() < written + 1 {
        assert!(t0.elapsed() < Duration::from_secs(12), "the finding was not retried: {}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    let text = fs::read_to_string(&jsonl).unwrap();
    assert_eq!(text.lines().count(), written + 1);
    assert!(
        text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "whole lines only: {text}"
    );
    assert!(log.contains("output_errors=") && !log.contains("output_errors=0 "), "{log}");
    drop(_unmount);
    drop(c);
    t.end();
}

#[test]
fn permission_changes_and_replaced_sockets_are_findings() {
    if !privileged("fanotify on the socket files") {
        return;
    }
    let t = AuditTest::begin("fanotify");
    let dir = t.dir.clone();
    let real = dir.join("real.sock");
    let listener = UnixListener::bind(&real).unwrap();
    let d = Daemon::start(&dir, &["--socket", real.to_str().unwrap()]);
    let find = |sig: &str, pred: &dyn Fn(&serde_json::Value) -> bool| {
        let t0 = std::time::Instant::now();
        loop {
            if let Some(f) =
                records_in(&d.findings).into_iter().find(|f| f["signature"]["id"] == sig && pred(f))
            {
                return f;
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "no {sig} finding; log:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // chmod to world-writable: SW-1001 at severity 3, with old and new mode and who.
    assert!(run("chmod", &["0666", real.to_str().unwrap()]).status.success());
    let f = find("SW-1001", &|f| f["operation"] == "chmod");
    assert_eq!(f["signature"]["severity"], 3);
    assert_eq!(f["details"]["new"]["mode"], "0666");
    assert_eq!(f["source"], "fanotify");
    // chmod has usually exited when /proc is read: its pid is known, its name may not be.
    assert!(f["process"]["pid"].as_u64().is_some(), "{f:#}");
    assert!(f["audit"].is_null());
    // chown: SW-1001 at severity 2 (it was world-writable already).
    assert!(run("chown", &["65534", real.to_str().unwrap()]).status.success());
    let f = find("SW-1001", &|f| f["operation"] == "chown");
    assert_eq!(f["signature"]["severity"], 2);
    assert_eq!(
        (f["details"]["old"]["uid"].as_u64(), f["details"]["new"]["uid"].as_u64()),
        (Some(0), Some(65534))
    );
    // Replaced by a process that is not a runtime: SW-1002.
    drop(listener);
    let out = run(
        "python3",
        &[
            "-c",
            &format!(
                "import os,socket; os.unlink({p:?}); socket.socket(socket.AF_UNIX).bind({p:?})",
                p = real.to_str().unwrap()
            ),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let f = find("SW-1002", &|f| f["operation"] == "create");
    assert_eq!(f["signature"]["severity"], 3);
    assert!(f["process"]["pid"].as_u64().is_some(), "{f:#}");
    find("SW-1002", &|f| f["operation"] == "delete");
    // And matching follows the new socket at once.
    let c = FakeContainer::new();
    let _ = c.sh(&connect_cmd(&real));
    let f = d.wait_finding("connect to the new socket", Duration::from_secs(5), |f| {
        f["signature"]["id"] == "TRC-1019"
    });
    assert_eq!(
        f["socket"]["inode"],
        std::os::unix::fs::MetadataExt::ino(&fs::metadata(&real).unwrap())
    );
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    drop(c);
    t.end();
}

#[test]
fn doctor_says_what_works_and_fails_when_detection_cannot() {
    if !privileged("doctor") {
        return;
    }
    let out = run(BIN, &["--config", "/dev/null", "doctor", "--output", "stdout"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "audit      enabled=",
        "multicast (AUDIT_NLGRP_READLOG): readable",
        "fanotify   FID-mode group: ok",
        "/run/docker.sock: directory events, permission changes",
        "open attempts on socket files: not reported",
        "cgroup     ",
        "socket     /run/docker.sock",
        "runtimes   ",
        "output     stdout: ok",
        "result     detection can work",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // Every known runtime socket, with its runtime; the command line's audit=;
    // x32 as the kernel answers a direct call here.
    for line in [
        "socket     /run/docker.sock (docker)",
        "socket     /run/docker/containerd/containerd.sock (containerd (docker's))",
        "socket     /run/crio/crio.sock (crio)",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap();
    let audit = cmdline.split_whitespace().filter_map(|w| w.strip_prefix("audit=")).next_back();
    let want = match audit {
        Some(v) if v == "1" || v == "on" => {
            format!("cmdline    audit={v}: every process is audited from boot")
        }
        Some(v) => format!("cmdline    audit={v}: a process that started before"),
        None => "cmdline    no audit= setting: a process that started before".to_string(),
    };
    assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    // SAFETY: x32's getpid takes no arguments.
    let x32 = unsafe { nix::libc::syscall(0x4000_0000 | 39) } >= 0;
    let want = if x32 { "x32        ENABLED" } else { "x32        disabled" };
    assert!(text.contains(want), "missing {want:?} in:\n{text}");
    // Without the privileges audit needs, detection cannot work: exit 1, and why.
    let out = run(
        "setpriv",
        &[
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            BIN,
            "--config",
            "/dev/null",
            "doctor",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("DETECTION CANNOT WORK") && text.contains("audit"), "{text}");
}

#[test]
fn a_declared_socket_owner_may_recreate_the_socket() {
    if !privileged("--socket-owner") || !have("/usr/bin/python3.11", "--socket-owner") {
        return;
    }
    let t = AuditTest::begin("owner");
    let dir = t.dir.clone();
    let real = dir.join("real.sock");
    drop(UnixListener::bind(&real).unwrap());
    let d =
        Daemon::start(&dir, &["--socket", real.to_str().unwrap(), "--socket-owner", "python3.11"]);
    // The declared owner (a root-owned system binary) re-creates the socket: no
    // finding. It stays a moment, as a runtime does: a process already gone
    // proves nothing about who it was.
    let out = run(
        "/usr/bin/python3.11",
        &[
            "-c",
            &format!(
                "import os,socket,time; os.unlink({p:?}); socket.socket(socket.AF_UNIX).bind({p:?}); time.sleep(0.5)",
                p = real.to_str().unwrap()
            ),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The re-creation was seen (a health event), and is no finding.
    let t0 = std::time::Instant::now();
    while !records_in(&d.findings).iter().any(|r| r["event"] == "socket_changed") {
        assert!(t0.elapsed() < Duration::from_secs(5), "{}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    assert!(
        records_in(&dir.join("findings.jsonl")).iter().all(|r| r["signature"]["id"] != "SW-1002"),
        "{log}"
    );
    t.end();
}

#[test]
fn hard_links_and_a_recreated_directory_do_not_blind_the_file_watch() {
    if !privileged("fanotify: hard links and directories") {
        return;
    }
    let t = AuditTest::begin("fanodir");
    let dir = t.dir.clone();
    let sub = dir.join("sub");
    fs::create_dir_all(&sub).unwrap();
    let real = sub.join("real.sock");
    let _l = UnixListener::bind(&real).unwrap();
    let d = Daemon::start(&dir, &["--socket", real.to_str().unwrap()]);
    let wait = |what: &str, pred: &dyn Fn(&serde_json::Value) -> bool| {
        let t0 = std::time::Instant::now();
        while !records_in(&d.findings).iter().any(pred) {
            assert!(t0.elapsed() < Duration::from_secs(5), "no {what}; log:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // A chmod through a hard link in another directory is the same socket.
    let hl = dir.join("hl");
    fs::hard_link(&real, &hl).unwrap();
    assert!(run("chmod", &["0600", hl.to_str().unwrap()]).status.success());
    wait("SW-1001 through a hard link", &|f| {
        f["signature"]["id"] == "SW-1001" && f["details"]["new"]["mode"] == "0600"
    });
    // The directory is moved away and made anew, and a socket bound in it: seen.
    fs::rename(&sub, dir.join("sub.old")).unwrap();
    fs::create_dir(&sub).unwrap();
    let out = run(
        "python3",
        &[
            "-c",
            &format!(
                "import socket; socket.socket(socket.AF_UNIX).bind({:?})",
                real.to_str().unwrap()
            ),
        ],
    );
    assert!(out.status.success());
    wait("SW-1002 in the new directory", &|f| {
        f["signature"]["id"] == "SW-1002" && f["operation"] == "create"
    });
    // And a chmod on the new socket is seen too (the new inode was marked).
    assert!(run("chmod", &["0666", real.to_str().unwrap()]).status.success());
    wait("SW-1001 on the new socket", &|f| {
        f["signature"]["id"] == "SW-1001" && f["details"]["new"]["mode"] == "0666"
    });
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    t.end();
}
