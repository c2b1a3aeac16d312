//! Fleet: a finding goes from the host's journal to a central one the way
//! packaging/examples/journal-remote/ sets it up. systemd-journal-upload reads
//! the host's journal and posts it to systemd-journal-remote, which writes
//! journal files that `journalctl -D` reads. Here both run by hand on loopback
//! over HTTP (the example uses HTTPS; TLS changes the transport, not the
//! entries). The finding comes from a real container's connect, with a binary
//! process name (a newline and a byte that is not UTF-8) and a SOCKWATCH_JSON
//! longer than journalctl's 4096-byte JSON threshold, and must arrive with
//! every field the local entry has, byte for byte.

mod common;

use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::docker::docker_run_with_socket;
use common::*;

const REMOTE: &str = "/lib/systemd/systemd-journal-remote";
const UPLOAD: &str = "/lib/systemd/systemd-journal-upload";
const IMAGE: &str = "sockwatch-test:latest";
/// The client's name inside the container: a newline, a forged field, and a
/// byte that is not UTF-8, so PROCESS_EXE is a binary field all the way.
const EXE_SH: &str = r"/tmp/$(printf 'sw\nCONTAINER_ID=forged\377')";
const EXE: &[u8] = b"/tmp/sw\nCONTAINER_ID=forged\xff";

/// A journal daemon the test started: stopped (SIGTERM, then SIGKILL) however
/// the test ends.
struct Started {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Started {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Started {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(log.with_extension("stderr")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Started { child, name, log }
    }

