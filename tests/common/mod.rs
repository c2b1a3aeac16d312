//! Helpers shared by the privileged and end-to-end tests: the root/CI gate, the
//! lock that keeps tests on global audit state apart, a snapshot of that state, and
//! a running `sockwatch run` with its findings; Docker containers (`docker`);
//! the golden files (`golden`); and checkers for the published schemas of the
//! ECS and OCSF formats (`schema`).
#![allow(dead_code)]

pub mod docker;
pub mod ftrace;
pub mod golden;
pub mod schema;

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use sockwatch::io::netlink::Control;

pub const BIN: &str = env!("CARGO_BIN_EXE_sockwatch");

/// The release build, as the package ships it (built now if it is not up to
/// date): what a test of reaction time measures, not the debug build, which is
/// about twice as slow.
pub fn release_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = env!("CARGO_MANIFEST_DIR");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let st = Command::new(&cargo)
                .args(["build", "--release", "--locked", "--quiet"])
                .current_dir(root)
                .status()
                .expect("run cargo build --release");
            assert!(st.success(), "cargo build --release failed");
            let meta = Command::new(&cargo)
                .args(["metadata", "--format-version", "1", "--no-deps"])
                .current_dir(root)
                .output()
                .expect("run cargo metadata");
            let v: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
            let dir = v["target_directory"].as_str().expect("cargo metadata's target_directory");
            Path::new(dir).join("release").join("sockwatch")
        })
        .clone()
}

/// Whether this test can run. Without root it is skipped with a one-line reason;
/// under CI=true a skip is a failure, because CI must run everything.
pub fn privileged(what: &str) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let reason = if !nix::unistd::Uid::effective().is_root() {
        Some("needs root")
    } else if Control::open().and_then(|mut c| c.status()).is_err() {
        Some(
            "the kernel's audit netlink does not answer (no audit support, or not in the initial namespaces)",
        )
    } else {
        None
    };
    match reason {
        None => true,
        Some(r) if ci => panic!("{what}: cannot run under CI=true: {r}"),
        Some(r) => {
            skip(what, r);
            false
        }
    }
}

/// Says why a test did not run, on one line that the harness does not capture
/// (it captures only the print macros), so a skip is never silent.
pub fn skip(what: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {what}: {why}");
}

/// Serialises every test that touches global kernel audit state, across threads
/// and processes (cargo test and nextest alike).
pub fn audit_lock() -> Flock<File> {
    let f = File::create("/run/sockwatch-tests.lock").expect("create the test lock");
    Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| e).expect("take the test lock")
}

/// The audit state a test must leave as it found it.
#[derive(Debug, PartialEq, Eq)]
pub struct AuditState {
    pub enabled: u32,
    pub pid: u32,
    pub backlog_limit: u32,
    pub rules: Vec<Vec<u8>>,
}

pub fn audit_state() -> AuditState {
    let mut c = Control::open().unwrap();
    let st = c.status().unwrap();
    let mut rules: Vec<Vec<u8>> = c.list_rules().unwrap();
    rules.sort();
    AuditState { enabled: st.enabled, pid: st.pid, backlog_limit: st.backlog_limit, rules }
}

/// Number of loaded rules carrying sockwatch's key.
pub fn sockwatch_rules_loaded() -> usize {
    let mut c = Control::open().unwrap();
    c.list_rules().unwrap().iter().filter(|r| sockwatch::core::rules::carries_our_key(r)).count()
}

/// A test on global audit state: holds the lock, remembers the state it found, and
/// has a scratch directory. `end` checks the state is back and cleans up; a test
/// that panics gets the state put back when this is dropped.
pub struct AuditTest {
    _lock: Flock<File>,
    pub before: AuditState,
    pub dir: PathBuf,
}

impl AuditTest {
    pub fn begin(tag: &str) -> AuditTest {
        let lock = audit_lock();
        AuditTest { _lock: lock, before: audit_state(), dir: tempdir(tag) }
    }

    pub fn end(self) {
        assert_eq!(audit_state(), self.before, "audit rules and state are as the test found them");
        fs::remove_dir_all(&self.dir).unwrap();
    }
}

