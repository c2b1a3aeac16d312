//! `sockwatch test`: proves the whole pipeline on this host with a benign
//! trigger. It starts this same program's `run` as a child, watching only a
//! throw-away socket in a new directory under /run, waits for it to be ready (its
//! sd_notify READY=1, sent once its rules are loaded and audit is on), connects
//! to the socket from a throw-away process in new namespaces (`io::nsclient`),
//! and waits for the finding in the child's JSON lines. Then it stops the child
//! with SIGTERM, which removes exactly the rules that run added and puts audit's
//! state back, as the service does on every stop, and removes the directory.
//! What counts as the test's finding, and why none came, are `core::selftest`'s.
//!
//! The child reads the multicast copy of audit records whatever the
//! configuration says, so it never takes the audit pid from a running service
//! or auditd, and its rules name the throw-away socket only: a running
//! service's rules are not its to touch, and the service ignores the test's
//! connect, which reaches no socket it watches.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cli::TestArgs;
use crate::config::Config;
use crate::core::selftest::{self, Expected, Output};
use crate::error::{Context, Error};
use crate::io::nsclient::Client;
use crate::io::signals::Signals;
use crate::warn;

/// From start to READY=1: rules loaded, audit on (the tests allow 20 s too).
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// From SIGTERM to exit; after that the run is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The test process says at once whether it connected.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);
/// The run's output and log are read up to this much: they hold one finding,
/// a few health events and a few log lines.
const READ_MAX: u64 = 1 << 20;

pub fn main(args: &TestArgs, cfg: &Config) -> Result<ExitCode, Error> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(why) = selftest::not_permitted(nix::unistd::geteuid().as_raw(), &status) {
        eprintln!("sockwatch test: {why}");
        return Ok(ExitCode::FAILURE);
    }
    // Ctrl-C or a SIGTERM ends the test, not the process: the run is still
    // stopped and the directory removed.
    let mut signals = Signals::open(&[Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP])
        .context("cannot set up signal handling")?;
    let dir = Scratch::create()?;
    let sock = dir.path.join("test.sock");
    let _listener = UnixListener::bind(&sock).context(format!("cannot bind {}", sock.display()))?;
    let config = dir.path.join("sockwatch.toml");
    let rules_dir = cfg.rules.rules_dir.as_deref().and_then(Path::to_str);
    fs::write(&config, selftest::child_config(cfg.run.keep_audit_state, rules_dir))
        .context(format!("cannot write {}", config.display()))?;
    let notify_path = dir.path.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path)
        .context(format!("cannot bind {}", notify_path.display()))?;
    let findings = dir.path.join("findings.jsonl");
    let log = dir.path.join("run.log");
    let mut run = Run::start(&sock, &config, &findings, &log, &notify_path)?;

    let socket = sock.to_string_lossy().into_owned();
    let trial = trial(&mut run, &notify, &mut signals, &sock, &findings, &socket, args.timeout);
    let stopped = run.stop();
    let output = read_output(&findings, Expected { socket: &socket, pid: trial.pid });
    let log_text = read_bounded(&log);
    let (found, millis) = match (&output.found, trial.found_after, trial.failure) {
        (Some(r), Some(ms), _) => (r, ms),
        (_, _, Some(Abort::Signal(sig))) => {
            let run = stopped.unwrap_or_else(|| "its `sockwatch run` is stopped".into());
            eprintln!("sockwatch test: interrupted by {sig}; {run}");
            return Ok(ExitCode::FAILURE);
        }
        (_, _, failure) => {
            let mut why = match failure {
                Some(Abort::Failed(why)) => why,
                _ => selftest::why_not(&output, &log_text, args.timeout),
            };
            if let Some(s) = stopped {
                why = format!("{why}; and {s}");
            }
            return Ok(failed(&why, &log_text));
        }
    };
    if let Some(why) = stopped {
        // The finding came, but what the run changed may not all be undone.
        return Ok(failed(&why, &log_text));
    }
    println!("{}", found.line);
    let want = Expected { socket: &socket, pid: trial.pid };
    eprintln!("sockwatch test: {}", selftest::passed(found, want, millis));
    Ok(ExitCode::SUCCESS)
}

