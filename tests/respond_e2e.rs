//! End to end, `--respond freeze` against real dockerd and real Podman: a
//! container with the runtime's API socket mounted runs the runtime's own CLI to
//! start a container with the host's root mounted. With `--respond freeze`
//! sockwatch must freeze the attacker before the runtime creates anything, in
//! every trial, and fast enough (connect to frozen: p50 under 5 ms, p99 under
//! 20 ms); without it the same command succeeds (the control, so that a
//! "contained" trial means something). `sockwatch release` thaws a frozen
//! container, and what the runtimes' own `unpause` does with it is recorded.
//!
//! Every check is made from the host: the freezer state of the attacker's cgroup
//! (found from its init's /proc/PID/cgroup, not from sockwatch's finding), the
//! runtime's container list and its event log, and the connect's time from the
//! kernel's tracer (the audit stamp lags it by milliseconds).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::docker::{TOOLS, docker_ready};
use common::*;

const TRIALS: usize = 20;
const CONTROLS: usize = 3;
/// The goal for the time from the connect to the frozen container.
const P50_LIMIT_US: u64 = 5_000;
const P99_LIMIT_US: u64 = 20_000;
/// How long a trial keeps watching the runtime after the finding: the docker
/// CLI sends its create request about 5 ms after the connect, and dockerd
/// creates within a few hundred. The whole run's events are checked again at
/// the end.
const SETTLE: Duration = Duration::from_secs(1);
const PODMAN_SOCK: &str = "/run/podman/podman.sock";

/// One container runtime, driven through its CLI on the host.
struct Runtime {
    cli: &'static str,
    image: &'static str,
    /// The API socket on the host, mounted at the same path in the attacker.
    socket: &'static str,
    /// What the attacker runs: the runtime's CLI starting a container with the
    /// host's root mounted.
    nested: String,
}

impl Runtime {
    fn docker() -> Runtime {
        Runtime {
            cli: "docker",
            image: common::docker::IMAGE,
            socket: "/var/run/docker.sock",
            nested: format!("docker run --rm -v /:/host {} true", common::docker::IMAGE),
        }
    }

    fn podman() -> Runtime {
        const IMAGE: &str = "localhost/sockwatch-test:latest";
        Runtime {
            cli: "podman",
            image: IMAGE,
            socket: PODMAN_SOCK,
            nested: format!(
                "podman --remote --url unix://{PODMAN_SOCK} run --rm -v /:/host {IMAGE} true"
            ),
        }
    }

    /// The attacker's script: a moment for its start to settle, the CLI, and
    /// the CLI's exit status (never printed when the container is frozen and
    /// killed before the CLI returns).
    fn attacker_script(&self) -> String {
        format!("sleep 0.5; {}; echo \"{} exited $?\"", self.nested, self.cli)
    }

    /// Starts a detached container of the test image with the host's tools and
    /// the API socket mounted, and `extra` before the image; returns its full id.
    fn start(&self, extra: &[&str], script: &str) -> String {
        let sock = format!("{0}:{0}", self.socket);
        let mut args = vec!["run", "-d", "--network", "none"];
        args.extend_from_slice(&TOOLS);
        args.extend_from_slice(&["-v", &sock]);
        args.extend_from_slice(extra);
        args.extend_from_slice(&[self.image, "sh", "-c", script]);
        let out = run(self.cli, &args);
        assert!(
            out.status.success(),
            "{} run failed: {}",
            self.cli,
            String::from_utf8_lossy(&out.stderr)
        );
        let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert_eq!(id.len(), 64, "{} run -d prints the full id: {id:?}", self.cli);
        id
    }

