//! Fleet forwarding with rsyslog, end to end: the example configuration in
//! packaging/examples/rsyslog/ run by two real rsyslogd (a host's and a
//! central's) with only paths, the address and the port changed; sockwatch
//! sends RFC 5424 to the host's socket, the host forwards over RELP through its
//! disk-assisted queue, the central writes a file per host. The central is
//! stopped in the middle: the findings made during the outage wait in the
//! host's queue and arrive once it is back. Every finding in sockwatch's own
//! JSON lines (the ground truth of what was sent) must arrive exactly once,
//! with its structured data equal to the JSON's values.

mod common;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::docker::docker_run_with_socket;
use common::*;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/examples/rsyslog");
const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
const IMAGE: &str = "sockwatch-test:latest";

/// rsyslog's RELP modules (package rsyslog-relp) are installed; under CI=true
/// their absence fails the test, elsewhere it skips it.
fn relp_modules(what: &str) -> bool {
    let dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib")
        .map(|rd| rd.flatten().map(|e| e.path().join("rsyslog")).collect())
        .unwrap_or_default();
    let found = [PathBuf::from("/usr/lib/rsyslog"), PathBuf::from("/usr/lib64/rsyslog")]
        .into_iter()
        .chain(dirs)
        .find(|d| d.join("omrelp.so").exists() && d.join("imrelp.so").exists());
    match found {
        Some(_) => true,
        // Not there: `have` fails under CI=true and skips elsewhere, with the path.
        None => have("/usr/lib/x86_64-linux-gnu/rsyslog/omrelp.so", what),
    }
}

/// `text` with every `from` made `to`; `from` must be there, so that a change to
/// the example cannot leave the test running something else than it says.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example configuration no longer has {from:?}");
    text.replace(from, to)
}