/// A test that failed half-way (a panic) may have left rules loaded or audit's
/// state changed: put back what it found, so one failure does not fail the
/// tests after it or leave the host changed.
impl Drop for AuditTest {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(mut c) = Control::open() else { return };
        let mut expected = self.before.rules.clone();
        for r in c.list_rules().unwrap_or_default() {
            if let Some(i) = expected.iter().position(|b| *b == r) {
                expected.remove(i);
                continue;
            }
            let gone = c.del_rule(&r);
            eprintln!(
                "test failed: removing a rule it left loaded: {}",
                gone.map_or_else(|e| e.to_string(), |()| "done".into())
            );
        }
        if let Ok(st) = c.status() {
            if st.enabled != self.before.enabled && st.enabled != 2 && self.before.enabled != 2 {
                let _ = c.set_enabled(self.before.enabled);
            }
            if st.backlog_limit != self.before.backlog_limit {
                let _ = c.set_backlog_limit(self.before.backlog_limit);
            }
        }
    }
}

pub fn tempdir(tag: &str) -> PathBuf {
    let d =
        std::env::temp_dir().join(format!("sockwatch-{tag}-{}-{:x}", std::process::id(), rand64()));
    fs::create_dir_all(&d).unwrap();
    // Other users (uid 65534 in tests) must be able to reach sockets inside.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// A TCP port nothing listened on a moment ago, on loopback, for a test's
/// server (another process may take it in between: rare, and the test fails
/// saying the server did not start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn rand64() -> u64 {
    let mut b = [0u8; 8];
    File::open("/dev/urandom").unwrap().read_exact(&mut b).unwrap();
    u64::from_ne_bytes(b)
}

/// A random 64-hex container id.
pub fn container_id() -> String {
    (0..4).map(|_| format!("{:016x}", rand64())).collect()
}

/// A `sockwatch run` child writing findings to a JSON lines file.
pub struct Daemon {
    pub child: Child,
    pub findings: PathBuf,
    pub stderr: PathBuf,
}

impl Daemon {
    pub fn start(dir: &Path, extra: &[&str]) -> Daemon {
        Daemon::start_with_env(dir, extra, &[])
    }

