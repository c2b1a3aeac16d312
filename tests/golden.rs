//! Golden output: the findings for each capture in tests/data, compared byte for
//! byte with `tests/data/*.expected.jsonl` (tests/common/golden.rs). After a
//! deliberate change to the output, rewrite them with
//! `SOCKWATCH_BLESS=1 cargo test --test golden` and review the git diff.
//! No root needed.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::golden::{self, DATA, Mask};
use common::{BIN, tempdir};
use sockwatch::core::assemble::Assembler;
use sockwatch::core::cgroup::{Container, Runtime};
use sockwatch::core::connect;
use sockwatch::core::detect::{self, FileId, Process, WatchedSocket};
use sockwatch::core::origin::{Attribution, By, Origin};
use sockwatch::core::record::Record;

/// Nothing is masked in `scan`'s findings: their `time` is the event's own audit
/// stamp, and their hostname is the log's `node=` (null without it), never this
/// machine's, so every byte is the same wherever and whenever the test runs.
const SCAN_MASKS: &[Mask] = &[];

/// In `run`'s findings the `time` is the clock when the finding was written and the
/// hostname is this machine's.
const RUN_MASKS: &[Mask] = &[("/time", "<time>"), ("/host/hostname", "<hostname>")];

/// The socket identity of the auditd captures.
fn auditd_socket() -> String {
    std::fs::read_to_string(format!("{DATA}/auditd-6.18.socket")).unwrap().trim().to_string()
}

/// The socket identity of records-6.18.txt (and malformed.txt, cut from it).
const RECORDS_SOCKET: &str = "fe:00:10010627";

/// `sockwatch --config CONFIG scan ARGS` (as tests/scan.rs runs it); the scan must
/// succeed. Returns its standard output, the findings.
fn scan(config: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["--config", config, "scan"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sockwatch scan {args:?} failed: {err}");
    String::from_utf8(out.stdout).expect("findings are UTF-8")
}

#[test]
fn scan_auditd_raw_log() {
    let out = scan(
        "/dev/null",
        &["--socket-inode", &auditd_socket(), &format!("{DATA}/auditd-raw-6.18.log")],
    );
    golden::check("auditd-raw-6.18.expected.jsonl", &out, SCAN_MASKS);
}

#[test]
fn scan_auditd_enriched_log() {
    let log = format!("{DATA}/auditd-enriched-6.18.log");
    let out = scan("/dev/null", &["--socket-inode", &auditd_socket(), &log]);
    golden::check("auditd-enriched-6.18.expected.jsonl", &out, SCAN_MASKS);
}

#[test]
fn scan_raw_netlink_text() {
    let out =
        scan("/dev/null", &["--socket-inode", RECORDS_SOCKET, &format!("{DATA}/records-6.18.txt")]);
    golden::check("records-6.18.expected.jsonl", &out, SCAN_MASKS);
}

/// One capture in each opt-in format (`--format ecs|ocsf`), as `scan` writes
/// it; the product's version in OCSF's metadata is masked, so a release does
/// not rewrite the file.
#[test]
fn scan_raw_netlink_text_as_ecs() {
    let log = format!("{DATA}/records-6.18.txt");
    let out = scan("/dev/null", &["--format", "ecs", "--socket-inode", RECORDS_SOCKET, &log]);
    golden::check("records-6.18.ecs.expected.jsonl", &out, SCAN_MASKS);
}

#[test]
fn scan_raw_netlink_text_as_ocsf() {
    let log = format!("{DATA}/records-6.18.txt");
    let out = scan("/dev/null", &["--format", "ocsf", "--socket-inode", RECORDS_SOCKET, &log]);
    golden::check(
        "records-6.18.ocsf.expected.jsonl",
        &out,
        &[("/metadata/product/version", "<version>")],
    );
}

#[test]
fn scan_malformed_input() {
    let out =
        scan("/dev/null", &["--socket-inode", RECORDS_SOCKET, &format!("{DATA}/malformed.txt")]);
    golden::check("malformed.expected.jsonl", &out, SCAN_MASKS);
}

#[test]
fn scan_auditd_raw_log_with_an_exe_allowlist() {
    // The io_uring client of the capture allowed by its exe: the other two remain.
    let dir = tempdir("golden-allow");
    let cfg = dir.join("sockwatch.toml");
    std::fs::write(&cfg, "[[allow]]\nexe = \"/tmp/sockwatch-capture.JUdwk3/client_uring\"\n")
        .unwrap();
    let log = format!("{DATA}/auditd-raw-6.18.log");
    let out = scan(cfg.to_str().unwrap(), &["--socket-inode", &auditd_socket(), &log]);
    std::fs::remove_dir_all(&dir).unwrap();
    golden::check("auditd-raw-6.18.allow-exe.expected.jsonl", &out, SCAN_MASKS);
}

/// Every connect in `capture` that reaches `watched`, as the JSON line `run` writes
/// for it with `origin`: records parsed and assembled into events, connects
/// extracted, and made findings by `detect::detect`, the function `run` and `scan`
/// both go through. The clock and the hostname are fixed (and masked
/// all the same, as `run` takes them from the machine).
fn finding_lines(capture: &[u8], watched: &WatchedSocket, origin: &Origin) -> String {
    let t0 = Instant::now();
    let mut assembler = Assembler::new(Duration::from_millis(500), 1024);
    let mut events = Vec::new();
    for line in capture.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let record = Record::parse_line(line).expect("the capture parses");
        assembler.push(record, t0, &mut events);
    }
    assembler.expire(t0 + Duration::from_secs(1), &mut events);
    let watched = std::slice::from_ref(watched);
    let mut out = String::new();
    for c in events.iter().filter_map(connect::extract) {
        let look = |_: &_| Process { origin: origin.clone() };
        let now = "2026-01-01T00:00:00.000000Z".to_string();
        let Ok(d) = detect::detect(&c, watched, None, look, now, Some("golden-host")) else {
            continue;
        };
        out.push_str(&serde_json::to_string(&d.finding).unwrap());
        out.push('\n');
    }
    out
}

#[test]
fn container_findings_from_captured_records() {
    let capture = std::fs::read(format!("{DATA}/records-6.18.txt")).unwrap();
    let watched = WatchedSocket::new(
        "/run/docker.sock".into(),
        Some(FileId { major: 0xfe, minor: 0, inode: 10010627 }),
    );
    let origin = Origin::Container(Attribution {
        container: Container { runtime: Runtime::Docker, id: "d".repeat(64), pod_uid: None },
        by: By::Pid,
        meta: None,
    });
    let out = finding_lines(&capture, &watched, &origin);
    golden::check("records-6.18.container.expected.jsonl", &out, RUN_MASKS);
}

#[test]
fn masking_touches_only_the_named_string_values() {
    let line = r#"{"time":"t","a":{"time":"t2","s":"x\"}"},"host":{"hostname":"box"},"n":null}"#;
    let masks = [("/time", "<time>"), ("/host/hostname", "<h>"), ("/n", "<n>"), ("/z", "<z>")];
    assert_eq!(
        golden::mask(line, &masks),
        r#"{"time":"<time>","a":{"time":"t2","s":"x\"}"},"host":{"hostname":"<h>"},"n":null}"#
    );
}
