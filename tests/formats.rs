//! The ECS and OCSF formats (`--format ecs|ocsf`) checked against the
//! published schemas (tests/data/schema, whose README names their sources):
//! findings made from captured audit records, findings about the socket files,
//! every health event, and what `sockwatch scan --format` writes. The checkers
//! (tests/common/schema.rs) are themselves shown to refuse bad documents. No
//! root needed.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::BIN;
use common::golden::DATA;
use common::schema::{Ecs, JsonSchema, csv_row, is_rfc3339};
use sockwatch::core::assemble::Assembler;
use sockwatch::core::cgroup::{Container, Runtime};
use sockwatch::core::connect;
use sockwatch::core::detect::{self, FileId, Process, WatchedSocket};
use sockwatch::core::finding::{self, Actor, Finding};
use sockwatch::core::formats::{ecs, ocsf};
use sockwatch::core::health::{Event, Health, Level};
use sockwatch::core::origin::{Attribution, By, Namespaces, Origin, Unproven};
use sockwatch::core::record::Record;
use sockwatch::core::runtime_state::Meta;
use sockwatch::core::signature::{SOCKET_PERMISSIONS, SOCKET_REPLACED, SOCKET_WORLD_WRITABLE};

const RECORDS_SOCKET: &str = "fe:00:10010627";

fn docker_with_metadata() -> Origin {
    let mut labels = BTreeMap::new();
    labels.insert("io.kubernetes.pod.name".to_string(), "web-7d9".to_string());
    labels.insert("io.kubernetes.pod.namespace".to_string(), "prod".to_string());
    Origin::Container(Attribution {
        container: Container { runtime: Runtime::Docker, id: "d".repeat(64), pod_uid: None },
        by: By::Pid,
        meta: Some(Meta {
            name: Some("web-1".into()),
            image: Some("nginx:1.27".into()),
            image_id: Some(format!("sha256:{}", "e".repeat(64))),
            labels,
            truncated: false,
        }),
    })
}

fn origins() -> Vec<Origin> {
    vec![
        docker_with_metadata(),
        Origin::Container(Attribution {
            container: Container {
                runtime: Runtime::Containerd,
                id: "c".repeat(64),
                pod_uid: None,
            },
            by: By::Ancestor,
            meta: None,
        }),
        Origin::Unknown {
            namespaces: Some(Namespaces { mnt: 4026532000, pid: 4026532001 }),
            why: Unproven::ForeignNamespaces,
        },
        Origin::Unknown { namespaces: None, why: Unproven::Gone },
    ]
}

/// Every connect of the capture (records-6.18.txt, a real kernel's records)
/// to the watched socket, as `run` makes its finding, for each origin and
/// under two host names (one that is not a DNS name).
fn captured_findings() -> Vec<Finding> {
    let capture = std::fs::read(format!("{DATA}/records-6.18.txt")).unwrap();
    let t0 = Instant::now();
    let mut assembler = Assembler::new(Duration::from_millis(500), 1024);
    let mut events = Vec::new();
    for line in capture.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        assembler.push(Record::parse_line(line).expect("the capture parses"), t0, &mut events);
    }
    assembler.expire(t0 + Duration::from_secs(1), &mut events);
    let watched = [WatchedSocket::new(
        "/run/docker.sock".into(),
        Some(FileId { major: 0xfe, minor: 0, inode: 10010627 }),
    )];
    let mut out = Vec::new();
    for origin in origins() {
        for host in ["golden-host", "odd_host.example"] {
            for c in events.iter().filter_map(connect::extract) {
                let look = |_: &_| Process { origin: origin.clone() };
                let now = "2026-01-01T00:00:00.123456Z".to_string();
                if let Ok(d) = detect::detect(&c, &watched, None, look, now, Some(host)) {
                    out.push(d.finding);
                }
            }
        }
    }
    assert!(out.len() >= 8, "the capture holds connects to the watched socket: {}", out.len());
    out
}