/// One `rsyslogd -n`, stopped (SIGTERM, then SIGKILL) however the test ends.
struct Rsyslogd {
    name: &'static str,
    conf: PathBuf,
    pidfile: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Rsyslogd {
    fn new(name: &'static str, dir: &Path, conf: &str) -> Rsyslogd {
        let path = dir.join(format!("{name}.conf"));
        std::fs::write(&path, conf).unwrap();
        let check = run(RSYSLOGD, &["-N1", "-f", path.to_str().unwrap()]);
        assert!(
            check.status.success(),
            "rsyslogd -N1 rejects the {name} configuration:\n{}\n{conf}",
            String::from_utf8_lossy(&check.stderr)
        );
        Rsyslogd {
            name,
            conf: path,
            pidfile: dir.join(format!("{name}.pid")),
            log: dir.join(format!("{name}.log")),
            child: None,
        }
    }

    fn start(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(RSYSLOGD)
            .args(["-n", "-f"])
            .arg(&self.conf)
            .arg("-i")
            .arg(&self.pidfile)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start rsyslogd");
        self.child = Some(child);
    }

    /// SIGTERM and the wait for its exit, as `systemctl stop` would.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let t0 = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if t0.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the {} rsyslogd did not exit within 15 s of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            for _ in 0..250 {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One RFC 5424 line as the central wrote it: the header's fields, the
/// SD-ELEMENTs' IDs and their parameters (unescaped), and MSG.
#[derive(Debug)]
struct Line {
    pri: String,
    time: String,
    host: String,
    app: String,
    procid: String,
    msgid: String,
    sd_ids: Vec<String>,
    params: BTreeMap<String, String>,
    msg: String,
    raw: String,
}

/// Parses a line of RSYSLOG_SyslogProtocol23Format strictly: a parameter value
/// that is not closed, or a second parameter of one name, fails the test.
fn parse_line(raw: &str) -> Line {
    let bad = |why: &str| -> ! { panic!("{why} in the central's line {raw:?}") };
    let rest = raw.strip_prefix('<').unwrap_or_else(|| bad("no PRI"));
    let (pri, rest) = rest.split_once(">1 ").unwrap_or_else(|| bad("no version 1"));
    let mut head = rest.splitn(6, ' ');
    let mut field = || head.next().unwrap_or_else(|| bad("a short header")).to_string();
    let (time, host, app, procid, msgid, mut rest) =
        (field(), field(), field(), field(), field(), field());
    let mut sd_ids = Vec::new();
    let mut params = BTreeMap::new();
    while let Some(element) = rest.strip_prefix('[') {
        let b = element.as_bytes();
        let id_end = element.find([' ', ']']).unwrap_or_else(|| bad("an SD-ID"));
        sd_ids.push(element[..id_end].to_string());
        let mut i = id_end;
        loop {
            match b.get(i) {
                Some(b']') => break,
                Some(b' ') => {
                    let eq = element[i..].find("=\"").unwrap_or_else(|| bad("name=\"")) + i;
                    let name = element[i + 1..eq].to_string();
                    let mut value = String::new();
                    let mut chars = element[eq + 2..].char_indices();
                    let end = loop {
                        match chars.next() {
                            Some((j, '"')) => break eq + 2 + j,
                            Some((_, '\\')) => match chars.next() {
                                Some((_, c @ ('"' | '\\' | ']'))) => value.push(c),
                                Some((_, c)) => {
                                    value.push('\\');
                                    value.push(c);
                                }
                                None => bad("an escape at the end"),
                            },
                            Some((_, c)) => value.push(c),
                            None => bad("an unclosed PARAM-VALUE"),
                        }
                    };
                    if params.insert(name.clone(), value).is_some() {
                        bad(&format!("parameter {name} twice"));
                    }
                    i = end + 1;
                }
                _ => bad("a malformed SD-ELEMENT"),
            }
        }
        rest = element[i + 1..].to_string();
        if let Some(r) = rest.strip_prefix(' ') {
            rest = r.to_string();
            if !rest.starts_with('[') {
                break;
            }
        }
    }
    Line {
        pri: pri.into(),
        time,
        host,
        app,
        procid,
        msgid,
        sd_ids,
        params,
        msg: rest,
        raw: raw.into(),
    }
}

/// Every line in the central's files, with the file each is in.
fn central_lines(dir: &Path) -> Vec<(String, Line)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        for l in std::fs::read_to_string(e.path()).unwrap().lines() {
            out.push((file.clone(), parse_line(l)));
        }
    }
    out
}

fn finding_lines(dir: &Path) -> Vec<Line> {
    central_lines(dir).into_iter().map(|(_, l)| l).filter(|l| l.msgid == "TRC-1019").collect()
}