    fn inspect(&self, id: &str, format: &str) -> String {
        let out = run(self.cli, &["inspect", "-f", format, id]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Every container the runtime knows, by full id.
    fn ids(&self) -> BTreeSet<String> {
        let out = run(self.cli, &["ps", "-a", "-q", "--no-trunc"]);
        assert!(out.status.success(), "{} ps: {}", self.cli, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_string()).collect()
    }

    /// The runtime's container events since `since` (its own log of what it
    /// did): (container id, action).
    fn events(&self, since: SystemTime) -> Vec<(String, String)> {
        let t0 = since.duration_since(UNIX_EPOCH).unwrap();
        if self.cli == "docker" {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let stamp = |d: Duration| format!("{}.{:09}", d.as_secs(), d.subsec_nanos());
            let out = run(
                "docker",
                &[
                    "events",
                    "--since",
                    &stamp(t0),
                    "--until",
                    &stamp(now),
                    "--filter",
                    "type=container",
                    "--format",
                    "{{json .}}",
                ],
            );
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .map(|e| (str_of(&e["id"]), str_of(&e["Action"])))
                .collect()
        } else {
            // Podman 4.3 with its file event log prints nothing at all when
            // given --until; take whole seconds and filter by each event's time.
            let out = run(
                "podman",
                &[
                    "events",
                    "--since",
                    &t0.as_secs().to_string(),
                    "--stream=false",
                    "--filter",
                    "type=container",
                    "--format",
                    "json",
                ],
            );
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let from_ms = t0.as_millis() as u64;
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .filter(|e| {
                    let t = str_of(&e["Time"]);
                    sockwatch::core::time::parse_instant(&t)
                        .unwrap_or_else(|e| panic!("podman event time: {e}"))
                        >= from_ms
                })
                .map(|e| (str_of(&e["ID"]), str_of(&e["Status"])))
                .collect()
        }
    }

    /// Waits until the container no longer runs; false after `timeout`.
    fn wait_stopped(&self, id: &str, timeout: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if self.inspect(id, "{{.State.Running}}") != "true" {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Both streams of the container's output, interleaved as the runtime kept them.
    fn logs(&self, id: &str) -> String {
        let out = run("sh", &["-c", &format!("{} logs {id} 2>&1", self.cli)]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn remove(&self, id: &str) {
        if self.cli == "podman" {
            run("podman", &["rm", "-f", "-t", "0", id]);
        } else {
            run("docker", &["rm", "-f", id]);
        }
    }
}

fn str_of(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The freezer of a container, found from its init's /proc/PID/cgroup: the v1
/// freezer hierarchy, or cgroup v2.
#[derive(Debug, Clone)]
struct Freezer {
    hierarchy: &'static str,
    /// The cgroup's path inside its hierarchy, as /proc/PID/cgroup names it.
    path: String,
    dir: PathBuf,
}

impl Freezer {
    /// `hierarchy`: the one sockwatch said it used ("v1" or "v2"); without
    /// it, v1's freezer when the process is in a freezer cgroup, else v2.
    fn of(pid: &str, hierarchy: Option<&str>) -> Freezer {
        let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .unwrap_or_else(|e| panic!("/proc/{pid}/cgroup: {e}"));
        let line = |pred: &dyn Fn(&str) -> bool| {
            text.lines().find_map(|l| {
                let mut p = l.splitn(3, ':');
                let (_, ctl, path) = (p.next()?, p.next()?, p.next()?);
                pred(ctl).then(|| path.to_string())
            })
        };
        let v1 = line(&|c| c.split(',').any(|c| c == "freezer")).filter(|p| p != "/");
        let v2 = line(&|c| c.is_empty());
        let v2_root = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            "/sys/fs/cgroup"
        } else {
            "/sys/fs/cgroup/unified"
        };
        let use_v1 = match hierarchy {
            Some("v1") => true,
            Some("v2") => false,
            _ => v1.is_some(),
        };
        let (hierarchy, path, root) = if use_v1 {
            (
                "v1",
                v1.expect("the container's init is in a v1 freezer cgroup"),
                "/sys/fs/cgroup/freezer",
            )
        } else {
            ("v2", v2.expect("the container's init is in a cgroup v2 cgroup"), v2_root)
        };
        let dir = Path::new(root).join(path.trim_start_matches('/'));
        Freezer { hierarchy, path, dir }
    }

    /// FROZEN, FREEZING or THAWED (v2's `frozen 1|0` said the v1 way).
    fn state(&self) -> String {
        if self.hierarchy == "v1" {
            fs::read_to_string(self.dir.join("freezer.state"))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|e| format!("unreadable ({e})"))
        } else {
            match fs::read_to_string(self.dir.join("cgroup.events")) {
                Ok(s) if s.lines().any(|l| l == "frozen 1") => "FROZEN".into(),
                Ok(_) => "THAWED".into(),
                Err(e) => format!("unreadable ({e})"),
            }
        }
    }

    /// The state once it has stopped changing towards FROZEN (a v1 freeze may
    /// report FREEZING for a moment), for at most `timeout`.
    fn settled_state(&self, timeout: Duration) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.state();
            if s == "FROZEN" || t0.elapsed() > timeout {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn pids(&self) -> Vec<i32> {
        fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// SIGKILL to every process in the cgroup. A frozen task keeps the signal
    /// pending and dies when thawed, so nothing the attacker had under way can
    /// run on after the thaw.
    fn kill_all(&self) {
        for pid in self.pids() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// `sockwatch run --respond freeze` on `socket`, as it runs in service: the
/// release build, at the priority the packaged unit gives it (its Nice=).
fn responder(dir: &Path, socket: &str) -> Daemon {
    let unit = include_str!("../packaging/sockwatch.service");
    let nice = unit.lines().find_map(|l| l.strip_prefix("Nice=")).unwrap_or("0").trim();
    Daemon::start_bin(
        &release_bin(),
        dir,
        &["nice", "-n", nice],
        &["--socket", socket, "--respond", "freeze"],
        &[],
    )
}

/// `sockwatch release` with a configuration whose only output is `findings`:
/// (exit status success, stdout, stderr).
fn release(cfg: &Path, who: &str) -> (bool, String, String) {
    let out = run(BIN, &["--config", cfg.to_str().unwrap(), "release", who]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

fn write_config(dir: &Path, findings: &Path) -> PathBuf {
    let cfg = dir.join("sockwatch.toml");
    fs::write(&cfg, format!("outputs = [\"jsonl:{}\"]\n", findings.display())).unwrap();
    cfg
}

/// An attacker container, taken down however the test ends: its processes
/// killed while still frozen, then thawed (by `sockwatch release`, so that the
/// kills land), then removed.
struct Attacker<'a> {
    rt: &'a Runtime,
    cfg: &'a Path,
    id: String,
    freezer: Option<Freezer>,
    done: bool,
}

/// What taking an attacker down found.
struct Teardown {
    release_ok: bool,
    release_out: String,
    printed: String,
}

impl Attacker<'_> {
    fn teardown(&mut self) -> Teardown {
        self.done = true;
        let (mut release_ok, mut release_out) = (false, String::new());
        if let Some(f) = &self.freezer {
            f.kill_all();
            let (ok, out, err) = release(self.cfg, &self.id);
            release_ok = ok;
            release_out = if err.is_empty() { out } else { format!("{out} [stderr: {err}]") };
            // A release that thawed nothing (a failed trial) leaves the kills
            // pending: thaw directly so the container can be removed.
            if f.state() != "THAWED" {
                let (file, thawed) = if f.hierarchy == "v1" {
                    ("freezer.state", "THAWED")
                } else {
                    ("cgroup.freeze", "0")
                };
                let _ = fs::write(f.dir.join(file), thawed);
            }
        }
        self.rt.wait_stopped(&self.id, Duration::from_secs(10));
        let printed = self.rt.logs(&self.id);
        self.rt.remove(&self.id);
        Teardown { release_ok, release_out, printed }
    }
}

impl Drop for Attacker<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.teardown();
        }
    }
}

/// The Podman API service on its default socket, which sockwatch watches by
/// default; stopped (and its socket removed) however the test ends.
struct PodmanService {
    child: Child,
}

impl PodmanService {
    fn start(dir: &Path) -> PodmanService {
        assert!(
            UnixStream::connect(PODMAN_SOCK).is_err(),
            "a Podman service already answers on {PODMAN_SOCK}; this test starts its own"
        );
        let _ = fs::remove_file(PODMAN_SOCK);
        fs::create_dir_all("/run/podman").unwrap();
        let child = Command::new("podman")
            .args(["system", "service", "--time=0", &format!("unix://{PODMAN_SOCK}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("podman-service.log")).unwrap())
            .spawn()
            .expect("start podman system service");
        let svc = PodmanService { child };
        let t0 = Instant::now();
        while UnixStream::connect(PODMAN_SOCK).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "podman system service did not answer on {PODMAN_SOCK}: {}",
                fs::read_to_string(dir.join("podman-service.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        svc
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        let _ = fs::remove_file(PODMAN_SOCK);
    }
}

/// One freeze trial's outcome.
struct Trial {
    id: String,
    result: String,
    /// As the finding reports it: from the connect's audit stamp.
    latency_us: Option<u64>,
    /// From the connect's entry as the kernel's tracer saw it to the freeze
    /// written (the audit stamp + latency_us).
    traced_us: Option<u64>,
    cgroup_matches: bool,
    state: String,
    /// Containers other than the attacker that the runtime listed or logged.
    others: Vec<String>,
    release_ok: bool,
    release_out: String,
    printed: String,
}

impl Trial {
    fn contained(&self) -> bool {
        matches!(self.result.as_str(), "frozen" | "freezing")
            && self.state == "FROZEN"
            && self.cgroup_matches
            && self.others.is_empty()
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

/// Sorted values with their p50, p99, min and max, for a summary line.
fn figures(what: &str, values: impl Iterator<Item = Option<u64>>) -> (Vec<u64>, String) {
    let all: Vec<Option<u64>> = values.collect();
    let list: Vec<String> = all.iter().map(|v| v.map_or("-".into(), |v| v.to_string())).collect();
    let mut v: Vec<u64> = all.into_iter().flatten().collect();
    v.sort_unstable();
    let line = if v.is_empty() {
        format!("{what}: none")
    } else {
        format!(
            "{what} [{}]: p50 {} us, p99 {} us, min {} us, max {} us (nearest rank, {} trials)",
            list.join(", "),
            percentile(&v, 50.0),
            percentile(&v, 99.0),
            v[0],
            v[v.len() - 1],
            v.len()
        )
    };
    (v, line)
}

/// The finding's audit stamp, as Unix seconds.
fn audit_secs(f: &serde_json::Value) -> f64 {
    let t = f["audit"]["time"].as_str().expect("the finding has audit.time");
    sockwatch::core::time::parse_instant(t).expect("audit.time parses") as f64 / 1000.0
}

/// Runs the freeze trials against `d` (a daemon with `--respond freeze`), prints
/// each and the latency figures, and asserts the goal. `before`: the containers
/// that existed before the test. `each` runs on every trial's attacker while it
/// is frozen, before the checks of what the runtime did.
///
/// The goal is held against the connect's entry as the kernel's tracer saw it:
/// the audit stamp, which `latency_us` counts from, lags it by 4 to 8 ms here
/// (the kernel's coarse clock, HZ=250), so `latency_us` is only checked to be
/// the upper bound it claims to be.
fn freeze_trials(
    rt: &Runtime,
    d: &Daemon,
    cfg: &Path,
    before: &BTreeSet<String>,
    mut each: impl FnMut(usize, &str, &Freezer),
) {
    let trace = ftrace::ConnectTrace::start(rt.cli)
        .unwrap_or_else(|e| panic!("the connect tracer is needed for the latency: {e}"));
    let script = rt.attacker_script();
    let started = SystemTime::now();
    let clock = Instant::now();
    let mut trials = Vec::new();
    let mut attackers = BTreeSet::new();
    for n in 0..TRIALS {
        let t0 = SystemTime::now();
        let id = rt.start(&[], &script);
        attackers.insert(id.clone());
        let pid = rt.inspect(&id, "{{.State.Pid}}");
        let mut a = Attacker { rt, cfg, id: id.clone(), freezer: None, done: false };
        // Found now, while its init runs: the attacker's processes are killed
        // through it however the trial ends.
        a.freezer = Some(Freezer::of(&pid, None));
        let f = d.wait_finding(&format!("{} trial {n}", rt.cli), Duration::from_secs(15), |f| {
            f["container"]["id"] == id.as_str()
        });
        let resp = &f["response"];
        let hierarchy = resp["hierarchy"].as_str();
        let freezer = Freezer::of(&pid, hierarchy);
        a.freezer = Some(freezer.clone());
        let state = freezer.settled_state(Duration::from_secs(1));
        each(n, &id, &freezer);
        std::thread::sleep(SETTLE);
        let latency_us = resp["latency_us"].as_u64();
        let traced_us = latency_us.and_then(|l| {
            let stamp = audit_secs(&f);
            let written = stamp + l as f64 / 1e6;
            let client = f["process"]["pid"].as_u64()? as u32;
            let connect = trace.first_connect_from(client, stamp).filter(|&c| c <= written)?;
            Some(((written - connect) * 1e6).round() as u64)
        });
        let mut others: Vec<String> = rt
            .ids()
            .difference(before)
            .filter(|c| **c != id)
            .map(|c| format!("listed {}", &c[..12]))
            .collect();
        others.extend(
            rt.events(t0)
                .into_iter()
                .filter(|(c, _)| *c != id)
                .map(|(c, what)| format!("{what} {}", &c[..c.len().min(12)])),
        );
        let td = a.teardown();
        // A container the attacker got made is taken away too.
        for c in rt.ids().difference(before) {
            rt.remove(c);
        }
        let t = Trial {
            id,
            result: str_of(&resp["result"]),
            latency_us,
            traced_us,
            cgroup_matches: resp["action"] == "freeze" && resp["cgroup"] == freezer.path.as_str(),
            state,
            others,
            release_ok: td.release_ok,
            release_out: td.release_out,
            printed: td.printed,
        };
        eprintln!(
            "{} trial {n:2}: {} {} {} {} {}; latency_us {}, from the traced connect {} us; \
             freezer {}; other containers: {}; release: {}; CLI printed: {:?}",
            rt.cli,
            &t.id[..12],
            resp["action"],
            t.result,
            freezer.hierarchy,
            resp["cgroup"],
            t.latency_us.map_or("none".into(), |l| l.to_string()),
            t.traced_us.map_or("none".into(), |l| l.to_string()),
            t.state,
            if t.others.is_empty() { "none".into() } else { t.others.join(", ") },
            if t.release_ok { "exit 0" } else { "failed" },
            t.printed,
        );
        trials.push(t);
    }
    drop(trace);
    // Anything the runtime did late, over the whole run.
    std::thread::sleep(Duration::from_secs(1));
    let late: Vec<_> =
        rt.events(started).into_iter().filter(|(c, _)| !attackers.contains(c)).collect();
    let left: Vec<_> = rt.ids().difference(before).cloned().collect();

    let contained = trials.iter().filter(|t| t.contained()).count();
    eprintln!("{}: {contained}/{TRIALS} contained in {:.0?}", rt.cli, clock.elapsed());
    let (reported, line) =
        figures(&format!("{}: latency_us", rt.cli), trials.iter().map(|t| t.latency_us));
    eprintln!("{line}");
    let (traced, line) = figures(
        &format!("{}: traced connect to freeze written", rt.cli),
        trials.iter().map(|t| t.traced_us),
    );
    eprintln!("{line}");
    assert!(late.is_empty(), "{} logged events of containers no attacker is: {late:?}", rt.cli);
    assert!(left.is_empty(), "containers left behind: {left:?}");
    for (n, t) in trials.iter().enumerate() {
        assert!(t.release_ok, "trial {n}: sockwatch release {} failed: {}", t.id, t.release_out);
        if let (Some(r), Some(c)) = (t.latency_us, t.traced_us) {
            // The stamp is never later than the connect; 50 us for the two clocks.
            assert!(r + 50 >= c, "trial {n}: latency_us {r} is an upper bound of {c}");
        }
    }
    assert_eq!(contained, TRIALS, "every trial contained (see the trial lines above)");
    assert_eq!(reported.len(), TRIALS, "every finding carries response.latency_us");
    assert_eq!(traced.len(), TRIALS, "the tracer saw every attacker's connect");
    let (p50, p99) = (percentile(&traced, 50.0), percentile(&traced, 99.0));
    assert!(p50 < P50_LIMIT_US, "{}: p50 {p50} us, goal under {P50_LIMIT_US}", rt.cli);
    assert!(p99 < P99_LIMIT_US, "{}: p99 {p99} us, goal under {P99_LIMIT_US}", rt.cli);
}

/// The control: the same attacker with sockwatch reporting only. The nested
/// run must succeed, so that the freeze trials' "nothing created" is the freeze's doing.
fn control_trials(rt: &Runtime, d: &Daemon, cfg: &Path, before: &BTreeSet<String>) {
    let script = rt.attacker_script();
    for n in 0..CONTROLS {
        let t0 = SystemTime::now();
        let id = rt.start(&[], &script);
        let mut a = Attacker { rt, cfg, id: id.clone(), freezer: None, done: false };
        assert!(rt.wait_stopped(&id, Duration::from_secs(60)), "the control's CLI finished");
        let code = rt.inspect(&id, "{{.State.ExitCode}}");
        let f = d.wait_finding(&format!("{} control {n}", rt.cli), Duration::from_secs(15), |f| {
            f["container"]["id"] == id.as_str()
        });
        let events: Vec<_> = rt.events(t0).into_iter().filter(|(c, _)| *c != id).collect();
        let td = a.teardown();
        for c in rt.ids().difference(before) {
            rt.remove(c);
        }
        eprintln!(
            "{} control {n}: {} exit {code}; events of the nested container: {:?}; CLI printed: {:?}",
            rt.cli,
            &id[..12],
            events.iter().map(|(_, w)| w.as_str()).collect::<Vec<_>>(),
            td.printed
        );
        assert!(f["response"].is_null(), "no response without --respond: {f:#}");
        assert_eq!(code, "0", "the nested run succeeded; it printed {:?}", td.printed);
        assert!(
            td.printed.contains(&format!("{} exited 0", rt.cli)),
            "the CLI itself exited 0: {:?}",
            td.printed
        );
        let nested: BTreeSet<&str> = events.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(nested.len(), 1, "one nested container: {events:?}");
        for want in ["create", "start"] {
            assert!(
                events.iter().any(|(_, w)| w == want),
                "the nested container's {want}: {events:?}"
            );
        }
    }
}

#[test]
fn docker_cli_in_a_container_is_frozen_before_dockerd_creates_anything() {
    if !privileged("respond freeze, docker") || !docker_ready() {
        return;
    }
    let t = AuditTest::begin("respond-docker");
    let dir = t.dir.clone();
    let rt = Runtime::docker();
    let before = rt.ids();
    let d = responder(&dir, rt.socket);
    let cfg = write_config(&dir, &d.findings);
    freeze_trials(&rt, &d, &cfg, &before, |_, _, _| {});
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    let failed: Vec<_> = records_in(&dir.join("findings.jsonl"))
        .into_iter()
        .filter(|r| r["event"] == "response_failed")
        .collect();
    assert!(failed.is_empty(), "no response failed: {failed:#?}");
    t.end();
}

#[test]
fn without_respond_the_same_docker_cli_starts_its_container() {
    if !privileged("respond control, docker") || !docker_ready() {
        return;
    }
    let t = AuditTest::begin("respond-docker-control");
    let dir = t.dir.clone();
    let rt = Runtime::docker();
    let before = rt.ids();
    let d = Daemon::start(&dir, &["--socket", rt.socket, "--respond", "none"]);
    let cfg = write_config(&dir, &d.findings);
    control_trials(&rt, &d, &cfg, &before);
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    t.end();
}

#[test]
fn podman_remote_in_a_container_is_frozen_before_podman_creates_anything() {
    if !privileged("respond freeze, podman")
        || !runtime_ready("podman", Runtime::podman().image, "tests/env/setup-podman.sh")
    {
        return;
    }
    let t = AuditTest::begin("respond-podman");
    let dir = t.dir.clone();
    let rt = Runtime::podman();
    let before = rt.ids();
    let _svc = PodmanService::start(&dir);

    // The control first: podman-remote in the attacker must really work.
    let control = dir.join("control");
    fs::create_dir_all(&control).unwrap();
    let d = Daemon::start(&control, &["--socket", PODMAN_SOCK, "--respond", "none"]);
    let cfg = write_config(&dir, &d.findings);
    control_trials(&rt, &d, &cfg, &before);
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");

    let d = responder(&dir, PODMAN_SOCK);
    let cfg = write_config(&dir, &d.findings);
    let mut unpause = None;
    freeze_trials(&rt, &d, &cfg, &before, |n, id, freezer| {
        // Once: what Podman's own unpause makes of a container sockwatch froze.
        if n == 0 {
            let out = run("podman", &["unpause", id]);
            unpause = Some((
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
                freezer.state(),
                rt.inspect(id, "{{.State.Status}}"),
            ));
        }
    });
    let (code, stderr, state, status) = unpause.unwrap();
    eprintln!(
        "podman unpause of a container sockwatch froze: exit {code:?}, {stderr:?}; \
         freezer then {state}; podman's status {status}"
    );
    assert_ne!(code, Some(0), "podman unpause refuses a container it did not pause");
    assert_eq!(state, "FROZEN", "and the container stays frozen");
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    t.end();
}

/// A frozen container keeps still; `sockwatch release` (by name, then by short
/// id) thaws it and says so in a health event; Docker's own unpause does not
/// know the freeze; `docker rm -f` removes a frozen container.
#[test]
fn release_thaws_a_frozen_container_and_docker_unpause_does_not() {
    if !privileged("respond release, docker") || !docker_ready() {
        return;
    }
    let t = AuditTest::begin("respond-release");
    let dir = t.dir.clone();
    let rt = Runtime::docker();
    let client = build_client(&dir);
    let out = dir.join("out");
    fs::create_dir_all(&out).unwrap();
    let d = responder(&dir, rt.socket);
    let cfg = write_config(&dir, &d.findings);
    let name = format!("sw-release-{:x}", rand64());
    let vols = [format!("{}:/client:ro", client.display()), format!("{}:/out", out.display())];
    // A counter that runs on its own, and a connect each time the host says go.
    let script = "(i=0; while :; do i=$((i+1)); echo $i > /out/counter; sleep 0.05; done) & \
                  for go in go1 go2 go3; do \
                    while [ ! -e /out/$go ]; do sleep 0.05; done; /client /var/run/docker.sock; \
                  done; sleep 600";
    let id = rt.start(&["--name", &name, "-v", &vols[0], "-v", &vols[1]], script);
    let pid = rt.inspect(&id, "{{.State.Pid}}");
    let mut a = Attacker { rt: &rt, cfg: &cfg, id: id.clone(), freezer: None, done: false };
    a.freezer = Some(Freezer::of(&pid, None));
    let counter = || -> u64 {
        fs::read_to_string(out.join("counter"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    let advances = |timeout: Duration| {
        let (c0, t0) = (counter(), Instant::now());
        while t0.elapsed() < timeout {
            if counter() > c0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    };
    assert!(advances(Duration::from_secs(5)), "the counter runs");
    let released = || {
        records_in(&d.findings)
            .into_iter()
            .filter(|r| r["kind"] == "health" && r["event"] == "container_released")
            .collect::<Vec<_>>()
    };

    // The host says go; the container's nth connect is found and frozen.
    let freeze = |go: &str, nth: usize| {
        fs::write(out.join(go), "").unwrap();
        let t0 = Instant::now();
        let f = loop {
            let mine = d.findings().into_iter().filter(|f| f["container"]["id"] == id.as_str());
            if let Some(f) = mine.into_iter().nth(nth - 1) {
                break f;
            }
            assert!(t0.elapsed() < Duration::from_secs(15), "no finding {nth}: {}", d.log());
            std::thread::sleep(Duration::from_millis(20));
        };
        eprintln!("connect {nth}: response {}", f["response"]);
        assert_eq!(f["response"]["action"], "freeze", "{f:#}");
        let fr = Freezer::of(&pid, f["response"]["hierarchy"].as_str());
        assert_eq!(fr.settled_state(Duration::from_secs(2)), "FROZEN", "{f:#}");
        fr
    };

    // Frozen: the counter keeps still.
    let fr = freeze("go1", 1);
    std::thread::sleep(Duration::from_millis(200));
    let c1 = counter();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(counter(), c1, "nothing in a frozen container runs");

    // Released by its name.
    let (ok, stdout, stderr) = release(&cfg, &name);
    eprintln!("sockwatch release {name}: ok {ok}; stdout {stdout:?}; stderr {stderr:?}");
    assert!(ok, "release by name exits 0: {stdout} {stderr}");
    assert!(
        format!("{stdout}\n{stderr}").contains(&format!("released docker container {name}")),
        "release says what it thawed"
    );
    assert_eq!(fr.state(), "THAWED");
    assert!(advances(Duration::from_secs(3)), "the counter runs again after the release");
    let ev = released();
    eprintln!("health events: {ev:?}");
    assert_eq!(ev.len(), 1, "one container_released health event: {ev:#?}");
    assert_eq!(ev[0]["details"]["container_id"], id.as_str(), "it names the container");

    // Nothing frozen: release thaws nothing and says so by its exit status.
    let (ok, stdout, stderr) = release(&cfg, &name);
    eprintln!("sockwatch release of a running container: ok {ok}; {stdout:?} {stderr:?}");
    assert!(!ok, "release of a container that is not frozen exits non-zero");

    // Frozen again: Docker's unpause does not know this freeze.
    let fr = freeze("go2", 2);
    let un = run("docker", &["unpause", &id]);
    let un_err = String::from_utf8_lossy(&un.stderr).trim().to_string();
    std::thread::sleep(Duration::from_millis(300));
    let after = fr.state();
    let status = rt.inspect(&id, "{{.State.Status}} paused={{.State.Paused}}");
    eprintln!(
        "docker unpause of a container sockwatch froze: exit {:?}, {un_err:?}; freezer then \
         {after}; docker's status {status}",
        un.status.code()
    );
    assert!(!un.status.success(), "docker unpause refuses a container it did not pause");
    assert_eq!(after, "FROZEN", "and the container stays frozen");
    let c2 = counter();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(counter(), c2);

    // Released by its short id.
    let (ok, stdout, stderr) = release(&cfg, &id[..12]);
    eprintln!("sockwatch release {}: ok {ok}; stdout {stdout:?}; stderr {stderr:?}", &id[..12]);
    assert!(ok, "release by short id exits 0");
    assert_eq!(fr.state(), "THAWED", "release thawed the cgroup the finding named");
    assert!(advances(Duration::from_secs(3)), "the counter runs again");
    assert_eq!(released().len(), 2, "a health event for each release");

    // Frozen a third time: docker rm -f removes it as it is.
    let fr = freeze("go3", 3);
    let t0 = Instant::now();
    let rm = run("docker", &["rm", "-f", &id]);
    eprintln!(
        "docker rm -f of a frozen container: exit {:?} in {:.0?}; {:?}",
        rm.status.code(),
        t0.elapsed(),
        String::from_utf8_lossy(&rm.stderr).trim()
    );
    assert!(rm.status.success(), "docker rm -f of a frozen container");
    assert!(!rt.ids().contains(&id), "the container is gone");
    let t0 = Instant::now();
    while fr.dir.exists() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!fr.dir.exists(), "and its cgroup with it");
    a.done = true;

    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    t.end();
}