/// SW-1001 (both severities) and SW-1002 (created, deleted), by a container,
/// by the host and by a process already gone (no pid).
fn file_findings() -> Vec<Finding> {
    let actor = Actor {
        pid: Some(4242),
        ppid: Some(1),
        uid: Some(0),
        comm: Some(b"chmod".to_vec()),
        exe: Some(b"/usr/bin/chmod".to_vec()),
        cwd: Some(b"/".to_vec()),
        cmdline: vec![b"chmod".to_vec(), b"666".to_vec(), b"/run/docker.sock".to_vec()],
        cmdline_truncated: false,
    };
    let gone = Actor::default();
    let file = Some(FileId { major: 0, minor: 25, inode: 1234 });
    let perms = json!({"old": {"mode": "0660", "uid": 0, "gid": 999}, "new": {"mode": "0666", "uid": 0, "gid": 999}, "world_writable": true});
    let replaced = |change: &str| json!({"change": change, "present_now": true});
    let now = "2026-01-01T00:00:00.000000Z";
    let make = |sig, operation, file, actor, origin: &Origin, details| {
        finding::file_finding(
            sig,
            operation,
            "/run/docker.sock",
            file,
            actor,
            origin,
            details,
            now.to_string(),
            "golden-host",
        )
    };
    let mut out = Vec::new();
    for origin in [docker_with_metadata(), Origin::Host] {
        out.push(make(&SOCKET_PERMISSIONS, "chown", file, &actor, &origin, perms.clone()));
        out.push(make(&SOCKET_WORLD_WRITABLE, "chmod", file, &actor, &origin, perms.clone()));
        out.push(make(
            &SOCKET_REPLACED,
            "create",
            file,
            &actor,
            &origin,
            replaced("created or moved into place"),
        ));
    }
    out.push(make(
        &SOCKET_REPLACED,
        "delete",
        None,
        &gone,
        &Origin::Unknown { namespaces: None, why: Unproven::Gone },
        replaced("deleted or moved away"),
    ));
    out
}

fn health_events() -> Vec<Health> {
    let mut out = Vec::new();
    for (i, e) in Event::ALL.into_iter().enumerate() {
        let level = [Level::Info, Level::Warning, Level::Error][i % 3];
        out.push(
            Health::new(
                "2026-01-01T00:00:00.000000Z".into(),
                e,
                level,
                e.about().into(),
                "golden-host",
            )
            .with("enabled", 0)
            .with("restored", true)
            .with("socket", "/run/docker.sock")
            .with("rules", json!(["-a always,exit"])),
        );
    }
    out
}

fn all_findings() -> Vec<Finding> {
    let mut f = captured_findings();
    f.extend(file_findings());
    // A de-duplication summary.
    let mut summary = f[0].clone();
    summary.set_count(17);
    f.push(summary);
    // Findings with each kind of --respond outcome.
    use sockwatch::core::respond::{Hierarchy, Mode, Plan, Response, Target};
    let frozen = Plan::Freeze(Target { hierarchy: Hierarchy::V2, path: "/docker/x".into() });
    for (mode, plan, result) in [
        (Mode::Freeze, frozen.clone(), "frozen"),
        (Mode::Freeze, frozen, "failed"),
        (Mode::Kill, Plan::Kill(7783), "killed"),
        (Mode::Freeze, Plan::Skip("a host process is never acted on"), "skipped"),
    ] {
        let mut r = Response::new(mode, &plan, result);
        r.latency_us = Some(812);
        if result == "failed" {
            r.error = Some("Read-only file system (os error 30)".into());
        }
        let mut responded = f[0].clone();
        responded.response = Some(r);
        responded.summarize();
        f.push(responded);
    }
    f
}

#[test]
fn ecs_documents_fit_the_ecs_reference() {
    let schema = Ecs::load();
    let mut used = std::collections::BTreeSet::new();
    let mut docs: Vec<Value> = all_findings().iter().map(ecs::finding).collect();
    docs.extend(health_events().iter().map(ecs::health));
    for doc in &docs {
        let errors = schema.check(doc);
        assert!(errors.is_empty(), "{errors:#?}\nin {doc:#}");
        collect_names(doc, "", &mut used);
    }
    // Every vendored field is one the documents use: the table holds nothing
    // that is not checked for real.
    for field in schema.fields.keys() {
        assert!(used.contains(field), "{field} is vendored but never written");
    }
}