    fn log(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!("{}{}", read(&self.log), read(&self.log.with_extension("stderr")))
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn stop(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(st)) = self.child.try_wait() {
            return Some(st);
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if self.stop().is_none() {
            eprintln!("{} did not exit within 5 s of SIGTERM: killed", self.name);
        }
    }
}

/// systemd-journal-remote as `cmd` starts it on a free loopback port; returns
/// it once the port accepts connections. A port taken between choosing it and
/// binding it is chosen again.
fn central(dir: &Path, cmd: impl Fn(u16) -> Command) -> (Started, u16) {
    for attempt in 0..3 {
        let port = free_port();
        let mut s = Started::spawn(
            "systemd-journal-remote",
            &mut cmd(port),
            dir.join(format!("journal-remote.{attempt}.log")),
        );
        let t0 = Instant::now();
        while s.running() && t0.elapsed() < Duration::from_secs(5) {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (s, port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("systemd-journal-remote on port {port} did not come up:\n{}", s.log());
    }
    panic!("systemd-journal-remote never listened on loopback");
}

/// The local journal's last cursor, where an uploader starts (after it): as a
/// host whose state file names its last upload would, not at the start of the
/// whole journal.
fn journal_end() -> Option<String> {
    entries(&["-n", "1"]).first().map(|e| e["__CURSOR"].as_str().unwrap().to_string())
}

/// journalctl's JSON entries for `args`, every field whole (`--all`: without
/// it journalctl writes null for a value over 4096 bytes).
fn entries(args: &[&str]) -> Vec<serde_json::Value> {
    let out = run("journalctl", &[&["--all", "-q", "--no-pager", "-o", "json"], args].concat());
    assert!(out.status.success(), "journalctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("journalctl line {l:?}: {e}")))
        .collect()
}

/// A field's bytes: journalctl writes a value as a string, or as an array of
/// bytes when it is not printable UTF-8.
fn bytes(v: &serde_json::Value) -> Vec<u8> {
    match v {
        serde_json::Value::String(s) => s.as_bytes().to_vec(),
        serde_json::Value::Array(a) => a.iter().map(|b| b.as_u64().unwrap() as u8).collect(),
        other => panic!("not a journal value: {other}"),
    }
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

#[test]
fn a_finding_reaches_a_central_journal_remote_whole() {
    if !privileged("journal-upload to journal-remote")
        || !have(REMOTE, "journal-upload to journal-remote")
        || !have(UPLOAD, "journal-upload to journal-remote")
        || !runtime_ready("docker", IMAGE, "tests/env/setup-docker.sh")
        || !journald_ready()
    {
        return;
    }
    let t0 = Instant::now();
    let t = AuditTest::begin("jremote");
    let dir = t.dir.clone();
    let client = build_client(&dir);
    let out = dir.join("remote");
    std::fs::create_dir(&out).unwrap();
    let (mut remote, port) = central(&dir, |port| {
        let mut c = Command::new(REMOTE);
        c.arg(format!("--listen-http=127.0.0.1:{port}"))
            .arg(format!("--output={}/", out.display()));
        c
    });
    let cursor = journal_end();
    let state = dir.join("state");
    let mut up = Command::new(UPLOAD);
    up.arg(format!("--url=http://127.0.0.1:{port}"))
        .arg(format!("--save-state={}", state.display()));
    if let Some(c) = &cursor {
        up.arg(format!("--after-cursor={c}"));
    }
    let mut upload =
        Started::spawn("systemd-journal-upload", &mut up, dir.join("journal-upload.log"));

    let jsonl = dir.join("findings.jsonl");
    let d =
        Daemon::start(&dir, &[&format!("--output=jsonl:{}", jsonl.display()), "--output=journald"]);
    let container = docker_run_with_socket(&client, &["sh", "-c", "sleep 60"]);
    let id = container.0.clone();
    // A 3000-byte argument, kept whole (the client stays a second, so the
    // argv is read from /proc), makes SOCKWATCH_JSON longer than 4096 bytes.
    let script = format!(
        "cp /client \"{EXE_SH}\" && \"{EXE_SH}\" /var/run/docker.sock \"$(head -c 3000 /dev/zero | tr '\\0' a)\""
    );
    // The client stays a second: the central journal is polled meanwhile.
    let exec = Command::new("docker")
        .args(["exec", "-e", "SW_STAY=1", &id, "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let by_id = format!("CONTAINER_ID={id}");
    let matches = ["SYSLOG_IDENTIFIER=sockwatch", by_id.as_str()];
    let remote_dir = out.to_str().unwrap();
    let waited = Instant::now();
    let central_entries = loop {
        let got = entries(&[&["-D", remote_dir], &matches[..]].concat());
        if !got.is_empty() {
            break got;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "the finding never reached the central journal in 20 s\nsockwatch:\n{}\njournal-upload:\n{}\njournal-remote:\n{}",
            d.log(),
            upload.log(),
            remote.log()
        );
        assert!(upload.running(), "journal-upload exited:\n{}", upload.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    let arrived_us = now_us();
    let exec = exec.wait_with_output().unwrap();
    assert!(exec.status.success(), "{}", String::from_utf8_lossy(&exec.stderr));
    let finding = d.wait_finding("the container's connect", Duration::from_secs(5), |f| {
        f["container"]["id"] == id.as_str()
    });
    let local_entries = entries(&matches);
    assert_eq!(local_entries.len(), 1, "one connect, one local entry: {local_entries:#?}");
    assert_eq!(central_entries.len(), 1, "one connect, one central entry: {central_entries:#?}");
    let (local, central) = (&local_entries[0], &central_entries[0]);

    // Every field arrives as the host's journal holds it, trusted ones (_PID,
    // _HOSTNAME, _BOOT_ID, _MACHINE_ID, ...) and both timestamps included; only
    // the cursor differs, since it names a place in the central file (its own
    // sequence number id and number).
    let (l, c) = (local.as_object().unwrap(), central.as_object().unwrap());
    let mut names: Vec<&String> = l.keys().chain(c.keys()).collect();
    names.sort();
    names.dedup();
    let differ: Vec<&str> =
        names.iter().filter(|n| l.get(**n) != c.get(**n)).map(|n| n.as_str()).collect();
    assert_eq!(differ, ["__CURSOR"], "local:\n{local:#}\ncentral:\n{central:#}");
    for name in [
        "MESSAGE",
        "MESSAGE_ID",
        "PRIORITY",
        "SIGNATURE_ID",
        "OPERATION",
        "CONTAINER_ID",
        "CONTAINER_NAME",
        "CONTAINER_IMAGE",
        "CONTAINER_RUNTIME",
        "PROCESS_PID",
        "PROCESS_EXE",
        "PROCESS_COMM",
        "SOCKET_PATH",
        "SOCKET_WATCHED",
        "OUTCOME",
        "AUDIT_SERIAL",
        "COUNT",
        "SOCKWATCH_JSON",
        "_HOSTNAME",
        "_BOOT_ID",
    ] {
        assert!(c.contains_key(name), "the central entry has {name}: {central:#}");
    }
    assert_eq!(
        c["MESSAGE_ID"],
        sockwatch::core::signature::DOCKER_ABUSE.message_id,
        "the signature's MESSAGE_ID"
    );
    assert_eq!(bytes(&c["PROCESS_EXE"]), EXE, "a binary field arrives byte for byte");
    let json = bytes(&c["SOCKWATCH_JSON"]);
    assert!(json.len() > 4096, "the test's SOCKWATCH_JSON passes journalctl's threshold");
    let parsed: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(parsed, finding, "SOCKWATCH_JSON is the JSON lines finding");
    assert_eq!(bytes(&c["MESSAGE"]), finding["message"].as_str().unwrap().as_bytes());
    assert!(
        entries(&["-D", remote_dir, "CONTAINER_ID=forged"]).is_empty(),
        "no forged CONTAINER_ID centrally"
    );

    let local_us: u64 = l["__REALTIME_TIMESTAMP"].as_str().unwrap().parse().unwrap();
    eprintln!(
        "journal-remote: the finding was in the central journal {:.0} ms after the local journal got it (polled every 50 ms); {} s in all",
        (arrived_us as f64 - local_us as f64) / 1000.0,
        t0.elapsed().as_secs()
    );

    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    assert!(upload.stop().is_some(), "journal-upload stops on SIGTERM");
    let saved = std::fs::read_to_string(&state).unwrap_or_default();
    let seqnum_id = l["__CURSOR"].as_str().unwrap().split(';').next().unwrap();
    assert!(
        saved.contains(&format!("LAST_CURSOR={seqnum_id};")),
        "journal-upload saved a cursor into the host's journal: {saved:?}"
    );
    let st = remote.stop().expect("journal-remote stops on SIGTERM");
    assert!(st.success(), "journal-remote: {st:?}\n{}", remote.log());
    drop(container);
    t.end();
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/examples/journal-remote");
const OPENSSL: &str = "/usr/bin/openssl";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(OPENSSL).current_dir(dir).args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA in `dir`, and `names` certificates it signs (NAME.key, NAME.crt);
/// `san` names the one the uploader checks against its URL.
fn pki(dir: &Path, ca: &str, names: &[(&str, Option<&str>)]) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let (key, crt) = (format!("{ca}.key"), format!("{ca}.crt"));
    let subj = format!("/CN={ca}");
    openssl(
        dir,
        &[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", &key, "-out", &crt, "-days", "2", "-subj", &subj],
        ]
        .concat(),
    );
    for (name, san) in names {
        let (k, csr, c) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"));
        let subj = format!("/CN={name}");
        openssl(dir, &[&["req"], &ec[..], &["-keyout", &k, "-out", &csr, "-subj", &subj]].concat());
        let ext = dir.join(format!("{name}.ext"));
        std::fs::write(&ext, san.map(|s| format!("subjectAltName={s}\n")).unwrap_or_default())
            .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &crt,
                "-CAkey",
                &key,
                "-CAcreateserial",
                "-out",
                &c,
                "-days",
                "2",
                "-extfile",
                ext.to_str().unwrap(),
            ],
        );
    }
}

/// A daemon with the example's drop-in `conf` installed as `dropin` (its URL=
/// set to `url`, as an operator names the central) and the `files` in
/// `ssl_dir`, as an operator installs them, but in a mount
/// namespace of its own where /etc/systemd and /etc/ssl are empty tmpfs: the
/// host's configuration is neither read nor changed. `exec` keeps the pid, so
/// the daemon is the child the guard stops.
fn installed(
    conf: &str,
    dropin: &str,
    url: Option<&str>,
    ssl_dir: &str,
    files: &[(PathBuf, &str)],
) -> Command {
    let url = url.map(|u| format!("s|^URL=.*|URL={u}|")).unwrap_or_default();
    let mut script = format!(
        "set -e; mount -t tmpfs tmpfs /etc/systemd; mount -t tmpfs tmpfs /etc/ssl; \
         mkdir -p /etc/systemd/{dropin}.d {ssl_dir}; \
         sed '{url}' '{EXAMPLE}/{conf}' > /etc/systemd/{dropin}.d/50-test.conf; "
    );
    for (from, to) in files {
        script.push_str(&format!("cp '{}' {ssl_dir}/{to}; ", from.display()));
    }
    script.push_str("exec \"$@\"");
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"]);
    c
}

/// A native journal entry from the test itself, found again by its MESSAGE.
fn log_marker(marker: &str) {
    let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
    let entry = format!("SYSLOG_IDENTIFIER=sockwatch-fleet-test\nMESSAGE={marker}\n");
    sock.send_to(entry.as_bytes(), "/run/systemd/journal/socket").unwrap();
}

/// The shipped HTTPS configuration, as written: journal-remote.conf's key,
/// certificate and CA on the central, journal-upload.conf's on the host
/// (its URL= set to the loopback central, as an operator sets it to theirs;
/// journal-upload refuses --url beside a URL= in its configuration). An entry arrives over TLS; an uploader that trusts another CA
/// refuses the central and sends nothing.
#[test]
fn the_shipped_https_example_carries_entries_and_checks_the_central() {
    if !privileged("the journal-remote HTTPS example")
        || !have(REMOTE, "the journal-remote HTTPS example")
        || !have(UPLOAD, "the journal-remote HTTPS example")
        || !have(OPENSSL, "the journal-remote HTTPS example")
        || !journald_ready()
    {
        return;
    }
    let dir = tempdir("jremote-tls");
    pki(&dir, "ca", &[("central", Some("IP:127.0.0.1")), ("host", None)]);
    pki(&dir, "other-ca", &[]);
    let out = dir.join("remote");
    std::fs::create_dir(&out).unwrap();
    let f = |name: &str| dir.join(name);
    let (mut remote, port) = central(&dir, |port| {
        let mut c = installed(
            "journal-remote.conf",
            "journal-remote.conf",
            None,
            "/etc/ssl/journal-remote",
            &[
                (f("central.key"), "central.key"),
                (f("central.crt"), "central.crt"),
                (f("ca.crt"), "ca.crt"),
            ],
        );
        c.arg(REMOTE)
            .arg(format!("--listen-https=127.0.0.1:{port}"))
            .arg(format!("--output={}/", out.display()));
        c
    });
    let uploader = |ca: &str, after: Option<String>, log: &str| {
        let mut c = installed(
            "journal-upload.conf",
            "journal-upload.conf",
            Some(&format!("https://127.0.0.1:{port}")),
            "/etc/ssl/journal-upload",
            &[(f("host.key"), "host.key"), (f("host.crt"), "host.crt"), (f(ca), "ca.crt")],
        );
        c.arg(UPLOAD).arg(format!("--save-state={}", dir.join(format!("{log}.state")).display()));
        if let Some(a) = after {
            c.arg(format!("--after-cursor={a}"));
        }
        Started::spawn("systemd-journal-upload", &mut c, dir.join(format!("{log}.log")))
    };
    let central_has = |marker: &str| {
        let m = format!("MESSAGE={marker}");
        !entries(&["-D", out.to_str().unwrap(), "SYSLOG_IDENTIFIER=sockwatch-fleet-test", &m])
            .is_empty()
    };

    let mut good = uploader("ca.crt", journal_end(), "good");
    let marker = format!("fleet-tls-{:x}", rand64());
    log_marker(&marker);
    let t0 = Instant::now();
    while !central_has(&marker) {
        assert!(
            t0.elapsed() < Duration::from_secs(20) && good.running(),
            "the entry never arrived over HTTPS\njournal-upload:\n{}\njournal-remote:\n{}",
            good.log(),
            remote.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    good.stop();

    let mut bad = uploader("other-ca.crt", journal_end(), "bad");
    let refused = format!("fleet-tls-refused-{:x}", rand64());
    log_marker(&refused);
    let t0 = Instant::now();
    while bad.running() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "an uploader that does not trust the central's CA kept running:\n{}",
            bad.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = bad.stop().unwrap();
    assert!(!st.success(), "it fails: {}", bad.log());
    assert!(bad.log().contains("SSL certificate problem"), "{}", bad.log());
    assert!(!central_has(&refused), "nothing reached the central from it");
    let st = remote.stop().expect("journal-remote stops on SIGTERM");
    assert!(st.success(), "journal-remote: {st:?}\n{}", remote.log());
    drop((good, bad, remote));
    std::fs::remove_dir_all(&dir).unwrap();
}
