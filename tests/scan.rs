//! `sockwatch scan` on real logs: auditd's RAW (with node=) and ENRICHED logs and
//! raw netlink text, all captured on 6.18 (tests/data/capture/), the same records
//! gzipped and as journald's export and JSON output, plus damaged input, input
//! that is no audit log, standard input and several files; matching by rule key
//! and by name, time windows, the summary and the exit statuses. No root needed.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn socket() -> String {
    std::fs::read_to_string(format!("{DATA}/auditd-6.18.socket")).unwrap().trim().to_string()
}

/// Runs scan; returns the findings, stderr and whether it exited 0.
fn scan(args: &[&str], stdin: Option<&[u8]>) -> (Vec<serde_json::Value>, String, bool) {
    let (f, err, code) = scan_code("/dev/null", args, stdin);
    (f, err, code == 0)
}

fn scan_with(
    config: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
) -> (Vec<serde_json::Value>, String, bool) {
    let (f, err, code) = scan_code(config, args, stdin);
    (f, err, code == 0)
}

/// Runs scan with this configuration: stdout, stderr and the exit status.
fn scan_raw(config: &str, args: &[&str], stdin: Option<&[u8]>) -> (Vec<u8>, String, i32) {
    let mut child = Command::new(BIN)
        .args(["--config", config, "scan"])
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        // An input that is no audit log is not read past its start.
        if let Err(e) = child.stdin.take().unwrap().write_all(input) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
    }
    let out = child.wait_with_output().unwrap();
    (out.stdout, String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code().unwrap())
}

/// Runs scan; returns the findings, stderr and the exit status.
fn scan_code(
    config: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
) -> (Vec<serde_json::Value>, String, i32) {
    let (stdout, stderr, code) = scan_raw(config, args, stdin);
    let findings = String::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (findings, stderr, code)
}

/// Runs scan and returns stdout as text (for --summary).
fn scan_text(args: &[&str], stdin: Option<&[u8]>) -> (String, String, i32) {
    let (stdout, stderr, code) = scan_raw("/dev/null", args, stdin);
    (String::from_utf8_lossy(&stdout).into_owned(), stderr, code)
}

fn matched_by(f: &serde_json::Value) -> Option<&str> {
    f.get("details").map(|d| d["matched_by"].as_str().unwrap())
}

fn serials(f: &[serde_json::Value]) -> Vec<u64> {
    f.iter().map(|f| f["audit"]["serial"].as_u64().unwrap()).collect()
}