fn collect_names(v: &Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    if let Value::Object(o) = v {
        for (k, v) in o {
            let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            collect_names(v, &name, out);
        }
    } else {
        out.insert(prefix.to_string());
    }
}

#[test]
fn ecs_findings_carry_the_required_fields() {
    for f in all_findings() {
        let d = ecs::finding(&f);
        for p in [
            "/@timestamp",
            "/event/kind",
            "/event/category",
            "/event/type",
            "/event/outcome",
            "/event/module",
            "/event/dataset",
            "/event/severity",
            "/rule/id",
            "/rule/name",
            "/threat/framework",
            "/threat/technique/id",
            "/threat/technique/name",
            "/threat/tactic/id",
            "/threat/tactic/name",
            "/host/hostname",
            "/message",
            "/file/path",
            "/sockwatch/socket/watched",
        ] {
            assert!(d.pointer(p).is_some(), "{p} missing in {d:#}");
        }
        assert_eq!(d["event"]["kind"], "alert");
        assert_eq!(d["threat"]["framework"], "MITRE ATT&CK");
        if f.process.pid.is_some() {
            assert!(d.pointer("/process/pid").is_some(), "{d:#}");
        }
        if f.container.id.is_some() && !f.container.is_host() {
            assert_eq!(d["container"]["id"], f.container.id.clone().unwrap().as_str());
        }
    }
}

#[test]
fn ocsf_findings_validate_against_detection_finding_1_3_0() {
    let schema = JsonSchema::load("ocsf-1.3.0-detection_finding.json");
    for f in all_findings() {
        let e = ocsf::finding(&f);
        let out = schema.validate(&e);
        assert!(out.errors.is_empty(), "{:#?}\nin {e:#}", out.errors);
        assert!(out.deprecated.is_empty(), "deprecated attributes used: {:?}", out.deprecated);
        assert_eq!(e["class_uid"], 2004);
        assert!(e.pointer("/finding_info/attacks/0/tactic/uid").is_some());
        assert!(e.pointer("/evidences/0/file/type_id") == Some(&json!(5)));
        assert_eq!(e["metadata"]["product"]["name"], "sockwatch");
    }
}

#[test]
fn ocsf_health_events_validate_against_base_event_1_3_0() {
    let schema = JsonSchema::load("ocsf-1.3.0-base_event.json");
    for h in health_events() {
        let e = ocsf::health(&h);
        let out = schema.validate(&e);
        assert!(out.errors.is_empty(), "{:#?}\nin {e:#}", out.errors);
        assert!(out.deprecated.is_empty(), "{:?}", out.deprecated);
    }
}