/// What the trial found: the test process's pid, after how many milliseconds
/// the finding came, and why it ended early, if it did.
struct Trial {
    pid: u32,
    found_after: Option<u128>,
    failure: Option<Abort>,
}

/// Why a trial ended before its finding or its timeout.
enum Abort {
    /// Ctrl-C, or a SIGTERM or SIGHUP.
    Signal(Signal),
    /// What the run's output cannot say: the run or the test process could not
    /// start, or the run exited.
    Failed(String),
}

/// Waits for the run to be ready, connects from the test process, and waits for
/// the finding (or the run's exit, or the timeout).
fn trial(
    run: &mut Run,
    notify: &UnixDatagram,
    signals: &mut Signals,
    sock: &Path,
    findings: &Path,
    socket: &str,
    timeout_s: u64,
) -> Trial {
    let fail = |why: Abort| Trial { pid: 0, found_after: None, failure: Some(why) };
    if let Err(why) = run.wait_ready(notify, signals) {
        return fail(why);
    }
    let mut client = match Client::start(sock) {
        Ok(c) => c,
        Err(e) => {
            return fail(Abort::Failed(format!(
                "cannot start the test process in new namespaces: {e}"
            )));
        }
    };
    let connected = client.outcome(CONNECT_TIMEOUT);
    let t0 = Instant::now();
    let pid = client.pid;
    let mut trial = Trial { pid, found_after: None, failure: None };
    match connected {
        Ok(0) => {}
        // A failed connect is a finding too: keep waiting for it.
        Ok(errno) => warn!(
            "the test process's connect to {} failed: {}",
            sock.display(),
            nix::errno::Errno::from_raw(errno)
        ),
        Err(e) => {
            trial.failure = Some(Abort::Failed(format!(
                "the test process did not say whether it connected: {e}"
            )));
            return trial;
        }
    }
    let want = Expected { socket, pid };
    let deadline = t0 + Duration::from_secs(timeout_s);
    while Instant::now() < deadline {
        if read_output(findings, want).found.is_some() {
            trial.found_after = Some(t0.elapsed().as_millis());
            break;
        }
        // The signal first: Ctrl-C stops the run too.
        if let Some(sig) = interrupted(signals) {
            trial.failure = Some(Abort::Signal(sig));
            break;
        }
        if let Some(st) = run.exited() {
            trial.failure = Some(Abort::Failed(format!(
                "`sockwatch run` exited ({st}) before it reported the connect"
            )));
            break;
        }
        std::thread::sleep(POLL);
    }
    // Alive until now, so that the run found it in /proc.
    client.release();
    trial
}

/// A signal that asked the test to end.
fn interrupted(signals: &mut Signals) -> Option<Signal> {
    signals.pending().ok().flatten()
}

fn read_output(findings: &Path, want: Expected<'_>) -> Output {
    selftest::read_output(&read_bounded(findings), want)
}

fn read_bounded(path: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = f.take(READ_MAX).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Says why the test failed, on one line, then what the run logged (its health
/// events among it).
fn failed(why: &str, log: &str) -> ExitCode {
    eprintln!(
        "sockwatch test: FAILED: {why}; run `sockwatch doctor` to see what does not work on this host"
    );
    if !log.trim().is_empty() {
        eprintln!("log of the test's `sockwatch run`:");
        for l in log.lines() {
            eprintln!("  {l}");
        }
    }
    ExitCode::FAILURE
}

/// The test's directory under /run: root's, mode 0700, made anew (never one
/// that exists), removed with everything in it when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn create() -> Result<Scratch, Error> {
        let mut r = [0u8; 6];
        File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut r))
            .context("cannot read /dev/urandom")?;
        let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let path = PathBuf::from(format!("/run/sockwatch-test.{hex}"));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .context(format!("cannot create {}", path.display()))?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            warn!("cannot remove {}: {e}", self.path.display());
        }
    }
}