/// Waits until `pred` holds, polling; false when `timeout` passed first.
fn wait_until(timeout: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while !pred() {
        if t0.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// The central listens: a TCP connect to its RELP port is accepted.
fn wait_listening(port: u16, central: &Rsyslogd) {
    assert!(
        wait_until(Duration::from_secs(10), || TcpStream::connect(("127.0.0.1", port)).is_ok()),
        "the central rsyslogd never listened on 127.0.0.1:{port}; its log:\n{}",
        central.log()
    );
}

/// A value of the JSON as the SD-PARAM would carry it.
fn as_param(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The host's drop-in as shipped, forwarding to 127.0.0.1:`port`; with
/// `socket`, its own input listens there, without it the input is left out (as
/// its comment says to do for /dev/log).
fn forward_conf(port: u16, socket: Option<&Path>) -> String {
    let text = std::fs::read_to_string(format!("{EXAMPLES}/sockwatch-forward.conf")).unwrap();
    let text = substitute(&text, "central.example.org", "127.0.0.1");
    let text = substitute(&text, "port=\"2514\"", &format!("port=\"{port}\""));
    match socket {
        Some(s) => substitute(&text, "/run/rsyslog/sockwatch.sock", s.to_str().unwrap()),
        None => {
            let start = text.find("\ninput(type=\"imuxsock\"").expect("the drop-in's input") + 1;
            let end = text[start..].find(")\n").unwrap() + start + 2;
            format!("{}{}", &text[..start], &text[end..])
        }
    }
}

/// A host's whole configuration: its own work directory, the line that loads
/// imuxsock (in Debian's /etc/rsyslog.conf, or as the drop-in says to change
/// it), then the drop-in.
fn host_conf(dir: &Path, name: &str, imuxsock: &str, forward: &str) -> String {
    let spool = dir.join(format!("{name}-spool"));
    std::fs::create_dir(&spool).unwrap();
    format!("global(workDirectory=\"{}\")\n{imuxsock}\n{forward}", spool.display())
}

/// The central's drop-in as shipped, on loopback, `port`, writing under `out`.
fn central_conf(dir: &Path, name: &str, port: u16, out: &Path) -> String {
    let text = std::fs::read_to_string(format!("{EXAMPLES}/sockwatch-central.conf")).unwrap();
    let text = substitute(&text, "address=\"0.0.0.0\"", "address=\"127.0.0.1\"");
    let text = substitute(&text, "port=\"2514\"", &format!("port=\"{port}\""));
    let text = substitute(&text, "/var/log/sockwatch-central", out.to_str().unwrap());
    let spool = dir.join(format!("{name}-spool"));
    std::fs::create_dir(&spool).unwrap();
    format!("global(workDirectory=\"{}\")\n{text}", spool.display())
}

/// Checks that a line the central wrote carries finding `f` as sockwatch
/// (`pid`) sent it: the header (priority authpriv.warning, sockwatch's time
/// rather than the time of reception, its pid, the signature as MSGID), one
/// SD-ELEMENT whose parameters hold the JSON's values, and the summary.
fn check_line(l: &Line, f: &serde_json::Value, pid: u32) {
    assert_eq!(l.pri, "84", "authpriv.warning: {}", l.raw);
    assert_eq!(l.app, "sockwatch", "{}", l.raw);
    assert_eq!(l.procid, pid.to_string(), "sockwatch's pid: {}", l.raw);
    assert_eq!(l.msgid, f["signature"]["id"].as_str().unwrap(), "{}", l.raw);
    assert_eq!(l.sd_ids, ["sockwatch@32473"], "{}", l.raw);
    assert_eq!(l.msg, f["message"].as_str().unwrap(), "MSG is the summary: {}", l.raw);
    // The time keeps its digits; rsyslog may write UTC as +00:00.
    let time = f["time"].as_str().unwrap();
    assert_eq!(l.time.replace("+00:00", "Z"), time, "sockwatch's time: {}", l.raw);
    let cmdline = serde_json::to_string(&f["process"]["cmdline"]).unwrap();
    for (param, json) in [
        ("signature_id", &f["signature"]["id"]),
        ("operation", &f["operation"]),
        ("container_id", &f["container"]["id"]),
        ("container_runtime", &f["container"]["runtime"]),
        ("container_image", &f["container"]["image"]),
        ("container_name", &f["container"]["name"]),
        ("process_pid", &f["process"]["pid"]),
        ("process_exe", &f["process"]["exe"]),
        ("process_comm", &f["process"]["comm"]),
        ("process_cwd", &f["process"]["cwd"]),
        ("process_cmdline", &serde_json::Value::String(cmdline)),
        ("socket_path", &f["socket"]["path"]),
        ("socket_watched", &f["socket"]["watched"]),
        ("audit_serial", &f["audit"]["serial"]),
        ("count", &f["count"]),
    ] {
        assert_eq!(
            l.params.get(param),
            as_param(json).as_ref(),
            "{param} differs from the JSON's: {}\n{f:#}",
            l.raw
        );
    }
}

#[test]
fn findings_reach_a_central_rsyslog_over_relp_exactly_once_across_its_outage() {
    let what = "rsyslog fleet forwarding";
    if !privileged(what)
        || !have(RSYSLOGD, what)
        || !relp_modules(what)
        || !runtime_ready("docker", IMAGE, "tests/env/setup-docker.sh")
    {
        return;
    }
    let t = AuditTest::begin("fleet-rsyslog");
    let dir = t.dir.clone();
    let port = free_port();
    let host_sock = dir.join("host-rsyslog.sock");
    let central_dir = dir.join("central");
    // The host: a stand-in for Debian's /etc/rsyslog.conf (imuxsock loaded, a
    // work directory), leaving /dev/log alone, then the drop-in as shipped.
    let host_conf = host_conf(
        &dir,
        "host",
        "module(load=\"imuxsock\" SysSock.Use=\"off\")",
        &forward_conf(port, Some(&host_sock)),
    );
    let central_conf = central_conf(&dir, "central", port, &central_dir);
    let mut central = Rsyslogd::new("central", &dir, &central_conf);
    let mut host = Rsyslogd::new("host", &dir, &host_conf);
    central.start();
    wait_listening(port, &central);
    host.start();
    assert!(
        wait_until(Duration::from_secs(10), || host_sock.exists()),
        "the host rsyslogd never made {}; its log:\n{}",
        host_sock.display(),
        host.log()
    );

    let client = build_client(&dir);
    let jsonl = dir.join("findings.jsonl");
    let d = Daemon::start(
        &dir,
        &[
            &format!("--output=jsonl:{}", jsonl.display()),
            &format!("--output=syslog:{}", host_sock.display()),
            "--syslog-format",
            "rfc5424",
        ],
    );
    let container = docker_run_with_socket(&client, &["sleep", "120"]);
    let id = container.0.clone();
    // Each connect is its own process in the container, so its own finding.
    let connects = |n: usize| {
        let before = findings_in(&jsonl).len();
        for _ in 0..n {
            let out = run("docker", &["exec", &id, "/client", "/var/run/docker.sock"]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        d.wait_finding("the connects", Duration::from_secs(10), |_| {
            findings_in(&jsonl).len() >= before + n
        });
    };

    // Before the outage: delivered as they come.
    connects(3);
    assert!(
        wait_until(Duration::from_secs(10), || finding_lines(&central_dir).len() >= 3),
        "the central got {} of 3 findings before the outage; host log:\n{}\ncentral log:\n{}",
        finding_lines(&central_dir).len(),
        host.log(),
        central.log()
    );

    // The outage: the central stops; what is found meanwhile waits on the host.
    central.stop();
    let down = Instant::now();
    connects(5);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(finding_lines(&central_dir).len(), 3, "nothing reaches a central that is down");
    central.start();
    let outage = down.elapsed();
    wait_listening(port, &central);
    let back = Instant::now();
    let sent_so_far = findings_in(&jsonl).len();
    let delivered =
        wait_until(Duration::from_secs(30), || finding_lines(&central_dir).len() >= sent_so_far);
    let catch_up = back.elapsed();

    // A last one after the outage, then everything stops: sockwatch, then the
    // host (its queue is empty by now), then the central.
    connects(1);
    let _ = wait_until(Duration::from_secs(10), || finding_lines(&central_dir).len() > sent_so_far);
    let pid = d.child.id();
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    std::thread::sleep(Duration::from_millis(500));
    host.stop();
    central.stop();

    let sent = findings_in(&jsonl);
    let lines = central_lines(&central_dir);
    let findings: Vec<&Line> =
        lines.iter().map(|(_, l)| l).filter(|l| l.msgid == "TRC-1019").collect();
    let mut by_serial: BTreeMap<String, Vec<&Line>> = BTreeMap::new();
    for l in &findings {
        let serial = l.params.get("audit_serial").unwrap_or_else(|| panic!("{}", l.raw));
        by_serial.entry(serial.clone()).or_default().push(l);
    }
    let duplicates: usize = by_serial.values().map(|v| v.len().saturating_sub(1)).sum();
    let missing: Vec<u64> = sent
        .iter()
        .map(|f| f["audit"]["serial"].as_u64().unwrap())
        .filter(|s| !by_serial.contains_key(&s.to_string()))
        .collect();
    eprintln!(
        "rsyslog fleet: sent {} findings, received {} lines for them ({} distinct), {} duplicate(s), \
         {} missing; central down {outage:?}; queued findings delivered {catch_up:?} after it listened again",
        sent.len(),
        findings.len(),
        by_serial.len(),
        duplicates,
        missing.len()
    );
    if let Some(l) = findings.first() {
        eprintln!("rsyslog fleet: a line as the central wrote it:\n{}", l.raw);
    }
    assert!(
        delivered,
        "the findings of the outage did not all arrive within 30 s of the central's return; \
         host log:\n{}\ncentral log:\n{}",
        host.log(),
        central.log()
    );
    assert_eq!(sent.len(), 9, "{sent:#?}");
    assert!(missing.is_empty(), "findings that never arrived: {missing:?}\n{}", host.log());
    assert_eq!(duplicates, 0, "findings that arrived more than once: {by_serial:#?}");
    assert_eq!(findings.len(), sent.len(), "nothing arrived that sockwatch did not send");

    // Each arrived finding carries the JSON's values, in the structured data as
    // in the header: sockwatch's time, its pid, the signature as MSGID.
    let host_name = &findings[0].host;
    for f in &sent {
        let serial = f["audit"]["serial"].as_u64().unwrap().to_string();
        let l = by_serial[&serial][0];
        check_line(l, f, pid);
        assert_eq!(&l.host, host_name);
        assert_eq!(l.params["container_id"], id, "the container that connected");
    }
    // sockwatch's health events travel the same way, each once.
    let health_sent: Vec<serde_json::Value> =
        records_in(&jsonl).into_iter().filter(|r| r["kind"] == "health").collect();
    let health_got: Vec<&Line> =
        lines.iter().map(|(_, l)| l).filter(|l| l.msgid == "health").collect();
    eprintln!(
        "rsyslog fleet: health events: sent {}, received {}",
        health_sent.len(),
        health_got.len()
    );
    assert_eq!(health_got.len(), health_sent.len(), "{health_got:#?}\n{health_sent:#?}");
    for h in &health_sent {
        let same = |l: &&&Line| {
            l.time.replace("+00:00", "Z") == h["time"].as_str().unwrap()
                && l.params.get("event").map(String::as_str) == h["event"].as_str()
        };
        assert_eq!(health_got.iter().filter(same).count(), 1, "{h:#}\n{health_got:#?}");
    }
    // The file is named after the sending host, and holds nothing but sockwatch's.
    let files: std::collections::BTreeSet<&str> = lines.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(files, [format!("{host_name}.log").as_str()].into(), "{files:?}");
    assert!(lines.iter().all(|(_, l)| l.app == "sockwatch"));
    t.end();
}

/// The line of Debian's /etc/rsyslog.conf that loads imuxsock, which takes the
/// system socket (/dev/log) with its defaults.
const DEBIAN_IMUXSOCK: &str = "module(load=\"imuxsock\")";

/// An imuxsock module line with its system socket at `socket` (instead of
/// /dev/log), all else as given.
fn on_socket(line: &str, socket: &Path) -> String {
    substitute(
        line,
        "module(load=\"imuxsock\"",
        &format!("module(load=\"imuxsock\" SysSock.Name=\"{}\"", socket.display()),
    )
}

/// When sockwatch sends to the system socket rather than the drop-in's own:
/// with Debian's imuxsock line its RFC 5424 is read by the special parser,
/// the program name is not sockwatch and nothing is forwarded (the host's
/// auth.log gets the structured data as text); with the module line the
/// drop-in's comment gives, the findings arrive whole.
#[test]
fn on_the_system_socket_the_structured_data_needs_the_regular_parser() {
    let what = "rsyslog on the system socket";
    if !privileged(what) || !have(RSYSLOGD, what) || !relp_modules(what) {
        return;
    }
    let t = AuditTest::begin("fleet-rsyslog-syssock");
    let dir = t.dir.clone();
    let shipped = std::fs::read_to_string(format!("{EXAMPLES}/sockwatch-forward.conf")).unwrap();
    let advised = shipped
        .lines()
        .find(|l| l.starts_with('#') && l.contains("module(load=\"imuxsock\""))
        .expect("the drop-in says which module line /dev/log needs")
        .trim_start_matches('#')
        .trim();
    let (debian_port, advised_port) = (free_port(), free_port());
    let (debian_sock, advised_sock) = (dir.join("debian-log.sock"), dir.join("advised-log.sock"));
    let (debian_out, advised_out) = (dir.join("central-debian"), dir.join("central-advised"));
    // Debian's own rule for authpriv, so that what the host made of it shows.
    let auth_log = dir.join("debian-auth.log");
    let debian_conf = format!(
        "{}authpriv.* {}\n",
        host_conf(
            &dir,
            "host-debian",
            &on_socket(DEBIAN_IMUXSOCK, &debian_sock),
            &forward_conf(debian_port, None)
        ),
        auth_log.display()
    );
    let advised_conf = host_conf(
        &dir,
        "host-advised",
        &on_socket(advised, &advised_sock),
        &forward_conf(advised_port, None),
    );
    let mut rsyslogds = [
        Rsyslogd::new(
            "central-debian",
            &dir,
            &central_conf(&dir, "central-debian", debian_port, &debian_out),
        ),
        Rsyslogd::new(
            "central-advised",
            &dir,
            &central_conf(&dir, "central-advised", advised_port, &advised_out),
        ),
        Rsyslogd::new("host-debian", &dir, &debian_conf),
        Rsyslogd::new("host-advised", &dir, &advised_conf),
    ];
    for r in &mut rsyslogds {
        r.start();
    }
    wait_listening(debian_port, &rsyslogds[0]);
    wait_listening(advised_port, &rsyslogds[1]);
    for s in [&debian_sock, &advised_sock] {
        assert!(wait_until(Duration::from_secs(10), || s.exists()), "no {}", s.display());
    }

    let real = dir.join("runtime.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&real).unwrap();
    let client = build_client(&dir);
    let jsonl = dir.join("findings.jsonl");
    let d = Daemon::start(
        &dir,
        &[
            "--socket",
            real.to_str().unwrap(),
            &format!("--output=jsonl:{}", jsonl.display()),
            &format!("--output=syslog:{}", debian_sock.display()),
            &format!("--output=syslog:{}", advised_sock.display()),
        ],
    );
    let c = FakeContainer::new();
    for _ in 0..2 {
        let out = c.sh(&format!("{} {}", client.display(), real.display()));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    d.wait_finding("two connects", Duration::from_secs(10), |_| findings_in(&jsonl).len() >= 2);
    let arrived = wait_until(Duration::from_secs(15), || finding_lines(&advised_out).len() >= 2);
    let seen = wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&auth_log).unwrap_or_default().matches("[sockwatch@32473").count()
            >= 2
    });
    // Time for anything the Debian host would forward to reach its central.
    std::thread::sleep(Duration::from_secs(1));
    let pid = d.child.id();
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    for r in rsyslogds.iter_mut().rev() {
        r.stop();
    }

    let auth = std::fs::read_to_string(&auth_log).unwrap_or_default();
    eprintln!(
        "rsyslog on the system socket: Debian's imuxsock line writes to auth.log:\n{}",
        auth.lines().next().unwrap_or("(nothing)")
    );
    assert!(seen, "the Debian host got sockwatch's messages on its system socket:\n{auth}");
    assert!(
        central_lines(&debian_out).is_empty(),
        "with the special parser nothing is sockwatch's, so nothing is forwarded"
    );
    assert!(arrived, "{}\n{}", rsyslogds[3].log(), rsyslogds[1].log());
    let sent = findings_in(&jsonl);
    let got = finding_lines(&advised_out);
    assert_eq!(got.len(), sent.len(), "each once: {got:#?}");
    for f in &sent {
        let serial = f["audit"]["serial"].to_string();
        let l = got
            .iter()
            .find(|l| l.params.get("audit_serial") == Some(&serial))
            .unwrap_or_else(|| panic!("finding {serial} did not arrive: {got:#?}"));
        check_line(l, f, pid);
    }
    t.end();
}