/// A change that makes a valid document invalid, and (a part of) the error
/// the checker must then give.
type Change = (&'static str, Box<dyn Fn(&mut Value)>);

/// The OCSF checker refuses what the schema forbids: each change below to a
/// valid finding is one error of its own.
#[test]
fn the_json_schema_checker_refuses_bad_events() {
    let schema = JsonSchema::load("ocsf-1.3.0-detection_finding.json");
    let good = ocsf::finding(&captured_findings()[0]);
    assert!(schema.validate(&good).errors.is_empty());
    let cases: Vec<Change> = vec![
        (
            "required \"class_uid\"",
            Box::new(|e| drop(e.as_object_mut().unwrap().remove("class_uid"))),
        ),
        (
            "required \"uid\"",
            Box::new(|e| drop(e["finding_info"].as_object_mut().unwrap().remove("uid"))),
        ),
        ("is not of type", Box::new(|e| e["severity_id"] = json!("3"))),
        ("is not one of", Box::new(|e| e["severity_id"] = json!(7))),
        ("is not of type", Box::new(|e| e["time"] = json!("2026-01-01T00:00:00Z"))),
        ("is not a property", Box::new(|e| e["bogus"] = json!(1))),
        ("is not a property", Box::new(|e| e["evidences"][0]["file"]["inode"] = json!(5))),
        ("anyOf holds for 0", Box::new(|e| e["evidences"][0] = json!({}))),
        ("does not match", Box::new(|e| e["device"]["hostname"] = json!("odd_host"))),
        ("is not one of", Box::new(|e| e["evidences"][0]["file"]["type_id"] = json!(42))),
        ("is not of type", Box::new(|e| e["evidences"][0]["process"]["pid"] = json!("10"))),
        (
            "required \"uid\"",
            Box::new(|e| {
                e["evidences"][0]["container"] = json!({"uid": "x", "image": {"name": "nginx"}})
            }),
        ),
    ];
    for (want, change) in cases {
        let mut bad = good.clone();
        change(&mut bad);
        let errors = schema.validate(&bad).errors;
        assert!(errors.iter().any(|e| e.contains(want)), "expected {want:?}, got {errors:?}");
    }
    let strange = JsonSchema::new(json!({"type": "object", "if": {}}));
    assert!(strange.validate(&json!({})).errors.iter().any(|e| e.contains("unsupported keyword")));
}

/// The ECS checker refuses unknown fields, wrong types, nulls, arrays where
/// ECS has none, and categorization ECS does not allow.
#[test]
fn the_ecs_checker_refuses_bad_documents() {
    let schema = Ecs::load();
    let good = ecs::finding(&captured_findings()[0]);
    assert!(schema.check(&good).is_empty());
    let cases: Vec<Change> = vec![
        ("process.bogus: not an ECS field", Box::new(|d| d["process"]["bogus"] = json!(1))),
        ("process.pid: \"10\" does not fit", Box::new(|d| d["process"]["pid"] = json!("10"))),
        ("user.id: 0 does not fit", Box::new(|d| d["user"]["id"] = json!(0))),
        ("does not fit ECS type date", Box::new(|d| d["@timestamp"] = json!("yesterday"))),
        ("file.path: an array", Box::new(|d| d["file"]["path"] = json!(["/a"]))),
        ("container.name: null", Box::new(|d| d["container"]["name"] = Value::Null)),
        (
            "event.kind \"finding\" is not allowed",
            Box::new(|d| d["event"]["kind"] = json!("finding")),
        ),
        ("event.outcome \"maybe\"", Box::new(|d| d["event"]["outcome"] = json!("maybe"))),
        ("event.category \"bogus\"", Box::new(|d| d["event"]["category"] = json!(["bogus"]))),
        (
            "is expected by none of",
            Box::new(|d| d["event"]["category"] = json!(["intrusion_detection"])),
        ),
        (
            "has none of its expected types",
            Box::new(|d| d["event"]["type"] = json!(["connection"])),
        ),
        (
            "@timestamp: missing",
            Box::new(|d| drop(d.as_object_mut().unwrap().remove("@timestamp"))),
        ),
    ];
    for (want, change) in cases {
        let mut bad = good.clone();
        change(&mut bad);
        let errors = schema.check(&bad);
        assert!(errors.iter().any(|e| e.contains(want)), "expected {want:?}, got {errors:?}");
    }
    assert!(is_rfc3339("2026-01-01T00:00:00.123456Z") && is_rfc3339("2026-01-01T00:00:00+01:00"));
    assert!(!is_rfc3339("2026-01-01 00:00:00"));
    assert_eq!(csv_row(r#"a,"b, c","d ""e""",,f"#), ["a", "b, c", "d \"e\"", "", "f"]);
}

/// `sockwatch scan --format` on captured logs: every line validates, there
/// are as many as native findings, and `--format native` is the default's
/// output byte for byte.
#[test]
fn scan_writes_each_format() {
    let run = |format: Option<&str>, log: &str, socket: &str| -> String {
        let mut cmd = Command::new(BIN);
        cmd.args(["--config", "/dev/null", "scan", "--socket-inode", socket]);
        if let Some(f) = format {
            cmd.args(["--format", f]);
        }
        let out = cmd.arg(format!("{DATA}/{log}")).stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let auditd = std::fs::read_to_string(format!("{DATA}/auditd-6.18.socket")).unwrap();
    let ecs_schema = Ecs::load();
    let ocsf_schema = JsonSchema::load("ocsf-1.3.0-detection_finding.json");
    for (log, socket) in [
        ("records-6.18.txt", RECORDS_SOCKET),
        ("auditd-raw-6.18.log", auditd.trim()),
        ("auditd-enriched-6.18.log", auditd.trim()),
    ] {
        let native = run(None, log, socket);
        assert_eq!(run(Some("native"), log, socket), native, "{log}");
        let n = native.lines().count();
        assert!(n > 0, "{log}");
        let ecs_out = run(Some("ecs"), log, socket);
        assert_eq!(ecs_out.lines().count(), n, "{log}");
        for line in ecs_out.lines() {
            let d: Value = serde_json::from_str(line).unwrap();
            let errors = ecs_schema.check(&d);
            assert!(errors.is_empty(), "{log}: {errors:?}\n{line}");
        }
        let ocsf_out = run(Some("ocsf"), log, socket);
        assert_eq!(ocsf_out.lines().count(), n, "{log}");
        for line in ocsf_out.lines() {
            let e: Value = serde_json::from_str(line).unwrap();
            let out = ocsf_schema.validate(&e);
            assert!(out.errors.is_empty(), "{log}: {:?}\n{line}", out.errors);
        }
    }
}

/// `sockwatch run --format ecs|ocsf`, for real (root): a connect from a
/// simulated container to a watched socket, and the health events of the
/// run, written to a JSON lines file in the format, each line valid.
#[test]
fn the_daemon_writes_each_format() {
    use common::{AuditTest, Daemon, FakeContainer, connect_cmd, privileged, records_in};
    if !privileged("sockwatch run --format ecs|ocsf end-to-end") {
        return;
    }
    let t = AuditTest::begin("formats");
    let real = t.dir.join("real.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&real).unwrap();
    let ecs_schema = Ecs::load();
    let ocsf_schema = JsonSchema::load("ocsf-1.3.0-detection_finding.json");
    let base_schema = JsonSchema::load("ocsf-1.3.0-base_event.json");
    for format in ["ecs", "ocsf"] {
        let d = Daemon::start(&t.dir, &["--socket", real.to_str().unwrap(), "--format", format]);
        let c = FakeContainer::new();
        let out = c.sh(&connect_cmd(&real));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mine = |v: &Value| match format {
            "ecs" => v["rule"]["id"] == "TRC-1019" && v["container"]["id"] == c.id.as_str(),
            _ => {
                v["finding_info"]["analytic"]["uid"] == "TRC-1019"
                    && v["evidences"][0]["container"]["uid"] == c.id.as_str()
            }
        };
        let t0 = Instant::now();
        while !records_in(&d.findings).iter().any(mine) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no {format} finding; log:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let path = d.findings.clone();
        let (status, log) = d.stop();
        assert!(status.success(), "{log}");
        let lines = records_in(&path);
        assert!(lines.iter().any(mine));
        for v in &lines {
            match format {
                "ecs" => {
                    let errors = ecs_schema.check(v);
                    assert!(errors.is_empty(), "{errors:?}\n{v:#}");
                }
                _ if v["class_uid"] == 0 => {
                    let out = base_schema.validate(v);
                    assert!(out.errors.is_empty(), "{:?}\n{v:#}", out.errors);
                }
                _ => {
                    let out = ocsf_schema.validate(v);
                    assert!(out.errors.is_empty(), "{:?}\n{v:#}", out.errors);
                }
            }
        }
        let f = lines.iter().find(|v| mine(v)).unwrap();
        match format {
            "ecs" => {
                assert_eq!(f["container"]["runtime"], "docker");
                assert_eq!(f["process"]["name"], "socat");
                assert_eq!(f["file"]["path"], real.to_str().unwrap());
                assert_eq!(f["event"]["outcome"], "success");
            }
            _ => {
                assert_eq!(f["evidences"][0]["process"]["name"], "socat");
                assert_eq!(f["evidences"][0]["file"]["path"], real.to_str().unwrap());
                assert_eq!(f["type_uid"], 200401);
            }
        }
        eprintln!("{format}: {} lines valid", lines.len());
        std::fs::remove_file(&path).unwrap();
    }
    t.end();
}
