//! The outputs, end to end with real containers: journald (a real
//! systemd-journald, started by tests/env/setup-journald.sh, read back with
//! journalctl), syslog to a test socket, JSON lines with a logrotate-style rename;
//! injection through a process name; de-duplication counts; the allowlist.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
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

    // The catalog entry in packaging/ explains the entry under `journalctl -x`.
    let installed =
        format!("/usr/lib/systemd/catalog/sockwatch-test-{}.catalog", std::process::id());
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/sockwatch.catalog"), &installed)
        .unwrap();
    assert!(run("journalctl", &["--update-catalog"]).status.success());
    let explained = run(
        "journalctl",
        &["-x", "-q", "SYSLOG_IDENTIFIER=sockwatch", &format!("CONTAINER_ID={id}")],
    );
    std::fs::remove_file(&installed).unwrap();
    run("journalctl", &["--update-catalog"]);
    let text = String::from_utf8_lossy(&explained.stdout);
    assert!(
        text.contains("Subject: A container process reached a container runtime's API socket"),
        "{text}"
    );
    assert!(text.contains(&format!("{name} ({id}, image {IMAGE}")), "{text}");
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
