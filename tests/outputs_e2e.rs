//! The outputs, end to end with real containers: journald (a real
//! systemd-journald, started by tests/env/setup-journald.sh, read back with
//! journalctl), syslog to a test socket, JSON lines with a logrotate-style rename;
//! injection through a process name; de-duplication counts; the allowlist. Each
//! signature's own journal entry and catalog explanation, and health events in
//! the journal once when stderr is the journal (a simulated container, no
//! runtime needed).

mod common;

use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const IMAGE: &str = "sockwatch-test:latest";

/// Starts a container with the static client at /client and the Docker socket
/// mounted; returns its id.
fn container(name: &str, client: &Path, script: &str) -> String {
    container_of(IMAGE, name, client, script)
}

fn container_of(image: &str, name: &str, client: &Path, script: &str) -> String {
    let vol = format!("{}:/client:ro", client.display());
    let out = run(
        "docker",
        &[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            "-v",
            &vol,
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            image,
            "sh",
            "-c",
            script,
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn exec(id: &str, script: &str) {
    let out = run("docker", &["exec", id, "sh", "-c", script]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    findings_in(path)
}

/// Up to `want` findings' datagrams.
fn recv_all(sock: &UnixDatagram, want: usize, timeout: Duration) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while got.len() < want && t0.elapsed() < timeout {
        if let Ok(n) = sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            // Health events (audit_enabled_late on a host booted without
            // audit=1) share the socket; these tests count findings.
            if !m.contains("[sockwatch-health@") {
                got.push(m);
            }
        }
    }
    got
}

/// The injected name: a newline, then what a forged journald field would be.
const EVIL: &str = "x\\nCONTAINER_ID=forged";

#[test]
fn every_output_carries_findings_exactly_and_safely() {
    if !privileged("outputs end-to-end")
        || !runtime_ready("docker", IMAGE, "tests/env/setup-docker.sh")
        || !journald_ready()
    {
        return;
    }
    let t = AuditTest::begin("outputs");
    let dir = t.dir.clone();
    let client = build_client(&dir);
    let syslog_path = dir.join("syslog.sock");
    let syslog = UnixDatagram::bind(&syslog_path).unwrap();
    let jsonl = dir.join("findings.jsonl");
    let (o1, o2, o3) = (
        format!("--output=jsonl:{}", jsonl.display()),
        "--output=journald".to_string(),
        format!("--output=syslog:{}", syslog_path.display()),
    );
    let d = Daemon::start(&dir, &[&o1, &o2, &o3]);
    let name = format!("sw-out-{:x}", rand64());
    let id = container(&name, &client, "sleep 60");
    // A client whose executable's name holds a newline and a journald field.
    exec(
        &id,
        &format!(
            "cp /client \"/tmp/$(printf '{EVIL}')\" && \"/tmp/$(printf '{EVIL}')\" /var/run/docker.sock"
        ),
    );
    let f = d.wait_finding("the injected client", Duration::from_secs(10), |f| {
        f["container"]["id"] == id.as_str()
    });
    assert_eq!(
        f["process"]["exe"], "/tmp/x\nCONTAINER_ID=forged",
        "JSON carries it exactly, escaped"
    );

    // syslog: one datagram, one container_id parameter, no raw newline.
    let msgs = recv_all(&syslog, 1, Duration::from_secs(5));
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let m = &msgs[0];
    assert!(m.starts_with("<84>1 "), "authpriv.warning in RFC 5424: {m}");
    assert!(!m.contains('\n'), "{m}");
    let sd = &m[..m.find("] Docker socket abuse").unwrap()];
    assert_eq!(sd.matches(" container_id=\"").count(), 1, "{m}");
    assert!(sd.contains(&format!("container_id=\"{id}\"")), "{m}");
    assert!(sd.contains(r#"process_exe="/tmp/x\x0aCONTAINER_ID=forged""#), "{m}");

    // journald: found by identifier and the real container id; nothing forged.
    let mut entry = serde_json::Value::Null;
    for _ in 0..50 {
        let out = run(
            "journalctl",
            &["-o", "json", "SYSLOG_IDENTIFIER=sockwatch", &format!("CONTAINER_ID={id}")],
        );
        if let Some(l) = String::from_utf8_lossy(&out.stdout).lines().next() {
            entry = serde_json::from_str(l).unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(entry["CONTAINER_ID"], id.as_str(), "journalctl finds the entry by CONTAINER_ID");
    assert_eq!(entry["CONTAINER_NAME"], name.as_str());
    assert_eq!(entry["MESSAGE_ID"], "33a7ba8e4bf9478b9a8a16e90c3ca0fa");
    assert_eq!(entry["PRIORITY"], "4");
    // journalctl writes a value as a JSON string, or as an array of bytes when it
    // is not printable UTF-8.
    let exe: Vec<u8> = match &entry["PROCESS_EXE"] {
        serde_json::Value::String(s) => s.as_bytes().to_vec(),
        serde_json::Value::Array(a) => a.iter().map(|b| b.as_u64().unwrap() as u8).collect(),
        other => panic!("PROCESS_EXE: {other}"),
    };
    assert_eq!(exe, b"/tmp/x\nCONTAINER_ID=forged");
    assert!(!entry["MESSAGE"].as_str().unwrap().contains('\n'));
    let forged = run("journalctl", &["-q", "-o", "json", "CONTAINER_ID=forged"]);
    assert!(forged.stdout.is_empty(), "no entry has a forged CONTAINER_ID");

    // syslog's socket goes away and comes back: the finding made meanwhile arrives.
    drop(syslog);
    std::fs::remove_file(&syslog_path).unwrap();
    exec(&id, "/client /var/run/docker.sock");
    d.wait_finding("second connect", Duration::from_secs(10), |_| lines(&jsonl).len() >= 2);
    let syslog = UnixDatagram::bind(&syslog_path).unwrap();
    let msgs = recv_all(&syslog, 1, Duration::from_secs(12));
    assert_eq!(msgs.len(), 1, "retried once the socket was back");

    // logrotate: rename, SIGHUP, and the next finding goes to a new file.
    let rotated = dir.join("findings.jsonl.1");
    std::fs::rename(&jsonl, &rotated).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    d.wait_log("SIGHUP: outputs reopened", Duration::from_secs(5));
    exec(&id, "/client /var/run/docker.sock");
    for _ in 0..100 {
        if !lines(&jsonl).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (st, log) = d.stop();
    run("docker", &["rm", "-f", &id]);
    assert!(st.success(), "{log}");
    assert_eq!(lines(&rotated).len(), 2, "the old file keeps its lines");
    assert_eq!(lines(&jsonl).len(), 1, "the new file has the line after SIGHUP");
    for l in std::fs::read_to_string(&rotated)
        .unwrap()
        .lines()
        .chain(std::fs::read_to_string(&jsonl).unwrap().lines())
    {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "every line is whole JSON: {l:?}"
        );
    }

    // The catalog entry in packaging/ explains the entry under `journalctl -x`,
    // the summary line (which names the container and its image) filled in.
    let text = {
        let _catalog = Catalog::install();
        explained(&["SYSLOG_IDENTIFIER=sockwatch", &format!("CONTAINER_ID={id}")])
    };
    assert!(
        text.contains("Subject: A container process connected to a container runtime's API socket"),
        "{text}"
    );
    assert!(text.contains(&format!("in container {name} ({IMAGE}) connected to")), "{text}");
    t.end();
}

/// packaging/sockwatch.catalog installed beside the system's catalogs under a
/// name of its own, and the catalog database rebuilt; removed (and rebuilt) on
/// drop.
struct Catalog(PathBuf);

impl Catalog {
    fn install() -> Catalog {
        let path = PathBuf::from(format!(
            "/usr/lib/systemd/catalog/sockwatch-test-{}-{:x}.catalog",
            std::process::id(),
            rand64()
        ));
        std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/sockwatch.catalog"), &path)
            .unwrap();
        let out = run("journalctl", &["--update-catalog"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Catalog(path)
    }
}

impl Drop for Catalog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        run("journalctl", &["--update-catalog"]);
    }
}

/// `journalctl -x` of the entries `matches` selects, as one line of words:
/// the catalog's lines (marked `░░` in front) joined, so that a phrase the
/// catalog wraps is found whole.
fn explained(matches: &[&str]) -> String {
    let out = run("journalctl", &[&["-x", "-q", "--no-pager"], matches].concat());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches(|c: char| c == '░' || c.is_whitespace()))
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The journal entries `matches` selects, as journalctl's JSON; waits up to 5 s
/// for at least `want` of them.
fn journal(matches: &[&str], want: usize) -> Vec<serde_json::Value> {
    let t0 = Instant::now();
    loop {
        let out = run("journalctl", &[&["-q", "-o", "json", "--no-pager"], matches].concat());
        let entries: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if entries.len() >= want || t0.elapsed() > Duration::from_secs(5) {
            return entries;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each signature is its own journal entry: its own MESSAGE_ID, MESSAGE (the
/// JSON's `message`), PRIORITY, and its own catalog explanation under
/// `journalctl -x`, with that entry's fields filled in. The changes to the
/// socket are made from the host: their process is marked `host` in the JSON
/// and the journal alike.
#[test]
fn each_signature_has_its_own_journal_entry_and_explanation() {
    if !privileged("per-signature journal entries") || !journald_ready() {
        return;
    }
    let t = AuditTest::begin("journal-signatures");
    let dir = t.dir.clone();
    let real = dir.join("real.sock");
    let listener = UnixListener::bind(&real).unwrap();
    let jsonl = dir.join("findings.jsonl");
    let d = Daemon::start(
        &dir,
        &[
            "--socket",
            real.to_str().unwrap(),
            "--output=journald",
            &format!("--output=jsonl:{}", jsonl.display()),
        ],
    );
    let wait = |sig: &str, pred: &dyn Fn(&serde_json::Value) -> bool| {
        let t0 = Instant::now();
        loop {
            if let Some(f) =
                records_in(&jsonl).into_iter().find(|f| f["signature"]["id"] == sig && pred(f))
            {
                return f;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "no {sig} finding; log:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // TRC-1019: a simulated container connects.
    let c = FakeContainer::new();
    let out = c.sh(&connect_cmd(&real));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let connect = wait("TRC-1019", &|_| true);
    // SW-1001: the host makes the socket writable by everyone; SW-1002: the
    // host replaces it. Each process stays a moment, so that sockwatch finds it
    // in /proc and can prove it is the host's (one gone at once has an unknown
    // origin, as it should).
    let host_does = |code: &str| {
        let script =
            format!("import os,socket,time; p={:?}; {code}; time.sleep(1)", real.to_str().unwrap());
        let out = run("python3", &["-c", &script]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    host_does("os.chmod(p, 0o666)");
    let chmod = wait("SW-1001", &|f| f["operation"] == "chmod");
    drop(listener);
    host_does("os.unlink(p); s=socket.socket(socket.AF_UNIX); s.bind(p)");
    let create = wait("SW-1002", &|f| f["operation"] == "create");

    // The JSON: a priority word, the summary, and the host marked as such.
    let short = &c.id[..12];
    assert_eq!(connect["priority"], "warning");
    assert_eq!(connect["container"]["id"], c.id.as_str());
    let m = connect["message"].as_str().unwrap();
    assert!(m.starts_with("Docker socket abuse detected: socat (pid "), "{m}");
    assert!(m.ends_with(&format!(" in container {short} connected to {}", real.display())), "{m}");
    let host =
        serde_json::json!({"id": "host", "runtime": "host", "name": "host", "attributed_by": null});
    for f in [&chmod, &create] {
        assert_eq!(f["container"], host, "{f:#}");
        assert_eq!(f["priority"], "error", "severity 3: {f:#}");
    }
    let m = chmod["message"].as_str().unwrap();
    assert!(
        m.starts_with(&format!(
            "Runtime socket permissions changed: chmod of {} (mode ",
            real.display()
        )),
        "{m}"
    );
    assert!(
        m.contains(" -> 0666, writable by everyone) by ") && m.ends_with(" on the host"),
        "{m}"
    );
    let m = create["message"].as_str().unwrap();
    assert!(
        m.starts_with(&format!(
            "Runtime socket replaced: {} created or moved into place by ",
            real.display()
        )),
        "{m}"
    );
    assert!(m.ends_with(" on the host"), "{m}");

    // The journal: one entry per finding, each with its signature's id.
    let watched = format!("SOCKET_WATCHED={}", real.display());
    let entries = journal(
        &["SYSLOG_IDENTIFIER=sockwatch", &watched],
        records_in(&jsonl).iter().filter(|r| r["kind"] == "finding").count(),
    );
    let entry = |f: &serde_json::Value| {
        entries
            .iter()
            .find(|e| {
                serde_json::from_str::<serde_json::Value>(e["SOCKWATCH_JSON"].as_str().unwrap())
                    .unwrap()
                    == *f
            })
            .unwrap_or_else(|| panic!("no journal entry for {f:#}; entries: {entries:#?}"))
            .clone()
    };
    #[rustfmt::skip]
    let rows = [
        (&connect, "33a7ba8e4bf9478b9a8a16e90c3ca0fa", "4", "connect", c.id.as_str()),
        (&chmod, "926b6fdb4ed14199a6361df540002200", "3", "chmod", "host"),
        (&create, "c70ad51e2cec49b081004934b5b5da06", "3", "create", "host"),
    ];
    for (f, id, priority, operation, container) in rows {
        let e = entry(f);
        assert_eq!(e["MESSAGE_ID"], id, "{e:#}");
        assert_eq!(e["MESSAGE"], f["message"], "{e:#}");
        assert_eq!(e["PRIORITY"], priority, "{e:#}");
        assert_eq!(e["OPERATION"], operation, "{e:#}");
        assert_eq!(e["CONTAINER_ID"], container, "{e:#}");
    }
    assert_eq!(entry(&chmod)["CONTAINER_RUNTIME"], "host");

    // journalctl -x: each its own explanation, its fields filled in.
    let (text_connect, text_chmod, text_create) = {
        let _catalog = Catalog::install();
        let x = |sig: &str| {
            explained(&["SYSLOG_IDENTIFIER=sockwatch", &watched, &format!("SIGNATURE_ID={sig}")])
        };
        (x("TRC-1019"), x("SW-1001"), x("SW-1002"))
    };
    let path = real.display().to_string();
    let says = |text: &str, phrases: &[&str]| {
        for p in phrases {
            assert!(text.contains(p), "{p:?} not in: {text}");
        }
    };
    says(
        &text_connect,
        &[
            "Subject: A container process connected to a container runtime's API socket",
            &format!(
                "connected to {path}, a container runtime's API socket (the name it used is in SOCKET_PATH). Outcome: success."
            ),
            "The process's container runtime: docker",
            "This is signature TRC-1019",
            "This entry stands for 1 connect(s)",
        ],
    );
    says(
        &text_chmod,
        &[
            "Subject: The permissions of a container runtime's API socket were changed",
            chmod["message"].as_str().unwrap(),
            &format!(
                "The mode, owner, group or ACL of {path}, a container runtime's API socket, was changed (chmod)"
            ),
            "Where that process was: host (\"host\" for a process on the host",
            "This is signature SW-1001",
        ],
    );
    says(
        &text_create,
        &[
            "Subject: A container runtime's API socket was replaced",
            create["message"].as_str().unwrap(),
            &format!("{path}, a container runtime's API socket, was deleted or created (create)"),
            "This is signature SW-1002",
        ],
    );
    assert!(
        !text_chmod.contains("This is signature TRC-1019")
            && !text_chmod.contains("This is signature SW-1002"),
        "{text_chmod}"
    );
    assert!(!text_create.contains("This is signature SW-1001"), "{text_create}");
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    drop(c);
    t.end();
}

/// `sockwatch run` with stderr a journal stream (systemd-cat), `$JOURNAL_STREAM`
/// naming it as systemd sets it for a unit (systemd-cat does not set it), with
/// or without the journald output. A health event (`socket_watched`: a watched
/// socket's directory appears) is in the journal once either way: as the
/// native entry when the journald output is on, else as the stderr line.
#[test]
fn health_events_are_in_the_journal_once_when_stderr_is_the_journal() {
    if !privileged("health events under a journal stream") || !journald_ready() {
        return;
    }
    let t = AuditTest::begin("journal-stream");
    for journald_output in [true, false] {
        let dir = t.dir.join(if journald_output { "with" } else { "without" });
        std::fs::create_dir_all(&dir).unwrap();
        let later = dir.join("later");
        let sock = later.join("s.sock");
        let ident = format!("sockwatch-test-{:x}", rand64());
        let mut args = vec![
            "--log-level".to_string(),
            "debug".into(),
            "run".into(),
            "--config".into(),
            "/dev/null".into(),
            "--dedup-window".into(),
            "0".into(),
            "--socket".into(),
            sock.display().to_string(),
            format!("--output=jsonl:{}", dir.join("f.jsonl").display()),
        ];
        if journald_output {
            args.push("--output=journald".into());
        }
        // The stream's device and inode, as systemd puts them in the variable.
        let script = r#"JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$0" "$@""#;
        let mut child = Command::new("systemd-cat")
            .args(["-t", &ident, "sh", "-c", script, BIN])
            .args(&args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let logged = |needle: &str| {
            let out = run(
                "journalctl",
                &["-q", "-o", "cat", "--no-pager", &format!("SYSLOG_IDENTIFIER={ident}")],
            );
            String::from_utf8_lossy(&out.stdout).contains(needle)
        };
        let t0 = Instant::now();
        while !logged("sockwatch: info: ready") {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "sockwatch never logged ready under {ident}"
            );
            assert!(child.try_wait().unwrap().is_none(), "sockwatch exited");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(logged("stderr is the journal"), journald_output, "{ident}");
        std::fs::create_dir(&later).unwrap();
        let t0 = Instant::now();
        while !records_in(&dir.join("f.jsonl")).iter().any(|r| r["event"] == "socket_watched") {
            assert!(t0.elapsed() < Duration::from_secs(10), "no socket_watched health event");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Stop it and wait for its last stderr line: the stream is read in
        // order, so a health line written before would be in the journal.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert!(child.wait().unwrap().success());
        let t0 = Instant::now();
        while !logged("sockwatch: info: stopped: ") {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no final line (stopped) under {ident}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let needle = format!("{}: its directory appeared", sock.display());
        let entries: Vec<serde_json::Value> = journal(&[&format!("_PID={pid}")], 1)
            .into_iter()
            .filter(|e| e["MESSAGE"].as_str().is_some_and(|m| m.contains(&needle)))
            .collect();
        assert_eq!(entries.len(), 1, "journald output {journald_output}: {entries:#?}");
        let e = &entries[0];
        if journald_output {
            assert_eq!(e["HEALTH_EVENT"], "socket_watched", "the native entry: {e:#}");
            assert_eq!(e["MESSAGE_ID"], "c5f7e0a2b7f94c1c9a3d1e6b8f2d4a90");
        } else {
            assert_eq!(e["SYSLOG_IDENTIFIER"], ident.as_str(), "the stderr line: {e:#}");
            assert!(
                e["MESSAGE"].as_str().unwrap().starts_with("sockwatch: info: health: "),
                "{e:#}"
            );
        }
    }
    t.end();
}

#[test]
fn repeated_connects_fold_and_allowed_containers_are_counted_not_reported() {
    if !privileged("dedup and allowlist end-to-end")
        || !runtime_ready("docker", IMAGE, "tests/env/setup-docker.sh")
    {
        return;
    }
    let t = AuditTest::begin("dedup");
    let dir = t.dir.clone();
    let client = build_client(&dir);
    let cfg = dir.join("sockwatch.toml");
    std::fs::write(
        &cfg,
        "dedup_window = 2\n\n[[allow]]\nname = \"sw-allowed-*\"\nimage = \"sockwatch-test:*\"\n",
    )
    .unwrap();
    let d = Daemon::start(&dir, &["--config", cfg.to_str().unwrap(), "--dedup-window", "2"]);
    let suffix = format!("{:x}", rand64());
    let allowed = container(&format!("sw-allowed-{suffix}"), &client, "sleep 60");
    let noisy = container(&format!("sw-noisy-{suffix}"), &client, "sleep 60");
    exec(&allowed, "/client /var/run/docker.sock");
    // Five connects in well under the window: one at once, one summary of four.
    exec(&noisy, "for i in 1 2 3 4 5; do /client /var/run/docker.sock; done");
    let first = d.wait_finding("first of five", Duration::from_secs(10), |f| {
        f["container"]["id"] == noisy.as_str()
    });
    assert_eq!(first["count"], 1);
    let summary = d.wait_finding("the summary", Duration::from_secs(10), |f| {
        f["container"]["id"] == noisy.as_str() && f["count"] != 1
    });
    assert_eq!(summary["count"], 4);
    let (st, log) = d.stop();
    run("docker", &["rm", "-f", &allowed, &noisy]);
    assert!(st.success(), "{log}");
    let all = lines(&dir.join("findings.jsonl"));
    let noisy_counts: u64 = all
        .iter()
        .filter(|f| f["container"]["id"] == noisy.as_str())
        .map(|f| f["count"].as_u64().unwrap())
        .sum();
    assert_eq!(noisy_counts, 5, "counts add up to the connects: {all:#?}");
    assert!(
        all.iter().all(|f| f["container"]["id"] != allowed.as_str()),
        "the allowed container is not reported"
    );
    assert!(log.contains("allowed=1"), "but it is counted: {log}");
    t.end();
}

/// An allow entry on the image's content (`image_id`) keeps allowing its
/// containers, while another image given the same repository's tag (`docker tag`
/// is anyone's to run) is reported; an entry that rests only on names is warned
/// about at start.
#[test]
fn an_image_id_allow_entry_is_not_fooled_by_a_tag() {
    if !privileged("image_id allow end-to-end")
        || !runtime_ready("docker", IMAGE, "tests/env/setup-docker.sh")
    {
        return;
    }
    let t = AuditTest::begin("image-id");
    let dir = t.dir.clone();
    let client = build_client(&dir);
    let inspect = |what: &str| {
        let out = run("docker", &["image", "inspect", "-f", "{{.Id}}", what]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let trusted = inspect(IMAGE);
    // Other content under the trusted repository's name.
    let suffix = format!("{:x}", rand64());
    let base = run("docker", &["create", IMAGE, "true"]);
    let base = String::from_utf8(base.stdout).unwrap().trim().to_string();
    let evil_tag = format!("sockwatch-test:evil-{suffix}");
    let out = run("docker", &["commit", "--change", "LABEL evil=1", &base, &evil_tag]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    run("docker", &["rm", "-f", &base]);
    let evil = inspect(&evil_tag);
    assert_ne!(evil, trusted);
    let cfg = dir.join("sockwatch.toml");
    std::fs::write(
        &cfg,
        format!("[[allow]]\nimage_id = \"{trusted}\"\n\n[[allow]]\nname = \"sw-none-*\"\n"),
    )
    .unwrap();
    let d = Daemon::start(&dir, &["--config", cfg.to_str().unwrap()]);
    assert!(
        d.log().contains("allow[1] matches only on what whoever starts a container chooses"),
        "{}",
        d.log()
    );
    assert!(!d.log().contains("allow[0] matches only"), "{}", d.log());
    let ok = container(&format!("sw-trusted-{suffix}"), &client, "sleep 60");
    let bad = container_of(&evil_tag, &format!("sw-retagged-{suffix}"), &client, "sleep 60");
    exec(&ok, "/client /var/run/docker.sock");
    exec(&bad, "/client /var/run/docker.sock");
    let f = d.wait_finding("the retagged image", Duration::from_secs(10), |f| {
        f["container"]["id"] == bad.as_str()
    });
    assert_eq!(f["container"]["image"], evil_tag.as_str());
    assert_eq!(f["container"]["image_id"], evil.as_str());
    // The trusted container's connect came first and was allowed, not reported.
    std::thread::sleep(Duration::from_millis(500));
    let (st, log) = d.stop();
    run("docker", &["rm", "-f", &ok, &bad]);
    run("docker", &["rmi", &evil_tag]);
    assert!(st.success(), "{log}");
    assert!(lines(&dir.join("findings.jsonl")).iter().all(|f| f["container"]["id"] != ok.as_str()));
    assert!(log.contains("allowed=1"), "{log}");
    t.end();
}
