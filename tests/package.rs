//! The distro package and the service's sandbox, on the real host (root):
//!
//! - sockwatch works under exactly the unit's CapabilityBoundingSet,
//!   NoNewPrivileges and RestrictAddressFamilies, every system call it makes is
//!   in the unit's SystemCallFilter, and each capability kept is needed (without
//!   it, something specific breaks);
//! - `packaging/build.sh` builds a .deb that lintian finds no error in, that
//!   installs its files where Debian policy puts them, runs, passes
//!   `systemd-analyze verify`, and purges without leaving a file or a rule.
//!
//! Both change audit state (rules, the backlog limit), so both hold the audit
//! test lock and check the state is as they found it.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every value of `key=` in the unit, in order, one entry per line.
fn unit_lines(unit: &str, key: &str) -> Vec<String> {
    unit.lines().filter_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_string).collect()
}

/// The system calls of a systemd filter list (`@group` names expanded
/// recursively by systemd-analyze itself, so the test uses systemd's tables).
fn expand(items: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for item in items.split_whitespace() {
        if let Some(group) = item.strip_prefix('@') {
            let listing =
                run("systemd-analyze", &["syscall-filter", "--no-pager", &format!("@{group}")]);
            assert!(listing.status.success(), "systemd-analyze syscall-filter @{group}");
            for l in String::from_utf8_lossy(&listing.stdout).lines().skip(1) {
                let l = l.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                if l.starts_with('@') {
                    out.extend(expand(l));
                } else {
                    out.insert(l.to_string());
                }
            }
        } else {
            out.insert(item.to_string());
        }
    }
    out
}

/// What the unit's SystemCallFilter= lines allow: allow-lists add, `~` lists
/// take away, in order, as systemd applies them.
fn allowed_syscalls(unit: &str) -> BTreeSet<String> {
    let mut allowed = BTreeSet::new();
    for line in unit_lines(unit, "SystemCallFilter") {
        match line.strip_prefix('~') {
            Some(deny) => {
                for s in expand(deny) {
                    allowed.remove(&s);
                }
            }
            None => allowed.extend(expand(&line)),
        }
    }
    allowed
}

/// setpriv's --bounding-set argument for `caps` (CAP_X names), less `without`.
fn bounding(caps: &[String], without: Option<&str>) -> String {
    let kept: Vec<String> = caps
        .iter()
        .filter(|c| Some(c.as_str()) != without)
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    format!("-all,{}", kept.join(","))
}

/// The system calls and socket families in an `strace -f` log, from the moment
/// `exe` was executed (what setpriv did before is not sockwatch's).
fn traced(log: &str, exe: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let start = format!("execve(\"{exe}\"");
    let mut lines = log.lines().skip_while(|l| !l.contains(&start));
    lines.next().unwrap_or_else(|| panic!("strace never saw {exe} executed:\n{log}"));
    let (mut calls, mut families) = (BTreeSet::new(), BTreeSet::new());
    for l in lines {
        // "PID name(args) = ret"; resumed calls were counted when they began.
        let Some(rest) = l.split_once(' ').map(|(_, r)| r.trim_start()) else { continue };
        if rest.starts_with('<') || rest.starts_with("---") || rest.starts_with("+++") {
            continue;
        }
        let Some((name, args)) = rest.split_once('(') else { continue };
        if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.is_empty() {
            calls.insert(name.to_string());
            if name == "socket" || name == "socketpair" {
                families.insert(args.split([',', ')']).next().unwrap_or("").to_string());
            }
        }
    }
    (calls, families)
}

/// The threads other than `main` that called fdatasync(2) and saw it succeed.
fn synced_by(log: &str, main: u32) -> BTreeSet<u32> {
    let mut started = BTreeSet::new();
    let mut ok = BTreeSet::new();
    for l in log.lines() {
        let Some((pid, rest)) = l.split_once(' ') else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        let rest = rest.trim_start();
        if pid == main {
            continue;
        }
        let whole = rest.starts_with("fdatasync(");
        let resumed = rest.starts_with("<... fdatasync resumed>");
        if whole && rest.contains("<unfinished") {
            started.insert(pid);
        } else if (whole || (resumed && started.contains(&pid))) && rest.ends_with("= 0") {
            ok.insert(pid);
        }
    }
    ok
}