    pub fn start_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        Daemon::start_wrapped(dir, &[], extra, env)
    }

    /// Starts sockwatch under `wrapper` (a command that execs what follows it,
    /// such as setpriv or strace), or directly when `wrapper` is empty.
    pub fn start_wrapped(
        dir: &Path,
        wrapper: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        Daemon::start_bin(Path::new(BIN), dir, wrapper, extra, env)
    }

    /// `start_wrapped` with another build of sockwatch (`release_bin`).
    pub fn start_bin(
        bin: &Path,
        dir: &Path,
        wrapper: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let findings = dir.join("findings.jsonl");
        let stderr = dir.join("sockwatch.stderr");
        let mut args = vec!["--log-level", "debug", "run"];
        let out = format!("jsonl:{}", findings.display());
        if !extra.iter().any(|a| a.starts_with("--output")) {
            args.extend_from_slice(&["--output", &out]);
        }
        // Tests count connects one by one; the ones about folding set their own.
        if !extra.contains(&"--dedup-window") {
            args.extend_from_slice(&["--dedup-window", "0"]);
        }
        // Never pick up the host's /etc/sockwatch/sockwatch.toml.
        if !extra.contains(&"--config") {
            args.extend_from_slice(&["--config", "/dev/null"]);
        }
        args.extend_from_slice(extra);
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = cmd
            .args(&args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .expect("start sockwatch");
        let d = Daemon { child, findings, stderr };
        d.wait_log("sockwatch: info: ready", Duration::from_secs(20));
        d
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let t0 = Instant::now();
        while !self.log().contains(needle) {
            assert!(
                t0.elapsed() < timeout,
                "sockwatch never logged {needle:?}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The findings written so far (health events left out).
    pub fn findings(&self) -> Vec<serde_json::Value> {
        findings_in(&self.findings)
    }

    /// Waits until some finding satisfies `pred`, and returns it.
    pub fn wait_finding(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let t0 = Instant::now();
        loop {
            if let Some(f) = self.findings().into_iter().find(|f| pred(f)) {
                return f;
            }
            assert!(
                t0.elapsed() < timeout,
                "no finding for {what} within {timeout:?}; findings: {:#?}\nlog:\n{}",
                self.findings(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and the exit status.
    pub fn stop(self) -> (ExitStatus, String) {
        self.stop_with(nix::sys::signal::Signal::SIGTERM)
    }

    pub fn stop_with(mut self, sig: nix::sys::signal::Signal) -> (ExitStatus, String) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st, self.log());
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("sockwatch did not exit within 20 s of SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A failed assertion must not leave a daemon (and its rules) behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = self.child.wait();
        }
    }
}

/// Milliseconds from the kernel's audit stamp to the finding's emission.
pub fn latency_ms(f: &serde_json::Value) -> f64 {
    fn parse(ts: &str) -> f64 {
        // YYYY-MM-DDTHH:MM:SS.frac Z; both stamps share the date in these tests.
        let t = &ts[11..ts.len() - 1];
        let mut p = t.split(':');
        let h: f64 = p.next().unwrap().parse().unwrap();
        let m: f64 = p.next().unwrap().parse().unwrap();
        let s: f64 = p.next().unwrap().parse().unwrap();
        (h * 3600.0 + m * 60.0 + s) * 1000.0
    }
    parse(f["time"].as_str().unwrap()) - parse(f["audit"]["time"].as_str().unwrap())
}

pub fn run(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

/// Builds tests/data/capture/client.c statically: a client that connects to the
/// socket named in its argument and exits at once, runnable in any container.
pub fn build_client(dir: &Path) -> PathBuf {
    let out = dir.join("client");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/capture/client.c");
    let cc = run("cc", &["-O1", "-static", "-o", out.to_str().unwrap(), src]);
    assert!(
        cc.status.success(),
        "building the static client: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    out
}

/// Whether `path` (a tool a test needs) exists; under CI=true its absence fails
/// the test, elsewhere it skips it with the reason.
pub fn have(path: &str, what: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    let why = format!("{path} is not installed (tests/run.sh installs it)");
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{what} cannot run under CI=true: {why}"
    );
    skip(what, &why);
    false
}

/// Whether a container runtime's CLI and test image are there; under CI=true their
/// absence fails the test, elsewhere it skips it with the reason.
pub fn runtime_ready(cli: &str, image: &str, setup: &str) -> bool {
    let ok = run("sh", &["-c", &format!("{cli} image inspect {image} >/dev/null 2>&1")])
        .status
        .success();
    if !ok {
        let why = format!("{cli} or the image {image} is missing (run {setup})");
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "{cli} end-to-end cannot run under CI=true: {why}"
        );
        skip(&format!("{cli} end-to-end"), &why);
    }
    ok
}

/// A cgroup named like a Docker container's (cgroupfs driver), removed on drop.
pub struct FakeContainer {
    pub id: String,
    pub cgroup: PathBuf,
}

impl FakeContainer {
    pub fn new() -> FakeContainer {
        let id = container_id();
        let root = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            "/sys/fs/cgroup"
        } else if Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
            "/sys/fs/cgroup/unified"
        } else {
            "/sys/fs/cgroup/pids"
        };
        let cgroup = Path::new(root).join("docker").join(&id);
        fs::create_dir_all(&cgroup).unwrap();
        FakeContainer { id, cgroup }
    }

    /// Runs `script` with sh inside the container: its cgroup, a private mount
    /// namespace. Returns the output; the script's own failures are the caller's.
    /// Like a container's init, the shell outlives the commands it starts by a
    /// moment, so a client that exits at once still has its parent in the container
    /// (attributing clients whose whole process tree is gone is later work).
    pub fn sh(&self, script: &str) -> std::process::Output {
        let full = format!(
            "echo $$ > {}/cgroup.procs && {{ {script}; }}; rc=$?; sleep 0.3; exit $rc",
            self.cgroup.display()
        );
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &full])
            .output()
            .unwrap()
    }
}

impl Drop for FakeContainer {
    fn drop(&mut self) {
        for _ in 0..50 {
            if fs::remove_dir(&self.cgroup).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn connect_cmd(path: &Path) -> String {
    format!("socat -u /dev/null UNIX-CONNECT:{}", path.display())
}

/// The connect findings (TRC-1019) in a JSON lines file: not the health events
/// beside them, nor what fanotify reports about the socket files (tests that
/// create sockets would see those too).
pub fn findings_in(path: &Path) -> Vec<serde_json::Value> {
    records_in(path).into_iter().filter(|r| r["signature"]["id"] == "TRC-1019").collect()
}

/// Every record in a JSON lines file.
pub fn records_in(path: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("bad line {l:?}: {e}"))
        })
        .collect()
}

/// systemd-journald is running (tests/env/setup-journald.sh starts it by hand),
/// or the test skips (fails under CI=true).
pub fn journald_ready() -> bool {
    let ok = Path::new("/run/systemd/journal/socket").exists()
        && run("sh", &["-c", "command -v journalctl"]).status.success();
    if !ok {
        let why = "systemd-journald is not running (run tests/env/setup-journald.sh)";
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "journald end-to-end cannot run under CI=true: {why}"
        );
        skip("journald end-to-end", why);
    }
    ok
}
