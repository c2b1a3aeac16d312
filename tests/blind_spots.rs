//! What leaves audit blind without a word, with a real dockerd: a `never` rule on
//! the task list (reported; removed with --remove-task-never, naming the
//! containers started while it was loaded), and the default socket set (Docker's
//! own containerd socket; a runtime's socket whose directory appears after
//! start-up, a user's rootless socket).

mod common;

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::docker::*;
use common::*;

/// `-a never,task` loaded for the life of this value, deleted however the test
/// ends: a host left with it would audit no new task at all.
struct TaskNever;
impl TaskNever {
    fn load() -> TaskNever {
        let out = run("auditctl", &["-a", "never,task"]);
        assert!(
            out.status.success(),
            "auditctl -a never,task: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TaskNever
    }
}
impl Drop for TaskNever {
    fn drop(&mut self) {
        while run("auditctl", &["-d", "never,task"]).status.success() {}
    }
}

fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn health(d: &Daemon, event: &str) -> Vec<serde_json::Value> {
    records(&d.findings)
        .into_iter()
        .filter(|r| r["kind"] == "health" && r["event"] == event)
        .collect()
}

fn wait_health(d: &Daemon, event: &str, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
    let t0 = Instant::now();
    loop {
        let h = health(d, event);
        if h.len() >= n {
            return h;
        }
        assert!(
            t0.elapsed() < timeout,
            "fewer than {n} {event} health event(s) within {timeout:?}; log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn trc_for(d: &Daemon, id: &str) -> usize {
    d.findings()
        .iter()
        .filter(|f| f["signature"]["id"] == "TRC-1019" && f["container"]["id"] == id)
        .count()
}

/// The never-rule tests delete every `-a never,task` rule when they end: on a
/// host that has one of its own they would not leave it as found.
fn host_has_no_never_rule(what: &str) -> bool {
    if never_rules_loaded() == 0 {
        return true;
    }
    let why = "this host loads a -a never,task rule of its own, which the test would remove";
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{what} cannot run under CI=true: {why}"
    );
    skip(what, why);
    false
}

fn never_rules_loaded() -> usize {
    let out = run("auditctl", &["-l"]);
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("-a never,task")).count()
}

/// What both never-rule tests need first: root, auditctl and dockerd (or a
/// one-line skip), the audit lock, a host without a never rule of its own, and a
/// socket to watch (its listener, and its path).
fn never_rule_setup(what: &str, tag: &str) -> Option<(AuditTest, UnixListener, String)> {
    if !privileged(what) || !have("/usr/sbin/auditctl", what) || !docker_ready() {
        return None;
    }
    let t = AuditTest::begin(tag);
    if !host_has_no_never_rule(what) {
        t.end();
        return None;
    }
    let sock = t.dir.join("real.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let path = sock.to_str().unwrap().to_string();
    Some((t, listener, path))
}

#[test]
fn a_task_list_never_rule_is_reported_and_blinds_detection() {
    let Some((t, _l, s)) = never_rule_setup("task-list never rule", "task-never") else { return };
    let s = s.as_str();
    let d = Daemon::start(&t.dir, &["--socket", s]);
    assert!(health(&d, "audit_task_never").is_empty(), "none loaded at start");

    let t0 = Instant::now();
    let never = TaskNever::load();
    let h = wait_health(&d, "audit_task_never", 1, Duration::from_secs(5)).remove(0);
    let noticed = t0.elapsed();
    assert_eq!(h["level"], "error");
    assert_eq!(h["details"]["removed"], false);
    assert_eq!(h["details"]["rules"], serde_json::json!(["-a never,task"]));
    assert!(h["message"].as_str().unwrap().contains("10-no-audit.rules"), "{h:#}");

    // What the rule does: five clients in a container created while it is loaded
    // connect, and not one is seen.
    let vol = format!("{s}:/s.sock");
    let blind = docker_run(
        &["-v", &vol],
        "for i in 1 2 3 4 5; do socat -u /dev/null UNIX-CONNECT:/s.sock || exit 1; done",
    );
    let _b = Removed(blind.clone());
    assert_eq!(
        String::from_utf8_lossy(&run("docker", &["wait", &blind]).stdout).trim(),
        "0",
        "the five connects worked"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(trc_for(&d, &blind), 0, "a task created under the never rule has no audit context");

    // rules status and doctor say so, and fail.
    let st = run(BIN, &["--config", "/dev/null", "rules", "status", "--socket", s]);
    let out = String::from_utf8_lossy(&st.stdout);
    assert_eq!(st.status.code(), Some(1), "{out}");
    assert!(out.contains("BLIND:   -a never,task"), "{out}");
    let doc = run(BIN, &["--config", "/dev/null", "doctor", "--socket", s]);
    let out = String::from_utf8_lossy(&doc.stdout);
    assert_eq!(doc.status.code(), Some(1), "{out}");
    assert!(
        out.contains("DETECTION CANNOT WORK")
            && out.contains("-a never,task")
            && out.contains("10-no-audit.rules"),
        "{out}"
    );

    // Gone: the next container is seen again.
    drop(never);
    let seen = docker_run(&["-v", &vol], "socat -u /dev/null UNIX-CONNECT:/s.sock");
    let _s = Removed(seen.clone());
    d.wait_finding("a container after the never rule went", Duration::from_secs(15), |f| {
        f["container"]["id"] == seen.as_str()
    });
    eprintln!(
        "task-never: reported {noticed:?} after auditctl -a never,task; 0 of 5 connects seen while it was loaded; 1 of 1 after"
    );
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
    t.end();
}

#[test]
fn remove_task_never_deletes_the_rule_each_time_and_names_the_containers_started_under_it() {
    let Some((t, _l, s)) = never_rule_setup("--remove-task-never", "remove-never") else { return };
    let s = s.as_str();
    let vol = format!("{s}:/s.sock");
    let never = TaskNever::load();
    // A container started under the rule whose own process (exec: the same task)
    // connects later, after sockwatch has removed the rule.
    let under = docker_run(&["-v", &vol], "sleep 6; exec socat -u /dev/null UNIX-CONNECT:/s.sock");
    let _u = Removed(under.clone());

    let d = Daemon::start(&t.dir, &["--socket", s, "--remove-task-never"]);
    let h = wait_health(&d, "audit_task_never", 1, Duration::from_secs(5)).remove(0);
    assert_eq!(h["level"], "warning");
    assert_eq!(h["details"]["removed"], true);
    assert_eq!(never_rules_loaded(), 0, "removed");
    let named: Vec<&str> = h["details"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(
        named.contains(&under.as_str()),
        "the container started under the rule is named: {h:#}"
    );

    // Its process stays unaudited; a process started in it now is seen.
    assert_eq!(String::from_utf8_lossy(&run("docker", &["wait", &under]).stdout).trim(), "0");
    let exec_id = docker_run(&["-v", &vol], "socat -u /dev/null UNIX-CONNECT:/s.sock");
    let _e = Removed(exec_id.clone());
    d.wait_finding("a container started after the removal", Duration::from_secs(15), |f| {
        f["container"]["id"] == exec_id.as_str()
    });
    assert_eq!(trc_for(&d, &under), 0, "the task created under the rule stayed unaudited");

    // An augenrules reload loads it again: removed again, with a second event.
    let t0 = Instant::now();
    let again = TaskNever::load();
    let h2 = wait_health(&d, "audit_task_never", 2, Duration::from_secs(5)).remove(1);
    let took = t0.elapsed();
    assert_eq!(h2["details"]["removed"], true);
    assert_eq!(never_rules_loaded(), 0);
    drop(again);
    eprintln!(
        "remove-task-never: removed at start naming {} container(s); re-loaded rule removed again in {took:?}",
        named.len()
    );
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
    // Before the lock goes: the next test may load a never rule of its own.
    drop(never);
    t.end();
}

/// A user's runtime directory made for the test: unmounted and removed however
/// the test ends.
struct Unmounted(PathBuf);
impl Drop for Unmounted {
    fn drop(&mut self) {
        while run("umount", &[self.0.to_str().unwrap()]).status.success() {}
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A directory made for the test under /run, removed with what is in it.
struct MadeDir(PathBuf);
impl Drop for MadeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rule_loaded_for(path: &str) -> bool {
    let out = run("auditctl", &["-l"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.contains(&format!("path={path} ")) && l.contains("key=sockwatch"))
}

#[test]
fn the_default_set_watches_every_runtime_socket_and_those_that_appear() {
    if !privileged("default socket set")
        || !have("/usr/sbin/auditctl", "default socket set")
        || !docker_ready()
    {
        return;
    }
    let docker_containerd = "/run/docker/containerd/containerd.sock";
    // The known socket to create: one whose directory this host does not have.
    let Some(later) = [
        "/run/crio/crio.sock",
        "/run/buildkit/buildkitd.sock",
        "/run/k3s/containerd/containerd.sock",
    ]
    .into_iter()
    .find(|p| !Path::new(p).parent().unwrap().exists()) else {
        panic!(
            "every candidate runtime directory exists on this host; cannot test a socket that appears later"
        );
    };
    let t = AuditTest::begin("default-set");
    let d = Daemon::start(&t.dir, &[]);
    for p in [
        "/run/docker.sock",
        "/run/containerd/containerd.sock",
        docker_containerd,
        "/run/crio/crio.sock",
        "/run/podman/podman.sock",
    ] {
        assert!(
            d.log().contains(&format!("watching {p} ")),
            "{p} is in the default set; log:\n{}",
            d.log()
        );
    }

    // Docker's own containerd, reached from a container.
    assert!(
        Path::new(docker_containerd).exists(),
        "dockerd runs its own containerd here (setup-docker.sh starts dockerd without a system containerd)"
    );
    let vol = format!("{docker_containerd}:/c.sock");
    let c = docker_run(&["-v", &vol], "socat -u /dev/null UNIX-CONNECT:/c.sock; sleep 1");
    let _c = Removed(c.clone());
    let f =
        d.wait_finding("a container reaching Docker's containerd", Duration::from_secs(15), |f| {
            f["container"]["id"] == c.as_str()
        });
    assert_eq!(f["socket"]["watched"], docker_containerd);
    assert_eq!(f["socket"]["runtime"], "containerd (docker's)");

    // A runtime's directory and socket created after start-up: rules within 1 s.
    let dir = Path::new(later).parent().unwrap();
    let _made = MadeDir(dir.to_path_buf());
    let t0 = Instant::now();
    std::fs::create_dir_all(dir).unwrap();
    let _listener = UnixListener::bind(later).unwrap();
    while !rule_loaded_for(later) {
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "no rule for {later} within 1 s of its directory appearing; log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let ruled = t0.elapsed();
    let t_w = Instant::now();
    while !health(&d, "socket_watched").iter().any(|w| w["details"]["socket"] == later) {
        assert!(
            t_w.elapsed() < Duration::from_secs(2),
            "no socket_watched for {later}; log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let vol = format!("{later}:/r.sock");
    let r = docker_run(&["-v", &vol], "socat -u /dev/null UNIX-CONNECT:/r.sock; sleep 1");
    let _r = Removed(r.clone());
    let f = d.wait_finding(
        "a container reaching a socket created after start-up",
        Duration::from_secs(15),
        |f| f["container"]["id"] == r.as_str(),
    );
    assert_eq!(f["socket"]["watched"], later);
    assert!(f["socket"]["runtime"].as_str().is_some(), "{f:#}");

    // A user logs in: logind makes /run/user/UID and mounts a tmpfs on it. Their
    // rootless Docker socket is watched on the tmpfs (a rule placed on the
    // directory underneath would never fire), and again after a logout (the
    // unmount drops the rule) and a new login.
    let user_run = Path::new("/run/user");
    let _user_run = (!user_run.exists()).then(|| MadeDir(user_run.to_path_buf()));
    let uid = (4000..5000u32).find(|u| !user_run.join(u.to_string()).exists()).expect("a free uid");
    let home = user_run.join(uid.to_string());
    let _home = Unmounted(home.clone());
    let rootless = home.join("docker.sock");
    let rootless_s = rootless.to_str().unwrap().to_string();
    let mut user_ruled = Vec::new();
    let mut rootless_ids = Vec::new();
    for login in 1..=2 {
        let t1 = Instant::now();
        std::fs::create_dir_all(&home).unwrap();
        assert!(
            run(
                "mount",
                &["-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", home.to_str().unwrap()]
            )
            .status
            .success()
        );
        while !rule_loaded_for(&rootless_s) {
            assert!(
                t1.elapsed() < Duration::from_secs(1),
                "login {login}: no rule for {rootless_s} within 1 s; log:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        user_ruled.push(t1.elapsed());
        let listener = UnixListener::bind(&rootless).unwrap();
        let vol = format!("{rootless_s}:/u.sock");
        let u = docker_run(&["-v", &vol], "socat -u /dev/null UNIX-CONNECT:/u.sock; sleep 1");
        rootless_ids.push(Removed(u.clone()));
        let f = d.wait_finding(
            &format!("login {login}: a container reaching a rootless Docker socket"),
            Duration::from_secs(15),
            |f| f["container"]["id"] == u.as_str(),
        );
        assert_eq!(f["socket"]["runtime"], "docker (rootless)");
        drop(listener);
        // Logout: logind unmounts the tmpfs and removes the directory.
        assert!(run("umount", &[home.to_str().unwrap()]).status.success());
        std::fs::remove_dir(&home).unwrap();
        let t2 = Instant::now();
        while rule_loaded_for(&rootless_s) {
            assert!(
                t2.elapsed() < Duration::from_secs(2),
                "login {login}: the rule outlived the logout; log:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert!(
        !d.log().contains("had been removed; loaded them again"),
        "a logout is not a removal to undo: {}",
        d.log()
    );

    // Docker's own traffic to its sockets (dockerd to its containerd, the shims)
    // made no finding: every one is from the three containers.
    for f in d.findings() {
        let id = f["container"]["id"].as_str().unwrap_or_default();
        let ours =
            [&c, &r].into_iter().chain(rootless_ids.iter().map(|x| &x.0)).any(|x| x.as_str() == id);
        assert!(f["signature"]["id"] != "TRC-1019" || ours, "unexpected finding: {f:#}");
    }
    eprintln!(
        "default set: rules for {later} {ruled:?} after its directory appeared; for /run/user/{uid}/docker.sock {user_ruled:?} after each of two logins (mkdir, then a tmpfs)"
    );
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
    drop(_listener);
    drop(_made);
    drop(_home);
    drop(_user_run);
    t.end();
}

#[test]
fn audit_switched_on_late_names_the_containers_already_running() {
    if !privileged("audit enabled late") || !docker_ready() {
        return;
    }
    let t = AuditTest::begin("late");
    let sock = t.dir.join("real.sock");
    let _l = UnixListener::bind(&sock).unwrap();
    let running = docker_run(&[], "sleep 60");
    let _r = Removed(running.clone());
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap();
    let audit_on_cmdline = cmdline
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("audit="))
        .next_back()
        .is_some_and(|v| v == "1" || v == "on");
    let was_off = t.before.enabled == 0;
    let d = Daemon::start(&t.dir, &["--socket", sock.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(300));
    let late = health(&d, "audit_enabled_late");
    if was_off && !audit_on_cmdline {
        assert_eq!(late.len(), 1, "{late:#?}\n{}", d.log());
        let h = &late[0];
        assert_eq!(h["level"], "warning");
        assert_eq!(
            h["details"]["cmdline_audit"],
            cmdline
                .split_whitespace()
                .filter_map(|w| w.strip_prefix("audit="))
                .next_back()
                .map_or(serde_json::Value::Null, |v| v.into())
        );
        let c = h["details"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == running.as_str())
            .unwrap_or_else(|| panic!("the running container is named: {h:#}"));
        assert_eq!(c["runtime"], "docker");
        assert!(c["processes"].as_u64().is_some_and(|n| n >= 1), "{c}");
        assert!(
            c["name"].as_str().is_some_and(|n| !n.is_empty()),
            "named from Docker's state: {c}"
        );
        assert!(h["message"].as_str().unwrap().contains("audit=1"), "{h:#}");
    } else {
        // Booted with audit=1, or audit was on already: nothing to warn about.
        assert!(late.is_empty(), "{late:#?}");
    }
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
    t.end();
}

#[test]
fn a_users_symlink_in_their_runtime_directory_changes_nothing() {
    if !privileged("rootless socket symlink") {
        return;
    }
    use std::os::unix::ffi::OsStrExt;
    let user_run = Path::new("/run/user");
    let _user_run = (!user_run.exists()).then(|| MadeDir(user_run.to_path_buf()));
    let uid = (5000..6000u32).find(|u| !user_run.join(u.to_string()).exists()).expect("a free uid");
    let home = user_run.join(uid.to_string());
    let _home = MadeDir(home.clone());
    std::fs::create_dir_all(&home).unwrap();
    // A name that is not UTF-8, and a directory elsewhere, behind the known names.
    let target =
        std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/sockwatch-\xff-target"));
    std::fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, home.join("docker.sock")).unwrap();
    std::os::unix::fs::symlink("/etc", home.join("podman")).unwrap();
    let doc = run(BIN, &["--config", "/dev/null", "doctor"]);
    let out = String::from_utf8_lossy(&doc.stdout);
    let err = String::from_utf8_lossy(&doc.stderr);
    let _ = std::fs::remove_file(&target);
    assert!(
        !err.contains("not UTF-8") && !out.contains("DETECTION CANNOT WORK: socket"),
        "{out}{err}"
    );
    assert!(
        out.contains(&format!(
            "socket     /run/user/{uid}/docker.sock (docker (rootless)): WARNING: NOT A SOCKET"
        )),
        "{out}"
    );
    assert!(!out.contains("/etc/podman.sock"), "{out}");
    let print = run(BIN, &["--config", "/dev/null", "rules", "print"]);
    assert!(print.status.success(), "{}", String::from_utf8_lossy(&print.stderr));
}