/// The test's `sockwatch run`.
struct Run {
    child: Child,
    status: Option<ExitStatus>,
}

impl Run {
    fn start(
        sock: &Path,
        config: &Path,
        findings: &Path,
        log: &Path,
        notify: &Path,
    ) -> Result<Run, Error> {
        // The running program, unless it was replaced since it started (an
        // upgrade): then its deleted file, through /proc.
        let exe = std::env::current_exe()
            .ok()
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
        let stderr = File::create(log).context(format!("cannot create {}", log.display()))?;
        let mut cmd = Command::new(&exe);
        cmd.arg0("sockwatch")
            .arg("--config")
            .arg(config)
            .args(["--log-level", "info", "run", "--socket"])
            .arg(sock)
            .arg("--output")
            .arg(format!("jsonl:{}", findings.display()))
            // Every connect its own finding; multicast, so a service or auditd
            // keeps the audit pid; rules loaded; the test process reported as
            // the container it looks like; a task-list never rule only reported,
            // as the host may want it.
            .args(["--dedup-window", "0", "--audit-mode", "multicast", "--rules"])
            .args(["--namespace-fallback", "--keep-task-never", "--test-rules"])
            .env("NOTIFY_SOCKET", notify)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        // SAFETY: prctl only, between fork and exec. If `sockwatch test` dies,
        // the run stops as on a normal stop and removes its rules.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().context(format!("cannot start {} run", exe.display()))?;
        Ok(Run { child, status: None })
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Until READY=1 comes on the notify socket (sent once the rules are loaded
    /// and audit is on), the run exits, or `READY_TIMEOUT`.
    fn wait_ready(&mut self, notify: &UnixDatagram, signals: &mut Signals) -> Result<(), Abort> {
        let _ = notify.set_read_timeout(Some(Duration::from_millis(100)));
        let t0 = Instant::now();
        let mut buf = [0u8; 4096];
        while t0.elapsed() < READY_TIMEOUT {
            if let Ok(n) = notify.recv(&mut buf) {
                if buf[..n].split(|&b| b == b'\n').any(|l| l == b"READY=1") {
                    return Ok(());
                }
            }
            if let Some(sig) = interrupted(signals) {
                return Err(Abort::Signal(sig));
            }
            if let Some(st) = self.exited() {
                return Err(Abort::Failed(format!(
                    "`sockwatch run` exited ({st}) before it was ready"
                )));
            }
        }
        Err(Abort::Failed(format!(
            "`sockwatch run` was not ready within {} s",
            READY_TIMEOUT.as_secs()
        )))
    }

    /// SIGTERM, as the service is stopped: the run removes the rules it added
    /// and puts audit's state back. Returns why the stop was not clean, if it
    /// was not.
    fn stop(&mut self) -> Option<String> {
        if let Some(st) = self.exited() {
            return (!st.success()).then(|| format!("`sockwatch run` exited ({st})"));
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let t0 = Instant::now();
        while t0.elapsed() < STOP_TIMEOUT {
            if let Some(st) = self.exited() {
                return (!st.success())
                    .then(|| format!("`sockwatch run` exited ({st}) when stopped with SIGTERM"));
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
        Some(format!(
            "`sockwatch run` did not exit within {} s of SIGTERM and was killed: the io_uring rule, audit's enabled flag or its backlog limit may not be as they were (`sockwatch rules status` shows them)",
            STOP_TIMEOUT.as_secs()
        ))
    }
}

impl Drop for Run {
    /// Never left running: a run that was not stopped is stopped now.
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.stop();
        }
    }
}