/// The pid of the one process strace (pid `tracer`) started.
fn tracee(tracer: u32) -> u32 {
    let children =
        std::fs::read_to_string(format!("/proc/{tracer}/task/{tracer}/children")).unwrap();
    children.split_whitespace().next().and_then(|p| p.parse().ok()).expect("strace has a child")
}

fn wait_record(
    d: &Daemon,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let t0 = std::time::Instant::now();
    loop {
        if let Some(f) = records_in(&d.findings).into_iter().find(|f| pred(f)) {
            return f;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no record for {what}; records: {:#?}\nlog:\n{}",
            records_in(&d.findings),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a cgroup (v2) or its v1 freezer twin says every task is frozen,
/// within a second.
fn frozen(cgroup: &Path) -> bool {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_secs(1) {
        let events = std::fs::read_to_string(cgroup.join("cgroup.events")).unwrap_or_default();
        if events.lines().any(|l| l == "frozen 1") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// A client of another uid (nobody) that connects and stays connected until
/// killed, or for 5 s (timeout's SIGTERM, 124); the script prints its exit
/// status (137: SIGKILL).
fn stay_connected(sock: &Path) -> String {
    format!(
        "timeout 5 setpriv --reuid 65534 --regid 65534 --clear-groups socat -u UNIX-CONNECT:{} STDOUT & p=$!; wait $p; echo rc=$?",
        sock.display()
    )
}

/// chmod run as a child of the test: its pid is what a SW-1001 finding must name.
fn chmod(path: &Path) -> u32 {
    let mut c = Command::new("chmod").arg("0666").arg(path).spawn().unwrap();
    let pid = c.id();
    assert!(c.wait().unwrap().success());
    pid
}

#[test]
fn the_service_sandbox_is_enough_and_each_capability_is_needed() {
    if !privileged("the service's sandbox")
        || !have("/usr/bin/strace", "the service's sandbox")
        || !have("/usr/bin/setpriv", "the service's sandbox")
        || !have("/usr/bin/systemd-analyze", "the service's sandbox")
        || !have("/usr/bin/socat", "the service's sandbox")
    {
        return;
    }
    let unit = std::fs::read_to_string(format!("{ROOT}/packaging/sockwatch.service")).unwrap();
    let caps: Vec<String> = unit_lines(&unit, "CapabilityBoundingSet")
        .iter()
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert!(!caps.is_empty(), "the unit sets CapabilityBoundingSet");
    assert_eq!(unit_lines(&unit, "NoNewPrivileges"), ["yes"]);
    let families: BTreeSet<String> = unit_lines(&unit, "RestrictAddressFamilies")
        .iter()
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let allowed = allowed_syscalls(&unit);
    assert!(
        allowed.contains("fanotify_init")
            && allowed.contains("read")
            && !allowed.contains("setrlimit"),
        "the filter expanded as expected"
    );

    let t = AuditTest::begin("sandbox");
    let sock = t.dir.join("docker.sock");
    let _listener = UnixListener::bind(&sock).unwrap();
    let sock_arg = ["--socket", sock.to_str().unwrap()];

    // Everything the unit keeps, traced.
    // A syslog socket as well as the JSON lines file, so that the trace covers
    // an AF_UNIX output too.
    let trace = t.dir.join("strace.log");
    let syslog = t.dir.join("log.sock");
    let _syslog = std::os::unix::net::UnixDatagram::bind(&syslog).unwrap();
    let jsonl = format!("jsonl:{}", t.dir.join("findings.jsonl").display());
    let syslog_out = format!("syslog:{}", syslog.display());
    let full = bounding(&caps, None);
    let wrapper = [
        "strace",
        "-f",
        "-qq",
        "-o",
        trace.to_str().unwrap(),
        "setpriv",
        "--bounding-set",
        &full,
        "--no-new-privs",
        "--",
    ];
    let args = [
        sock_arg[0],
        sock_arg[1],
        "--output",
        &jsonl,
        "--output",
        &syslog_out,
        "--respond",
        "freeze",
    ];
    let mut d = Daemon::start_wrapped(&t.dir, &wrapper, &args, &[]);
    let c = FakeContainer::new();
    // The container is frozen in the middle of its script: run it beside.
    let script = connect_cmd(&sock);
    let inside = std::thread::scope(|s| {
        let running = s.spawn(|| c.sh(&script));
        let f = d.wait_finding("a connect from the container", Duration::from_secs(10), |f| {
            f["container"]["id"] == c.id.as_str()
        });
        assert_eq!(f["process"]["exe"], "/usr/bin/socat", "{f:#}");
        assert!(
            matches!(f["response"]["result"].as_str(), Some("frozen" | "freezing")),
            "--respond freeze under the unit's capabilities: {f:#}"
        );
        assert!(frozen(&c.cgroup), "the container's cgroup is frozen: {f:#}");
        let release = Command::new(BIN)
            .args(["--config", "/dev/null", "release", &c.id[..12]])
            .output()
            .unwrap();
        assert!(release.status.success(), "release: {}", String::from_utf8_lossy(&release.stderr));
        running.join().unwrap()
    });
    assert!(inside.status.success(), "{}", String::from_utf8_lossy(&inside.stderr));
    // The findings file's sync is due a second after its first line.
    std::thread::sleep(Duration::from_millis(1500));
    let pid = chmod(&sock);
    let f = wait_record(&d, "chmod of the socket", |f| f["signature"]["id"] == "SW-1001");
    assert_eq!(
        f["process"]["pid"].as_u64(),
        Some(pid as u64),
        "fanotify names who changed the socket: {f:#}"
    );
    let sockwatch_pid = nix::unistd::Pid::from_raw(tracee(d.child.id()) as i32);
    nix::sys::signal::kill(sockwatch_pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    d.wait_log("SIGHUP: outputs reopened", Duration::from_secs(5));
    nix::sys::signal::kill(sockwatch_pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = d.child.wait().unwrap();
    assert!(status.success(), "{status}; log:\n{}", d.log());
    let log = d.log();
    // audit_enabled_late is about the host (no audit=1 on its command line),
    // not about the sandbox.
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("warning:")
                && !l.contains("health: audit was off and sockwatch turned it on")
        })
        .collect();
    assert!(warnings.is_empty(), "no warning under the unit's capabilities:\n{log}");
    let strace_log = std::fs::read_to_string(&trace).unwrap();
    let (calls, used_families) = traced(&strace_log, BIN);
    let syncers = synced_by(&strace_log, sockwatch_pid.as_raw() as u32);
    assert!(
        !syncers.is_empty(),
        "the findings file was synced by a thread other than the event loop, and the sync succeeded:\n{strace_log}"
    );
    let outside: Vec<&String> = calls.iter().filter(|c| !allowed.contains(*c)).collect();
    assert!(outside.is_empty(), "system calls outside the unit's SystemCallFilter: {outside:?}");
    // RestrictSUIDSGID= makes systemd answer openat2 with ENOSYS, whatever the
    // filter allows: the freeze must do without it.
    assert_eq!(unit_lines(&unit, "RestrictSUIDSGID"), ["yes"]);
    assert!(!calls.contains("openat2"), "openat2 fails with ENOSYS under the unit: {calls:?}");
    assert!(
        used_families.is_subset(&families),
        "socket families {used_families:?} outside RestrictAddressFamilies {families:?}"
    );
    eprintln!(
        "sandbox: {} distinct system calls, all allowed: {calls:?}; socket families {used_families:?}",
        calls.len()
    );
    drop(d);

    // Each capability, taken away, breaks what it is kept for.
    let full_wrapper = ["setpriv", "--bounding-set", full.as_str(), "--no-new-privs", "--"];
    for cap in &caps {
        eprintln!("sandbox: without {cap}");
        let without = bounding(&caps, Some(cap));
        let wrapper = ["setpriv", "--bounding-set", without.as_str(), "--no-new-privs", "--"];
        match cap.as_str() {
            "CAP_AUDIT_CONTROL" | "CAP_AUDIT_READ" => {
                let out = Command::new("setpriv")
                    .args(&wrapper[1..])
                    .arg(BIN)
                    .args(["--config", "/dev/null", "run", "--output", "stdout"])
                    .args(sock_arg)
                    .output()
                    .unwrap();
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(
                    !out.status.success() && err.contains(cap.as_str()),
                    "without {cap} run must fail, naming it: {err}"
                );
            }
            "CAP_SYS_PTRACE" => {
                let d = Daemon::start_wrapped(&t.dir, &wrapper, &sock_arg, &[]);
                let c = FakeContainer::new();
                c.sh(&connect_cmd(&sock));
                let f = d.wait_finding(
                    "a connect without CAP_SYS_PTRACE",
                    Duration::from_secs(10),
                    |_| true,
                );
                // Namespace links of a more privileged process cannot be read, so
                // the container is unknown: the finding is still written.
                assert_ne!(f["container"]["id"], c.id.as_str(), "without {cap}: {f:#}");
                assert_eq!(f["container"]["runtime"], "unknown", "without {cap}: {f:#}");
                d.stop();
            }
            "CAP_SYS_ADMIN" => {
                let d = Daemon::start_wrapped(&t.dir, &wrapper, &sock_arg, &[]);
                chmod(&sock);
                let f = wait_record(&d, "chmod without CAP_SYS_ADMIN", |f| {
                    f["signature"]["id"] == "SW-1001"
                });
                assert!(
                    f["process"]["pid"].is_null(),
                    "without {cap} the kernel hides who did it: {f:#}"
                );
                d.stop();
            }
            "CAP_KILL" => {
                // A process of another uid (a user-namespaced container's root)
                // is SIGKILLed only with CAP_KILL; with the whole set it is.
                // nobody may connect (the client must stay connected).
                std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
                // The kill with the whole set is traced: its system calls
                // (pidfd_open, pidfd_send_signal) must be in the filter too.
                let kill_trace = t.dir.join("strace-kill.log");
                let traced_wrapper: Vec<&str> =
                    ["strace", "-f", "-qq", "-o", kill_trace.to_str().unwrap()]
                        .into_iter()
                        .chain(full_wrapper)
                        .collect();
                for (wrapper, want) in [(&traced_wrapper[..], "killed"), (&wrapper[..], "failed")] {
                    let d = Daemon::start_wrapped(
                        &t.dir,
                        wrapper,
                        &[sock_arg[0], sock_arg[1], "--respond", "kill"],
                        &[],
                    );
                    let c = FakeContainer::new();
                    let f = std::thread::scope(|s| {
                        let running = s.spawn(|| c.sh(&stay_connected(&sock)));
                        let f = d.wait_finding(
                            "a connect to be killed",
                            Duration::from_secs(10),
                            |f| f["container"]["id"] == c.id.as_str(),
                        );
                        let out = running.join().unwrap();
                        let killed = String::from_utf8_lossy(&out.stdout).contains("rc=137");
                        assert_eq!(killed, want == "killed", "{want}: {f:#}\n{out:?}");
                        f
                    });
                    assert_eq!(f["response"]["result"], want, "{wrapper:?}: {f:#}");
                    if want == "failed" {
                        assert!(
                            f["response"]["error"]
                                .as_str()
                                .is_some_and(|e| e.contains("not permitted")),
                            "{f:#}"
                        );
                        wait_record(&d, "the failure's health event", |r| {
                            r["event"] == "response_failed"
                        });
                        d.stop();
                    } else {
                        // Under strace: the signal goes to sockwatch itself.
                        let pid = nix::unistd::Pid::from_raw(tracee(d.child.id()) as i32);
                        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
                        let mut d = d;
                        assert!(d.child.wait().unwrap().success(), "{}", d.log());
                    }
                    let _ = std::fs::remove_file(t.dir.join("findings.jsonl"));
                }
                let (calls, _) = traced(&std::fs::read_to_string(&kill_trace).unwrap(), BIN);
                assert!(calls.contains("pidfd_send_signal"), "the kill was traced: {calls:?}");
                assert!(!calls.contains("openat2"), "openat2 fails under the unit: {calls:?}");
                let outside: Vec<&String> =
                    calls.iter().filter(|c| !allowed.contains(*c)).collect();
                assert!(
                    outside.is_empty(),
                    "--respond kill: system calls outside the filter: {outside:?}"
                );
            }
            "CAP_NET_ADMIN" => {
                let d = Daemon::start_wrapped(&t.dir, &wrapper, &sock_arg, &[]);
                let (_, log) = d.stop();
                // The receive buffer cannot be forced past rmem_max; on kernels
                // before 6.6 the process connector is refused too.
                assert!(
                    log.contains("SO_RCVBUFFORCE refused") || log.contains("no process events"),
                    "without {cap}:\n{log}"
                );
            }
            other => panic!(
                "the unit keeps {other}, which this test knows no use for: find what breaks without it and check that here"
            ),
        }
        // Leave no record of this round for the next.
        let _ = std::fs::remove_file(t.dir.join("findings.jsonl"));
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o660)).unwrap();
    }
    t.end();
}

fn dpkg_installed() -> bool {
    run("dpkg-query", &["-W", "-f=${Status}", "sockwatch"])
        .stdout
        .starts_with(b"install ok installed")
}

/// Purges the package if the test panics while it is installed.
struct PurgeOnPanic;

impl Drop for PurgeOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() && dpkg_installed() {
            let purge = run("dpkg", &["--purge", "sockwatch"]);
            eprintln!("test failed: purged the package ({})", purge.status);
        }
    }
}

#[test]
fn the_package_builds_installs_and_purges_cleanly() {
    if !privileged("the .deb")
        || !have("/usr/bin/dpkg", "the .deb")
        || !have("/usr/bin/lintian", "the .deb")
        || !have("/usr/bin/systemd-analyze", "the .deb")
        || !have("/usr/sbin/logrotate", "the .deb")
    {
        return;
    }
    assert!(
        !dpkg_installed(),
        "the sockwatch package is installed already; purge it (dpkg --purge sockwatch) before this test"
    );
    let t = AuditTest::begin("package");

    let build = Command::new(format!("{ROOT}/packaging/build.sh")).output().unwrap();
    assert!(
        build.status.success(),
        "packaging/build.sh:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let arch = String::from_utf8(run("dpkg", &["--print-architecture"]).stdout).unwrap();
    let deb = format!("{ROOT}/dist/sockwatch_{VERSION}-1_{}.deb", arch.trim());
    assert!(Path::new(&deb).exists(), "build.sh made {deb}");

    // lintian: no errors (warnings and notes are printed for the record).
    let lint = run("lintian", &["--pedantic", "--display-info", &deb]);
    let lint_out = String::from_utf8_lossy(&lint.stdout);
    eprintln!("lintian:\n{lint_out}");
    let errors: Vec<&str> = lint_out.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors: {errors:#?}");

    // The .rpm (built beside it): installed into a scratch root with its files
    // where Fedora puts them, /etc files as %config(noreplace), then erased.
    // Its scriptlets are not run here: this is not an RPM host.
    if have("/usr/bin/rpm", "the .rpm") {
        let rpm = format!("{ROOT}/dist/sockwatch-{VERSION}-1.{}.rpm", std::env::consts::ARCH);
        let root = t.dir.join("rpmroot");
        let root_s = root.to_str().unwrap();
        assert!(run("rpm", &["--root", root_s, "--initdb"]).status.success());
        let i = run("rpm", &["--root", root_s, "-i", "--nodeps", "--noscripts", &rpm]);
        assert!(i.status.success(), "rpm -i: {}", String::from_utf8_lossy(&i.stderr));
        for (path, mode) in [
            ("usr/sbin/sockwatch", 0o755),
            ("usr/lib/systemd/system/sockwatch.service", 0o644),
            ("etc/audit/rules.d/50-sockwatch.rules", 0o640),
            ("usr/share/man/man8/sockwatch.8", 0o644),
            ("usr/share/zsh/site-functions/_sockwatch", 0o644),
            ("usr/share/doc/sockwatch/examples/rsyslog/sockwatch-central.conf", 0o644),
        ] {
            let m =
                std::fs::metadata(root.join(path)).unwrap_or_else(|e| panic!("rpm: {path}: {e}"));
            assert_eq!(m.mode() & 0o7777, mode, "rpm: {path}");
        }
        let config = String::from_utf8(
            run("rpm", &["--root", root_s, "-q", "--configfiles", "sockwatch"]).stdout,
        )
        .unwrap();
        for c in [
            "/etc/sockwatch/sockwatch.toml",
            "/etc/audit/rules.d/50-sockwatch.rules",
            "/etc/logrotate.d/sockwatch",
        ] {
            assert!(config.contains(c), "rpm: {c} is %config: {config}");
        }
        let e = run("rpm", &["--root", root_s, "-e", "--nodeps", "--noscripts", "sockwatch"]);
        assert!(
            e.status.success() && !root.join("usr/sbin/sockwatch").exists(),
            "rpm -e: {}",
            String::from_utf8_lossy(&e.stderr)
        );
    }

    let install = run("dpkg", &["-i", &deb]);
    assert!(install.status.success(), "dpkg -i: {}", String::from_utf8_lossy(&install.stderr));
    // A failed assertion from here on must not leave the package installed
    // (the next run would refuse to start); dropped before `t` restores audit.
    let _purge_on_failure = PurgeOnPanic;
    // Enabled (started too, where systemd runs: not here, PID 1 is not systemd).
    assert!(
        Path::new("/etc/systemd/system/multi-user.target.wants/sockwatch.service").exists(),
        "dpkg -i enabled the service"
    );

    // Files where Debian policy puts them, with their modes.
    for (path, mode) in [
        ("/usr/sbin/sockwatch", 0o755),
        ("/etc/sockwatch/sockwatch.toml", 0o644),
        ("/etc/audit/rules.d/50-sockwatch.rules", 0o640),
        ("/etc/logrotate.d/sockwatch", 0o644),
        ("/usr/lib/systemd/system/sockwatch.service", 0o644),
        ("/usr/lib/systemd/catalog/sockwatch.catalog", 0o644),
        ("/usr/share/man/man8/sockwatch.8.gz", 0o644),
        ("/usr/share/man/man5/sockwatch.toml.5.gz", 0o644),
        ("/usr/share/bash-completion/completions/sockwatch", 0o644),
        ("/usr/share/zsh/vendor-completions/_sockwatch", 0o644),
        ("/usr/share/fish/vendor_completions.d/sockwatch.fish", 0o644),
        ("/usr/share/doc/sockwatch/copyright", 0o644),
        ("/usr/share/doc/sockwatch/changelog.Debian.gz", 0o644),
        ("/usr/share/doc/sockwatch/examples/rsyslog/sockwatch-forward.conf", 0o644),
        ("/usr/share/doc/sockwatch/examples/journal-remote/journal-upload.conf", 0o644),
        ("/usr/share/doc/sockwatch/examples/prometheus/sockwatch-alerts.yml", 0o644),
        ("/var/log/sockwatch", 0o750),
    ] {
        let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(m.mode() & 0o7777, mode, "{path} has mode {:o}", m.mode() & 0o7777);
        assert_eq!(m.uid(), 0, "{path} is root's");
    }
    let conffiles =
        String::from_utf8(run("dpkg-query", &["-W", "-f=${Conffiles}", "sockwatch"]).stdout)
            .unwrap();
    for c in [
        "/etc/sockwatch/sockwatch.toml",
        "/etc/audit/rules.d/50-sockwatch.rules",
        "/etc/logrotate.d/sockwatch",
    ] {
        assert!(conffiles.contains(c), "{c} is a conffile: {conffiles}");
    }

    // The installed program, with the installed configuration.
    let version = run("/usr/sbin/sockwatch", &["--version"]);
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), format!("sockwatch {VERSION}"));
    let doctor = run("/usr/sbin/sockwatch", &["doctor"]);
    assert!(
        doctor.status.success(),
        "sockwatch doctor:\n{}{}",
        String::from_utf8_lossy(&doctor.stdout),
        String::from_utf8_lossy(&doctor.stderr)
    );
    let printed = run("/usr/sbin/sockwatch", &["rules", "print"]);
    assert_eq!(
        printed.stdout,
        std::fs::read("/etc/audit/rules.d/50-sockwatch.rules").unwrap(),
        "the installed rules file is what `rules print` writes"
    );
    let man = Command::new("man")
        .args(["--warnings", "sockwatch"])
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    assert!(
        man.status.success() && man.stderr.is_empty(),
        "man sockwatch: {}",
        String::from_utf8_lossy(&man.stderr)
    );
    let verify = run("systemd-analyze", &["verify", "/usr/lib/systemd/system/sockwatch.service"]);
    let verify_err = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && !verify_err.contains("sockwatch"),
        "systemd-analyze verify: {verify_err}"
    );
    let security = run(
        "systemd-analyze",
        &["security", "--offline=yes", "--no-pager", "/usr/lib/systemd/system/sockwatch.service"],
    );
    let score = String::from_utf8_lossy(&security.stdout)
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .map(str::to_string);
    eprintln!("systemd-analyze security: {score:?}");
    let level: f64 = score
        .as_deref()
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("an exposure level");
    assert!(level <= 3.0, "exposure {level}: the sandbox got weaker");
    let rotate = run("logrotate", &["--debug", "/etc/logrotate.d/sockwatch"]);
    assert!(
        rotate.status.success(),
        "logrotate --debug: {}",
        String::from_utf8_lossy(&rotate.stderr)
    );

    // What a boot with auditd would do (augenrules loads the rules file), and a
    // findings file, so that purge has something to take away.
    let install_rules = run("/usr/sbin/sockwatch", &["rules", "install"]);
    assert!(install_rules.status.success(), "{}", String::from_utf8_lossy(&install_rules.stderr));
    assert!(sockwatch_rules_loaded() > 0);
    std::fs::write("/var/log/sockwatch/findings.jsonl", "{}\n").unwrap();
    let files = String::from_utf8(run("dpkg", &["-L", "sockwatch"]).stdout).unwrap();

    let purge = run("dpkg", &["--purge", "sockwatch"]);
    let purge_err = String::from_utf8_lossy(&purge.stderr);
    assert!(
        purge.status.success() && !purge_err.contains("could not unload"),
        "dpkg --purge: {purge_err}"
    );
    assert!(!dpkg_installed());
    let left: Vec<&str> =
        files.lines().filter(|f| Path::new(f).exists() && !Path::new(f).is_dir()).collect();
    assert!(left.is_empty(), "purge left files behind: {left:?}");
    for dir in [
        "/etc/sockwatch",
        "/var/log/sockwatch",
        "/usr/share/doc/sockwatch",
        "/etc/systemd/system/multi-user.target.wants/sockwatch.service",
    ] {
        assert!(!Path::new(dir).exists(), "purge left {dir}");
    }
    assert_eq!(sockwatch_rules_loaded(), 0, "no sockwatch rule stays loaded after purge");

    // `rules install` raised the backlog limit, as it says; put it back.
    let mut ctl = sockwatch::io::netlink::Control::open().unwrap();
    ctl.set_backlog_limit(t.before.backlog_limit).unwrap();
    t.end();
}

#[test]
fn the_install_hint_names_a_command_that_exists() {
    // Both packages tell a first install how to check the host; the command
    // they name must be one sockwatch has.
    let mut hints = Vec::new();
    for script in ["packaging/debian/postinst", "packaging/rpm/post_install.sh"] {
        let text = std::fs::read_to_string(format!("{ROOT}/{script}")).unwrap();
        let hint = text
            .lines()
            .find_map(|l| l.split_once("sudo sockwatch ").map(|(_, c)| c.trim_end_matches('"')))
            .unwrap_or_else(|| panic!("{script} names no `sudo sockwatch` command"))
            .to_string();
        let words: Vec<&str> = hint.split_whitespace().collect();
        let help = run(BIN, &[words.as_slice(), &["--help"]].concat());
        assert!(help.status.success(), "{script}: `sockwatch {hint} --help` fails");
        hints.push(hint);
    }
    assert_eq!(hints[0], hints[1], "the .deb and the .rpm say the same");
}