#[test]
fn auditd_raw_and_enriched_logs_give_the_same_findings() {
    let s = socket();
    let (raw, err, ok) =
        scan(&["--socket-inode", &s, &format!("{DATA}/auditd-raw-6.18.log")], None);
    assert!(ok, "{err}");
    let (enriched, err2, ok2) =
        scan(&["--socket-inode", &s, &format!("{DATA}/auditd-enriched-6.18.log")], None);
    assert!(ok2, "{err2}");
    // The alias (bind mount), the real name, the refused connect to dead.sock
    // (another inode, but sockwatch's rule matched it when the log was written:
    // the capture watched it too), io_uring.
    assert_eq!(raw.len(), 4, "{raw:#?}\n{err}");
    assert_eq!(
        raw.iter().map(matched_by).collect::<Vec<_>>(),
        [None, None, Some("rule_key"), None]
    );
    assert_eq!(raw[2]["socket"]["watched"].as_str().unwrap().rsplit('/').next(), Some("dead.sock"));
    let shape = |f: &serde_json::Value| {
        (
            f["socket"]["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string(),
            f["process"]["comm"].clone(),
            f["outcome"].clone(),
            f["socket"]["inode"].clone(),
        )
    };
    assert_eq!(
        raw.iter().map(shape).collect::<Vec<_>>(),
        enriched.iter().map(shape).collect::<Vec<_>>()
    );
    assert_eq!(raw[0]["socket"]["path"], "alias.sock");
    assert_eq!(raw[3]["process"]["comm"], "client_uring");
    // node= names the host; without it the host is unknown, not this machine.
    assert!(raw.iter().all(|f| f["host"]["hostname"] == "test-node"));
    assert!(enriched.iter().all(|f| f["host"]["hostname"].is_null()));
    // The same finding format as `run`, saying plainly what offline cannot know.
    for f in &raw {
        assert_eq!(f["kind"], "finding");
        assert_eq!(f["signature"]["id"], "TRC-1019");
        assert_eq!(f["container"]["runtime"], "unknown");
        assert!(f["container"]["id"].is_null());
        assert!(f["container"]["note"].as_str().unwrap().contains("offline"));
        assert_eq!(
            f["time"].as_str().unwrap().len(),
            "2026-11-28T10:52:42.123Z".len(),
            "the event's own time"
        );
    }
    assert!(err.contains("4 findings") && err.contains("container: unknown"), "{err}");
    assert!(err.contains("1 by sockwatch's rule key"), "{err}");
}

#[test]
fn raw_netlink_text_is_read_too() {
    let (f, err, ok) =
        scan(&["--socket-inode", "fe:00:10010627", &format!("{DATA}/records-6.18.txt")], None);
    assert!(ok, "{err}");
    // As the replay test: alias, non-UTF-8 alias, real name, EACCES, io_uring;
    // and by sockwatch's rule key the refused connect to dead.sock (43).
    assert_eq!(serials(&f), [40, 41, 42, 43, 44, 45]);
    assert_eq!(matched_by(&f[3]), Some("rule_key"));
    assert_eq!(f[4]["outcome"]["errno"], "EACCES");
    assert!(f[1]["socket"]["path_hex"].is_string(), "{:#}", f[1]);
}

#[test]
fn damage_is_counted_and_named_and_the_good_events_still_count() {
    let (f, err, ok) =
        scan(&["--socket-inode", "fe:00:10010627", &format!("{DATA}/malformed.txt")], None);
    assert!(ok, "{err}");
    assert_eq!(f.len(), 1, "{err}");
    assert!(err.contains("6 malformed line(s) skipped"), "{err}");
    assert!(err.contains("malformed.txt:4: malformed audit(SEC.MSEC:SERIAL) stamp"), "{err}");
    // Bytes that are not text, an endless line: counted, never a crash.
    let mut junk = b"\xff\xfe\x00garbage\n".to_vec();
    junk.extend(std::iter::repeat_n(b'x', 3 << 20));
    junk.extend_from_slice(b"\ntype=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=42\n");
    let (f, err, code) = scan_code("/dev/null", &["--socket-inode", "fe:00:1", "-"], Some(&junk));
    assert!(code == 1 && f.is_empty(), "no findings, but a record: exit 1: {err}");
    assert!(err.contains("2 malformed line(s)") && err.contains("longer than"), "{err}");
}

#[test]
fn stdin_several_files_and_an_unreadable_one() {
    let s = socket();
    let raw = std::fs::read(format!("{DATA}/auditd-raw-6.18.log")).unwrap();
    let (f, err, ok) = scan(&["--socket-inode", &s], Some(&raw));
    assert!(ok && f.len() == 4, "{err}");
    let enriched = format!("{DATA}/auditd-enriched-6.18.log");
    let (f, err, code) = scan_code(
        "/dev/null",
        &["--socket-inode", &s, "/nonexistent/audit.log", "-", &enriched],
        Some(&raw),
    );
    assert_eq!(f.len(), 8, "both inputs that exist are read: {err}");
    assert!(
        code == 4 && err.contains("/nonexistent/audit.log"),
        "an unreadable input makes the scan incomplete (4), after the others: {err}"
    );
}

#[test]
fn matching_by_inode_then_rule_key_then_name() {
    let text = std::fs::read_to_string(format!("{DATA}/auditd-raw-6.18.log")).unwrap();
    // Another inode now (the socket was re-created): sockwatch's rule key on the
    // records still says each was a watched socket then; io_uring's rule names no
    // path, so its key proves nothing and it is left out.
    let (f, err, ok) = scan(&["--socket-inode", "fe:00:1"], Some(text.as_bytes()));
    assert!(ok, "{err}");
    assert_eq!(f.len(), 3, "{err}");
    assert!(f.iter().all(|f| matched_by(f) == Some("rule_key")), "{f:#?}");
    assert!(f.iter().all(|f| f["process"]["comm"] != "client_uring"));
    // Without the key (rules loaded by hand with another), another inode: nothing.
    let no_key = text.replace("key=\"sockwatch\"", "key=\"other\"");
    assert_ne!(no_key, text);
    let (f, err, code) =
        scan_code("/dev/null", &["--socket-inode", "fe:00:1"], Some(no_key.as_bytes()));
    assert!(code == 1 && f.is_empty(), "{err}");
    // By name: the name given with the identity, whatever the inode.
    let real = text
        .split("name=\"")
        .filter_map(|s| s.split('"').next())
        .find(|n| n.ends_with("/real.sock"))
        .unwrap()
        .to_string();
    let (f, err, ok) =
        scan(&["--socket-inode", &format!("fe:00:1={real}")], Some(no_key.as_bytes()));
    assert!(ok, "{err}");
    // real.sock by its full name (twice: client and io_uring), and alias.sock is
    // another name: a bind mount is only caught by inode.
    assert_eq!(f.len(), 2, "{err}");
    assert!(f.iter().all(|f| matched_by(f) == Some("path")), "{f:#?}");
    assert!(err.contains("2 by name only"), "{err}");
    // PATH records without inode and dev: the name decides too.
    let stripped: String =
        no_key.lines().map(|l| l.replace(" inode=10141771 dev=fe:00", "") + "\n").collect();
    let (f, err, _) =
        scan(&["--socket-inode", &format!("fe:00:1={real}")], Some(stripped.as_bytes()));
    assert_eq!(f.len(), 2, "{err}");
}

/// One connect in auditd's form: sun_path, the CWD, the PATH record's name and
/// inode, and the key.
fn connect(serial: u32, sun_path: &str, cwd: &str, inode: u64, key: &str) -> String {
    let saddr: String = sun_path.bytes().map(|b| format!("{b:02X}")).collect();
    format!(
        "type=SYSCALL msg=audit(1795863718.{:03}:{serial}): arch=c000003e syscall=42 success=yes exit=0 a0=3 a1=0 a2=6e a3=0 items=1 ppid=1 pid={serial} auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"curl\" exe=\"/usr/bin/curl\" key={key}\n\
         type=SOCKADDR msg=audit(1795863718.{:03}:{serial}): saddr=0100{saddr}00\n\
         type=CWD msg=audit(1795863718.{:03}:{serial}): cwd=\"{cwd}\"\n\
         type=PATH msg=audit(1795863718.{:03}:{serial}): item=0 name=\"{sun_path}\" inode={inode} dev=fe:00 mode=0140660 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n\
         type=PROCTITLE msg=audit(1795863718.{:03}:{serial}): proctitle=6375726C\n",
        serial % 1000,
        serial % 1000,
        serial % 1000,
        serial % 1000,
        serial % 1000
    )
}

#[test]
fn a_restarted_runtime_is_found_and_what_is_left_out_is_named() {
    let log = [
        connect(1, "/run/docker.sock", "/", 5, "\"sockwatch\""),
        // After a restart: another inode, sockwatch's key.
        connect(2, "/run/docker.sock", "/", 6, "\"sockwatch\""),
        // Another inode, no key, a relative name under /var/run: by name.
        connect(3, "docker.sock", "/var/run", 7, "(null)"),
        // Another name, no key: not a watched socket.
        connect(4, "/run/other.sock", "/", 8, "(null)"),
        // A known runtime socket that is not watched: left out, and named.
        connect(5, "/var/run/containerd/containerd.sock", "/", 9, "(null)"),
        connect(6, "/run/containerd/containerd.sock", "/", 9, "(null)"),
    ]
    .concat();
    let (f, err, ok) = scan(&["--socket-inode", "fe:00:5=/run/docker.sock"], Some(log.as_bytes()));
    assert!(ok, "{err}");
    assert_eq!(serials(&f), [1, 2, 3], "{err}");
    assert_eq!(
        f.iter().map(matched_by).collect::<Vec<_>>(),
        [None, Some("rule_key"), Some("path")]
    );
    assert_eq!(f[1]["socket"]["inode"], 6, "the identity the record gives");
    assert_eq!(f[2]["socket"]["watched"], "/run/docker.sock");
    assert_eq!(f[2]["socket"]["runtime"], "docker");
    assert!(
        err.contains("connects to /run/containerd/containerd.sock with another identity (fe:00:9, 2 connects): not reported; pass --socket-inode fe:00:9 to include"),
        "{err}"
    );
    // Without the name, the connect by name alone is left out and said so; the
    // identity the summary gives, in stat's decimal form, takes it in.
    let (f, err, _) = scan(&["--socket-inode", "fe:00:5"], Some(log.as_bytes()));
    assert_eq!(serials(&f), [1, 2], "{err}");
    assert!(
        err.contains("connects to /run/docker.sock with another identity (fe:00:7, 1 connects): not reported; pass --socket-inode fe:00:7 to include"),
        "{err}"
    );
    let (f, err, _) =
        scan(&["--socket-inode", "fe:00:5", "--socket-inode", "254:0:7"], Some(log.as_bytes()));
    assert_eq!(serials(&f), [1, 2, 3], "{err}");
    assert_eq!(matched_by(&f[2]), None, "by inode now");
}

#[test]
fn socket_identities_in_both_bases_and_bad_ones_are_usage_errors() {
    let log = connect(1, "/run/docker.sock", "/", 5, "(null)");
    for spec in ["fe:00:5", "254:0:5", "hex:fe:00:5", "dec:254:0:5"] {
        let (f, err, ok) = scan(&["--socket-inode", spec], Some(log.as_bytes()));
        assert!(ok && f.len() == 1, "{spec}: {err}");
    }
    // 10:10 could be either base: refused, with what to write instead.
    for (spec, says) in [
        ("10:10:5", "hex:10:10:INODE"),
        ("docker.sock", "MAJ:MIN:INODE"),
        ("fe:00:5=relative", "absolute"),
    ] {
        let (_, err, code) = scan_code("/dev/null", &["--socket-inode", spec], Some(b""));
        assert_eq!(code, 2, "{spec}: {err}");
        assert!(err.contains(says) && err.contains("--socket-inode"), "{spec}: {err}");
    }
}

#[test]
fn exit_statuses_and_inputs_that_are_no_audit_log() {
    let log = connect(1, "/run/docker.sock", "/", 5, "(null)");
    let code = |input: &[u8], args: &[&str]| {
        let mut a = vec!["--socket-inode", "fe:00:5"];
        a.extend_from_slice(args);
        scan_code("/dev/null", &a, Some(input))
    };
    assert_eq!(code(log.as_bytes(), &[]).2, 0, "findings");
    assert_eq!(code(log.replace("inode=5", "inode=6").as_bytes(), &[]).2, 1, "none");
    assert_eq!(code(b"", &[]).2, 1, "an empty log has no findings");
    // Text without a record: 3, and one line saying so.
    let (_, err, status) = code(b"hello\nworld\n", &[]);
    assert_eq!(status, 3, "{err}");
    assert!(err.contains("no audit record in the input"), "{err}");
    // ausearch -i: one hint, not a malformed line per record.
    let interpreted = "----\ntype=PROCTITLE msg=audit(12/02/2026 06:00:00.123:456) : proctitle=curl\ntype=SYSCALL msg=audit(12/02/2026 06:00:00.123:456) : arch=x86_64 syscall=connect success=yes exit=0\n".repeat(1000);
    let (_, err, status) = code(interpreted.as_bytes(), &[]);
    assert_eq!(status, 3, "{err}");
    assert!(err.contains("ausearch --raw") && !err.contains("malformed"), "{err}");
    assert_eq!(err.matches("ausearch's interpreted output").count(), 1, "{err}");
    // Other compressions: named.
    let (_, err, status) = code(b"\xfd7zXZ\x00\x00\x04", &[]);
    assert!(status == 3 && err.contains("xz-compressed: decompress it first"), "{err}");
    // ausearch's default output: raw records between its own lines, which are
    // not malformed.
    let plain = format!("----\ntime->Wed Dec  2 06:00:00 2026\n{log}");
    let (f, err, status) = code(plain.as_bytes(), &[]);
    assert!(status == 0 && f.len() == 1 && !err.contains("malformed"), "{err}");
    // An unreadable input among readable ones: 4, even with findings.
    let dir = tempdir("scan-status");
    let file = dir.join("audit.log");
    std::fs::write(&file, &log).unwrap();
    let (f, err, status) =
        code(b"", &[file.to_str().unwrap(), dir.join("missing.log").to_str().unwrap()]);
    assert!(status == 4 && f.len() == 1 && err.contains("missing.log"), "{err}");
    // Findings that cannot be written: incomplete (4), not "none found" (1).
    let out = Command::new(BIN)
        .args(["--config", "/dev/null", "scan", "--socket-inode", "fe:00:5"])
        .arg(&file)
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("the output is incomplete"), "{err}");
    // A socket that is not here: nothing could match, a usage error.
    let (_, err, status) =
        scan_code("/dev/null", &["--socket", dir.join("no.sock").to_str().unwrap()], Some(b""));
    assert!(status == 2 && err.contains("--socket-inode"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzipped_logs_are_read_by_their_magic_not_their_name() {
    let raw = std::fs::read(format!("{DATA}/records-6.18.txt")).unwrap();
    let dir = tempdir("scan-gz");
    // Rotated logs, one with no .gz in its name.
    let (a, b) = (dir.join("audit.log.1.gz"), dir.join("audit.log.2"));
    std::fs::write(&a, gzip(&raw)).unwrap();
    std::fs::write(&b, gzip(&raw)).unwrap();
    let (f, err, ok) =
        scan(&["--socket-inode", "fe:00:10010627", a.to_str().unwrap(), b.to_str().unwrap()], None);
    assert!(ok, "{err}");
    assert_eq!(serials(&f), [40, 41, 42, 43, 44, 45, 40, 41, 42, 43, 44, 45], "{err}");
    // A damaged gzip: the scan is incomplete.
    let mut cut = gzip(&raw);
    cut.truncate(cut.len() / 2);
    std::fs::write(&a, cut).unwrap();
    let (_, err, code) =
        scan_code("/dev/null", &["--socket-inode", "fe:00:10010627", a.to_str().unwrap()], None);
    assert!(code == 4 && err.contains("read error"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The raw records as journald stores them (systemd's journald-audit.c):
/// `_TRANSPORT=audit`, `_AUDIT_TYPE`, `_AUDIT_ID`, `_SOURCE_REALTIME_TIMESTAMP`
/// and MESSAGE, the type's name and the body; plus, for each record of serial
/// 42, the same text logged by a container (stdout transport) under serial 9942.
fn journal_entries() -> Vec<Vec<(String, Vec<u8>)>> {
    let capture = std::fs::read_to_string(format!("{DATA}/records-6.18.txt")).unwrap();
    let mut entries = Vec::new();
    for (i, line) in capture.lines().filter(|l| !l.is_empty()).enumerate() {
        let (ty, rest) = line.strip_prefix("type=").unwrap().split_once(" audit(").unwrap();
        let (stamp, body) = rest.split_once("): ").unwrap();
        let (secs, rest) = stamp.split_once('.').unwrap();
        let (ms, serial) = rest.split_once(':').unwrap();
        let micros = secs.parse::<u64>().unwrap() * 1_000_000 + ms.parse::<u64>().unwrap() * 1000;
        let field = |k: &str, v: &str| (k.to_string(), v.as_bytes().to_vec());
        entries.push(vec![
            field("__CURSOR", &format!("s=0;i={i}")),
            field("_TRANSPORT", "audit"),
            field("_AUDIT_TYPE", ty),
            field("_AUDIT_ID", serial),
            field("_SOURCE_REALTIME_TIMESTAMP", &micros.to_string()),
            field("SYSLOG_IDENTIFIER", "audit"),
            field("MESSAGE", &format!("AUDIT{ty} {body}")),
        ]);
        if serial == "42" {
            entries.push(vec![
                field("_TRANSPORT", "stdout"),
                field("SYSLOG_IDENTIFIER", "web-1"),
                field("MESSAGE", &line.replace(":42)", ":9942)")),
            ]);
        }
    }
    entries
}

#[test]
fn journald_audit_records_export_and_json() {
    let entries = journal_entries();
    let mut export = Vec::new();
    for (n, e) in entries.iter().enumerate() {
        for (k, v) in e {
            // Every other MESSAGE in the binary form, as journald writes a value
            // that is not one line of text.
            if k == "MESSAGE" && n % 2 == 0 {
                export.extend_from_slice(format!("{k}\n").as_bytes());
                export.extend_from_slice(&(v.len() as u64).to_le_bytes());
                export.extend_from_slice(v);
                export.push(b'\n');
            } else {
                export.extend_from_slice(format!("{k}=").as_bytes());
                export.extend_from_slice(v);
                export.push(b'\n');
            }
        }
        export.push(b'\n');
    }
    let forged = entries.iter().filter(|e| e[0].1 == b"stdout").count();
    assert!(forged >= 3);
    let (f, err, ok) = scan(&["--socket-inode", "fe:00:10010627", "-"], Some(&export));
    assert!(ok, "{err}");
    assert_eq!(serials(&f), [40, 41, 42, 43, 44, 45], "{err}");
    assert!(err.contains(&format!("{forged} journal entries of other transports")), "{err}");
    assert!(!err.contains("malformed"), "{err}");
    // The same as JSON, a MESSAGE as an array of bytes, and gzipped.
    let mut json = String::new();
    for (n, e) in entries.iter().enumerate() {
        let mut obj = serde_json::Map::new();
        for (k, v) in e {
            let val = if k == "MESSAGE" && n % 3 == 0 {
                serde_json::json!(v)
            } else {
                serde_json::json!(String::from_utf8(v.clone()).unwrap())
            };
            obj.insert(k.clone(), val);
        }
        json.push_str(&serde_json::Value::Object(obj).to_string());
        json.push('\n');
    }
    let (f, err, ok) =
        scan(&["--socket-inode", "fe:00:10010627", "-"], Some(&gzip(json.as_bytes())));
    assert!(ok, "{err}");
    assert_eq!(serials(&f), [40, 41, 42, 43, 44, 45], "{err}");
    assert!(err.contains(&format!("{forged} journal entries of other transports")), "{err}");
    // Only other transports: nothing was an audit record.
    let only_forged: String =
        json.lines().filter(|l| l.contains("\"stdout\"")).map(|l| format!("{l}\n")).collect();
    let (f, err, code) =
        scan_code("/dev/null", &["--socket-inode", "fe:00:10010627"], Some(only_forged.as_bytes()));
    assert!(code == 3 && f.is_empty(), "{err}");
    // journalctl -o json without --all writes a field of 4096 bytes or more as
    // null: a record is missing, so the scan is incomplete (4), and says how to
    // read the journal whole.
    let first_audit = json.lines().position(|l| l.contains("\"audit\"")).unwrap();
    let cut: String = json
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if i == first_audit {
                v["MESSAGE"] = serde_json::Value::Null;
            }
            format!("{v}\n")
        })
        .collect();
    let (_, err, code) =
        scan_code("/dev/null", &["--socket-inode", "fe:00:10010627"], Some(cut.as_bytes()));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("-o export or -o json --all"), "{err}");
}

#[test]
fn time_windows() {
    let args = |extra: &[&str]| {
        let mut a = vec!["--socket-inode", "fe:00:10010627"];
        a.extend_from_slice(extra);
        a.push(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/records-6.18.txt"));
        let (f, err, code) = scan_code("/dev/null", &a, None);
        (serials(&f), err, code)
    };
    // Serials 40..45 are at 1795863718.589 .. .621; 43 at .601 with 42.
    assert_eq!(args(&["--since", "@1795863718"]).0, [40, 41, 42, 43, 44, 45]);
    assert_eq!(args(&["--since", "2026-11-28T11:01:58.601Z"]).0, [42, 43, 44, 45]);
    assert_eq!(args(&["--since", "2026-11-28T12:01:58.601+01:00"]).0, [42, 43, 44, 45]);
    let (s, err, _) = args(&["--until", "2026-11-28 11:01:58.601"]);
    assert_eq!(s, [40, 41], "{err}");
    assert!(err.contains("4 connect(s) outside the --since/--until window"), "{err}");
    let (s, err, code) = args(&["--since", "2026-11-29"]);
    assert!(s.is_empty() && code == 1, "{err}");
    let (_, err, code) = args(&["--since", "2026-11-29", "--until", "@1795863718"]);
    assert!(code == 2 && err.contains("--since must be before --until"), "{err}");
    let (_, err, code) = args(&["--since", "yesterday"]);
    assert!(code == 2 && err.contains("@UNIX_SECONDS"), "{err}");
}

#[test]
fn the_summary_counts_instead_of_listing() {
    let raw = format!("{DATA}/records-6.18.txt");
    let (out, err, code) =
        scan_text(&["--summary", "--socket-inode", "fe:00:10010627", &raw], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Findings: 6\n"), "{out}");
    assert!(!out.contains('{'), "no findings on stdout: {out}");
    for title in ["container image", "executable", "socket", "matched by"] {
        assert!(out.contains(&format!("\n{title} ")), "{title}: {out}");
    }
    let row = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("{name}: {out}"))
            .to_string()
    };
    assert_eq!(row("(unknown)"), "6");
    assert_eq!(row("rule_key"), "1");
    assert_eq!(row("inode"), "5");
    // No findings: exit 1, and the report says 0.
    let (out, _, code) = scan_text(
        &["--summary", "--socket-inode", "fe:00:1"],
        Some(b"type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=2\n"),
    );
    assert!(code == 1 && out.starts_with("Findings: 0\n"), "{out}");
}

#[test]
fn the_allowlist_applies_where_it_can_offline() {
    let raw = format!("{DATA}/auditd-raw-6.18.log");
    let text = std::fs::read_to_string(&raw).unwrap();
    let exe = text
        .split("exe=\"")
        .filter_map(|s| s.split('"').next())
        .find(|e| e.ends_with("/client_uring"))
        .unwrap()
        .to_string();
    let dir = tempdir("scan-allow");
    let cfg = dir.join("sockwatch.toml");
    std::fs::write(&cfg, format!("[[allow]]\nexe = \"{exe}\"\n\n[[allow]]\nimage = \"*\"\n"))
        .unwrap();
    let (f, err, ok) = scan_with(cfg.to_str().unwrap(), &["--socket-inode", &socket(), &raw], None);
    assert!(ok, "{err}");
    // The io_uring client is allowed by its exe; an image glob matches nothing
    // offline (the container is unknown), so the other three stay.
    assert_eq!(f.len(), 3, "{err}");
    assert!(f.iter().all(|f| f["process"]["comm"] != "client_uring"));
    assert!(err.contains("1 connect(s) allowed"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The kernel's records as a syslog file carries them are read; a container's
/// own output in the same file, forging whole records (another serial), is not
/// taken for audit records: each forged line is counted and named.
#[test]
fn records_in_a_syslog_file_count_and_a_containers_forged_lines_do_not() {
    let capture = std::fs::read_to_string(format!("{DATA}/records-6.18.txt")).unwrap();
    let mut log = String::new();
    for line in capture.lines().filter(|l| !l.is_empty()) {
        log.push_str(&format!("Dec  1 21:00:00 host kernel: audit: {line}\n"));
    }
    // The records of serial 42, forged under serial 9942 by a container whose
    // log lines reach the same file.
    let forged: Vec<String> = capture
        .lines()
        .filter(|l| l.contains(":42): ") || l.contains(":42):"))
        .map(|l| format!("Dec  1 21:00:01 host web-1[4242]: {}", l.replace(":42)", ":9942)")))
        .collect();
    assert!(forged.len() >= 3, "serial 42 has its records: {forged:?}");
    for f in &forged {
        log.push_str(f);
        log.push('\n');
    }
    let (f, err, ok) = scan(&["--socket-inode", "fe:00:10010627", "-"], Some(log.as_bytes()));
    assert!(ok, "{err}");
    assert_eq!(serials(&f), [40, 41, 42, 43, 44, 45], "{err}");
    assert!(err.contains(&format!("{} malformed line(s) skipped", forged.len())), "{err}");
    assert!(err.contains("a type= behind text no audit log puts there"), "{err}");
}

/// Records as a real journald (systemd 252, kernel 6.18) stored them from the
/// audit multicast group, while `sockwatch run` watched a socket that socat
/// connected to three times by its full name and once by a relative one:
/// `journalctl -o export _TRANSPORT=audit` and `-o json` of the same entries.
#[test]
fn journald_audit_records_captured_from_a_real_journal() {
    for format in ["export", "json"] {
        let input = format!("{DATA}/journal-audit-6.18.{format}");
        let (f, err, ok) = scan(&["--socket-inode", "fe:00:10362966", &input], None);
        assert!(ok, "{format}: {err}");
        assert_eq!(serials(&f), [93, 94, 95, 96], "{format}: {err}");
        assert!(f.iter().all(|f| f["host"]["hostname"] == "vm" && matched_by(f).is_none()));
        assert_eq!(f[0]["time"], "2026-12-02T06:31:02.025Z", "the stamp, to the millisecond");
        assert_eq!(f[3]["socket"]["path"], "real.sock");
        assert!(!err.contains("malformed"), "{format}: {err}");
        // The socket is gone now: sockwatch's rule key still tells.
        let (f, err, ok) = scan(&["--socket-inode", "fe:00:1", &input], None);
        assert!(ok, "{format}: {err}");
        assert!(f.iter().all(|f| matched_by(f) == Some("rule_key")), "{format}: {err}");
        assert_eq!(f.len(), 4, "{format}: {err}");
        assert!(f[3]["socket"]["watched"].as_str().unwrap().ends_with("/real.sock"));
    }
}
