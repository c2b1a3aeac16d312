//! `sockwatch scan` on real logs: auditd's RAW (with node=) and ENRICHED logs and
//! raw netlink text, all captured on 6.18 (tests/data/capture/), plus damaged
//! input, standard input and several files. No root needed.

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
    scan_with("/dev/null", args, stdin)
}

fn scan_with(
    config: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
) -> (Vec<serde_json::Value>, String, bool) {
    let mut child = Command::new(BIN)
        .args(["--config", config, "scan"])
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let findings = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (findings, String::from_utf8_lossy(&out.stderr).into_owned(), out.status.success())
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
    // The alias (bind mount), the real name, io_uring; not the refused connect to
    // dead.sock, another inode.
    assert_eq!(raw.len(), 3, "{raw:#?}\n{err}");
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
    assert_eq!(raw[2]["process"]["comm"], "client_uring");
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
    assert!(err.contains("3 findings") && err.contains("container: unknown"), "{err}");
}

#[test]
fn raw_netlink_text_is_read_too() {
    let (f, err, ok) =
        scan(&["--socket-inode", "fe:00:10010627", &format!("{DATA}/records-6.18.txt")], None);
    assert!(ok, "{err}");
    // As the replay test: alias, non-UTF-8 alias, real name, EACCES, io_uring.
    assert_eq!(serials(&f), [40, 41, 42, 44, 45]);
    assert_eq!(f[3]["outcome"]["errno"], "EACCES");
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
    let (f, err, ok) = scan(&["--socket-inode", "fe:00:1", "-"], Some(&junk));
    assert!(ok && f.is_empty(), "{err}");
    assert!(err.contains("2 malformed line(s)") && err.contains("longer than"), "{err}");
}

#[test]
fn stdin_several_files_and_an_unreadable_one() {
    let s = socket();
    let raw = std::fs::read(format!("{DATA}/auditd-raw-6.18.log")).unwrap();
    let (f, err, ok) = scan(&["--socket-inode", &s], Some(&raw));
    assert!(ok && f.len() == 3, "{err}");
    let enriched = format!("{DATA}/auditd-enriched-6.18.log");
    let (f, err, ok) =
        scan(&["--socket-inode", &s, "/nonexistent/audit.log", "-", &enriched], Some(&raw));
    assert_eq!(f.len(), 6, "both inputs that exist are read: {err}");
    assert!(
        !ok && err.contains("/nonexistent/audit.log"),
        "an unreadable input fails the scan, after the others: {err}"
    );
}

#[test]
fn matching_is_by_inode_and_by_name_only_without_one() {
    // Another inode: nothing, whatever the names.
    let (f, _, ok) =
        scan(&["--socket-inode", "fe:00:1", &format!("{DATA}/auditd-raw-6.18.log")], None);
    assert!(ok && f.is_empty());
    // PATH records without inode and dev: the name decides, when a name is given.
    let text = std::fs::read_to_string(format!("{DATA}/auditd-raw-6.18.log")).unwrap();
    let stripped: String =
        text.lines().map(|l| l.replace(" inode=10141771 dev=fe:00", "") + "\n").collect();
    let real = text
        .split("name=\"")
        .filter_map(|s| s.split('"').next())
        .find(|n| n.ends_with("/real.sock"))
        .unwrap()
        .to_string();
    let (f, err, _) = scan(&["--socket-inode", "fe:00:1"], Some(stripped.as_bytes()));
    assert!(f.is_empty(), "{err}");
    let (f, err, ok) =
        scan(&["--socket-inode", &format!("fe:00:1={real}")], Some(stripped.as_bytes()));
    assert!(ok, "{err}");
    // real.sock by its full name (twice: client and io_uring), and alias.sock is
    // another name: a bind mount is only caught by inode.
    assert_eq!(f.len(), 2, "{err}");
    // A bad identity is a usage error that says what is expected.
    let (_, err, ok) = scan(&["--socket-inode", "docker.sock"], Some(b""));
    assert!(!ok && err.contains("MAJ:MIN:INODE"), "{err}");
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
    // offline (the container is unknown), so the other two stay.
    assert_eq!(f.len(), 2, "{err}");
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
    assert_eq!(serials(&f), [40, 41, 42, 44, 45], "{err}");
    assert!(err.contains(&format!("{} malformed line(s) skipped", forged.len())), "{err}");
    assert!(err.contains("a type= behind text no audit log puts there"), "{err}");
}
