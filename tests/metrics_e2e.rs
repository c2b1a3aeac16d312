//! The metrics file end to end: `sockwatch run --metrics-file` read by Debian's
//! real node_exporter (textfile collector) and scraped over loopback; a finding
//! from a simulated container counted; the file not rewritten while idle; the
//! example alert rules checked and unit-tested with promtool.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const PROMTOOL: &str = "/usr/bin/promtool";
const RULES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/examples/prometheus");

/// node_exporter on loopback, killed on drop, even on a panic.
struct NodeExporter {
    child: Child,
    port: u16,
}

impl NodeExporter {
    fn start(textfile_dir: &Path, log: &Path) -> NodeExporter {
        let port = free_port();
        let child = Command::new(NODE_EXPORTER)
            .args([
                "--collector.disable-defaults",
                "--collector.textfile",
                &format!("--collector.textfile.directory={}", textfile_dir.display()),
                &format!("--web.listen-address=127.0.0.1:{port}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(log).unwrap())
            .spawn()
            .expect("start node_exporter");
        let n = NodeExporter { child, port };
        let t0 = Instant::now();
        while n.try_scrape().is_none() {
            assert!(t0.elapsed() < Duration::from_secs(10), "node_exporter never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
        n
    }

    fn try_scrape(&self) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.starts_with("HTTP/1.0 200").then_some(body)
    }

    fn scrape(&self) -> String {
        self.try_scrape().expect("scrape node_exporter")
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of `text` about sockwatch, and node_exporter's verdict on the file.
fn excerpt(text: &str) -> String {
    text.lines()
        .filter(|l| {
            l.starts_with("sockwatch_")
                || l.starts_with("node_textfile_scrape_error")
                || l.starts_with("node_textfile_mtime_seconds")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// promtool's lint of an exposition: what node_exporter would refuse, and
/// Prometheus' naming conventions.
fn promtool_check_metrics(text: &str) {
    let mut p = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn node_exporter_scrapes_the_counters_and_an_idle_daemon_leaves_the_file_alone() {
    if !privileged("metrics end-to-end")
        || !have(NODE_EXPORTER, "metrics end-to-end")
        || !have(PROMTOOL, "metrics end-to-end")
    {
        return;
    }
    let t = AuditTest::begin("metrics");
    let real = t.dir.join("real.sock");
    let _listener = UnixListener::bind(&real).unwrap();
    let textfiles = t.dir.join("textfile");
    fs::create_dir(&textfiles).unwrap();
    let prom = textfiles.join("sockwatch.prom");
    let d = Daemon::start(
        &t.dir,
        &["--socket", real.to_str().unwrap(), "--metrics-file", prom.to_str().unwrap()],
    );
    // Written at start: every series there, at 0.
    let first = fs::read_to_string(&prom).expect("the file is written at start");
    let started = fs::metadata(&prom).unwrap().modified().unwrap();
    assert!(first.contains("sockwatch_up 1\n"), "{first}");
    assert!(first.contains("sockwatch_findings_total{signature=\"TRC-1019\"} 0\n"), "{first}");
    assert!(first.contains("sockwatch_health_events_total{event=\"rules_restored\"} 0\n"));
    assert_eq!(fs::metadata(&prom).unwrap().mode() & 0o777, 0o644);
    promtool_check_metrics(&first);
    let ne = NodeExporter::start(&textfiles, &t.dir.join("node_exporter.log"));
    let scrape = ne.scrape();
    assert!(scrape.contains("\nsockwatch_findings_total{signature=\"TRC-1019\"} 0\n"), "{scrape}");
    assert!(scrape.contains("\nnode_textfile_scrape_error 0\n"), "{}", excerpt(&scrape));

    let c = FakeContainer::new();
    let connected = Instant::now();
    assert!(c.sh(&connect_cmd(&real)).status.success());
    d.wait_finding("the simulated container", Duration::from_secs(10), |f| {
        f["container"]["id"] == c.id.as_str()
    });
    // At most 15 s after the start's write, and only because a counter changed.
    let want = "sockwatch_findings_total{signature=\"TRC-1019\"} 1\n";
    let t0 = Instant::now();
    while !fs::read_to_string(&prom).unwrap().contains(want) {
        assert!(
            t0.elapsed() < Duration::from_secs(16),
            "the finding was not in the file within 16 s:\n{}",
            fs::read_to_string(&prom).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let written = fs::metadata(&prom).unwrap().modified().unwrap();
    let after_start = written.duration_since(started).unwrap();
    eprintln!(
        "metrics e2e: rewritten {:.1} s after the start's write, {:.1} s after the connect",
        after_start.as_secs_f64(),
        connected.elapsed().as_secs_f64()
    );
    let file = fs::read_to_string(&prom).unwrap();
    promtool_check_metrics(&file);
    eprintln!("metrics e2e: the file after one finding:\n{file}");
    for line in [
        "sockwatch_findings_emitted_total{signature=\"TRC-1019\"} 1\n",
        "sockwatch_findings_allowed_total{signature=\"TRC-1019\"} 0\n",
        "sockwatch_findings_total{signature=\"SW-1002\"} 0\n",
        "sockwatch_connects_total 1\n",
        "sockwatch_output_errors_total{output=\"jsonl:",
    ] {
        assert!(file.contains(line), "{line:?} in\n{file}");
    }
    let scrape = ne.scrape();
    assert!(scrape.contains("\nsockwatch_findings_total{signature=\"TRC-1019\"} 1\n"), "{scrape}");
    assert!(scrape.contains("\nnode_textfile_scrape_error 0\n"), "{}", excerpt(&scrape));
    eprintln!("metrics e2e: node_exporter's scrape:\n{}", excerpt(&scrape));

    // Idle: the file is not rewritten unless a counter changed, for longer than
    // the interval between writes. The host's own audit records (a login, cron)
    // are counted too, so a rewrite is allowed, but only with other counters.
    let before = fs::metadata(&prom).unwrap();
    std::thread::sleep(Duration::from_secs(16));
    let after = fs::metadata(&prom).unwrap();
    let now = fs::read_to_string(&prom).unwrap();
    if (after.ino(), after.mtime(), after.mtime_nsec())
        != (before.ino(), before.mtime(), before.mtime_nsec())
    {
        assert_ne!(now, file, "rewritten while idle with nothing changed; log:\n{}", d.log());
        eprintln!(
            "metrics e2e: rewritten during the quiet spell, for the host's own audit records"
        );
    }

    // A clean stop writes the counters a last time, with sockwatch_up 0.
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
    let last = fs::read_to_string(&prom).unwrap();
    assert!(last.contains("sockwatch_up 0\n") && last.contains(want), "{last}");
    assert!(!log.contains("metrics file"), "no metrics error logged:\n{log}");
    let names: Vec<_> = fs::read_dir(&textfiles).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("sockwatch.prom")], "no temporary file left");
    drop(ne);
    drop(c);
    t.end();
}

#[test]
fn a_metrics_file_that_is_not_prom_or_not_in_a_directory_is_a_usage_error() {
    let dir = tempdir("metrics-usage");
    fs::write(dir.join("file"), "").unwrap();
    for (path, says) in [
        (dir.join("file/sockwatch.prom"), "is not a directory"),
        (dir.join("sockwatch.txt"), ".prom"),
    ] {
        let out = run(
            BIN,
            &[
                "run",
                "--config",
                "/dev/null",
                "--socket",
                "/run/sockwatch-no-such.sock",
                "--metrics-file",
                path.to_str().unwrap(),
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path:?}: {err}");
        assert!(err.contains(says), "{path:?}: {err}");
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// node_exporter may come after sockwatch: a missing textfile directory is
/// said once at start, and the file appears within one write interval of it.
#[test]
fn a_missing_directory_is_waited_for() {
    if !privileged("metrics directory created later") {
        return;
    }
    let t = AuditTest::begin("metrics-later");
    let real = t.dir.join("real.sock");
    let _listener = UnixListener::bind(&real).unwrap();
    let textfiles = t.dir.join("textfile");
    let prom = textfiles.join("sockwatch.prom");
    let d = Daemon::start(
        &t.dir,
        &["--socket", real.to_str().unwrap(), "--metrics-file", prom.to_str().unwrap()],
    );
    d.wait_log("its directory does not exist (yet)", Duration::from_secs(5));
    fs::create_dir(&textfiles).unwrap();
    let t0 = Instant::now();
    while !prom.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(17),
            "no metrics file 17 s after its directory appeared; log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = fs::read_to_string(&prom).unwrap();
    assert!(text.contains("sockwatch_metrics_write_errors_total "), "{text}");
    assert!(
        !text.contains("sockwatch_metrics_write_errors_total 0\n"),
        "the failures are counted:\n{text}"
    );
    eprintln!(
        "metrics e2e: written {:.1} s after its directory appeared",
        t0.elapsed().as_secs_f64()
    );
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
    t.end();
}

#[test]
fn the_example_alert_rules_pass_promtool() {
    if !have(PROMTOOL, "the example alert rules") {
        return;
    }
    for args in [
        ["check", "rules", "sockwatch-alerts.yml", ""],
        ["test", "rules", "sockwatch-alerts.test.yml", ""],
    ]
    .iter()
    .map(|a| a.iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>())
    {
        let out = Command::new(PROMTOOL).args(&args).current_dir(RULES_DIR).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
