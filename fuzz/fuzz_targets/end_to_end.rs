//! The whole way from outside bytes to the findings written, as the golden
//! and replay tests take it, both ways:
//! - `run`: each line a record as the kernel sends it (`Record::parse_line`),
//!   assembled (`Assembler`, timed out and flushed), connects extracted,
//!   `detect::detect` with a container's origin (its name, image and labels
//!   from the event's own strings), an unknown one and the host's, the
//!   allowlist, the argv from /proc, and `Dedup`;
//! - `scan`: each line any form of audit log (`logline::parse`), the
//!   `Scanner`, the name fallback and `detect::detect` as `scan` calls it.
//!
//! Every finding must serialise to one valid JSON object with no raw newline
//! (or other control byte), its `_hex` siblings must be exact, and each
//! output (journal, syslog RFC 5424 and 3164, the summary) must render it
//! whole: `sockwatch_fuzz::finding_line` and `check_outputs`.

#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sockwatch::core::allow::{AllowRule, allowed};
use sockwatch::core::assemble::Assembler;
use sockwatch::core::cgroup::{Container, Runtime};
use sockwatch::core::connect::{self, ConnectEvent, SockAddr};
use sockwatch::core::dedup::Dedup;
use sockwatch::core::detect::{self, FileId, Process, Skip, WatchedSocket};
use sockwatch::core::finding::Finding;
use sockwatch::core::logline;
use sockwatch::core::origin::{Attribution, By, Namespaces, Origin, Unproven};
use sockwatch::core::record::Record;
use sockwatch::core::runtime_state::Meta;
use sockwatch::core::scan::{Scanner, Target, by_name};
use sockwatch::core::time;
use sockwatch_fuzz::{check_outputs, finding_line, lines};

/// The sockets of the captures in tests/data: records-6.18.txt's and the auditd logs'.
const RECORDS: FileId = FileId { major: 0xfe, minor: 0, inode: 10010627 };
const AUDITD: FileId = FileId { major: 0xfe, minor: 0, inode: 10141771 };
const NOW: &str = "2026-01-01T00:00:00.000000Z";

fn allow() -> &'static [AllowRule] {
    static RULES: OnceLock<Vec<AllowRule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let text = "[[allow]]\nimage = \"allowed-*\"\n\n[[allow]]\nexe = \"/usr/local/bin/allowed\"\n\n[[allow]]\nname = \"?ortainer\"\nlabel = \"team=ops\"\n";
        sockwatch::config::parse(Path::new("fuzz.toml"), text).expect("the allowlist parses").allow
    })
}

/// The watched sockets for a connect: the captures' two, and whatever file the
/// connect's first PATH record names (under that very name), so that every
/// connect that names a file becomes a finding.
fn watched(c: &ConnectEvent) -> Vec<WatchedSocket> {
    let mut w = vec![
        WatchedSocket::new("/run/docker.sock".into(), Some(RECORDS)),
        WatchedSocket::new("/run/containerd/containerd.sock".into(), Some(AUDITD)),
    ];
    if let Some(p) = c.paths.first()
        && let (Some((major, minor)), Some(inode)) = (p.dev, p.inode)
    {
        let name = p.name.as_deref().map(String::from_utf8_lossy);
        let path = name.map_or("/run/podman/podman.sock".into(), |n| n.into_owned());
        w.push(WatchedSocket::new(path, Some(FileId { major, minor, inode })));
    }
    w
}

/// A container whose creator chose its name, image and labels: the event's
/// comm, exe, cwd and key.
fn container(c: &ConnectEvent) -> Origin {
    let text = |b: &Option<Vec<u8>>| b.as_deref().map(|b| String::from_utf8_lossy(b).into_owned());
    let mut labels = BTreeMap::new();
    if let Some(cwd) = text(&c.cwd) {
        labels.insert("io.kubernetes.pod.name".to_string(), cwd);
    }
    if let Some(key) = text(&c.key) {
        labels.insert(key, "ops".to_string());
    }
    let meta =
        Meta { name: text(&c.comm), image: text(&c.exe), image_id: None, labels, truncated: false };
    Origin::Container(Attribution {
        container: Container { runtime: Runtime::Docker, id: "d".repeat(64), pod_uid: None },
        by: By::Pid,
        meta: Some(meta.bounded()),
    })
}

fn run(data: &[u8]) {
    let t0 = Instant::now();
    let mut assembler = Assembler::new(Duration::from_millis(500), 64);
    let mut events = Vec::new();
    for line in lines(data) {
        if let Ok(r) = Record::parse_line(line) {
            assembler.push(r, t0, &mut events);
        }
    }
    assembler.expire(t0 + Duration::from_secs(1), &mut events);
    assembler.flush(&mut events);
    let mut dedup = Dedup::new(Duration::from_secs(10));
    let (mut offered, mut emitted) = (0u64, Vec::<Finding>::new());
    for c in events.iter().filter_map(connect::extract) {
        let watched = watched(&c);
        // What sun_path resolved to in the process's root, for a connect the
        // kernel named no file for: the watched socket.
        let resolved = detect::needs_resolution(&c).map(|path| {
            assert!(matches!(&c.addr, Some(SockAddr::Unix(p)) if p == path));
            RECORDS
        });
        let ids = (c.ids.pid.unwrap_or(0).into(), c.ids.ppid.unwrap_or(0).into());
        let unknown = Origin::Unknown {
            namespaces: Some(Namespaces { mnt: ids.0, pid: ids.1 }),
            why: Unproven::ForeignNamespaces,
        };
        for origin in [container(&c), unknown, Origin::Host] {
            let host = origin == Origin::Host;
            let look = |_: &_| Process { origin };
            match detect::detect(&c, &watched, resolved, look, NOW.into(), Some("fuzz-host")) {
                Ok(d) => {
                    assert!(!host, "a host process reported");
                    assert!(watched[d.hit.watched].is(d.hit.file));
                    let mut f = d.finding;
                    if allowed(allow(), &f) {
                        continue;
                    }
                    if let Some(argv) = &c.proctitle {
                        f.process = f.process.with_cmdline(argv, argv.len() > 2);
                    }
                    offered += 1;
                    dedup.offer(f, t0, &mut emitted);
                }
                Err(Skip::NotWatched | Skip::NotUnixPath) => {}
                Err(Skip::HostProcess) => assert!(host),
            }
        }
    }
    dedup.flush(&mut emitted);
    assert_eq!(emitted.iter().map(|f| f.count).sum::<u64>(), offered, "dedup lost count");
    for f in &emitted {
        check_outputs(f, &finding_line(f));
    }
}

fn scan(data: &[u8]) {
    let targets = [
        Target {
            id: Some(RECORDS),
            names: vec![b"/run/docker.sock".to_vec(), b"/var/run/docker.sock".to_vec()],
        },
        Target { id: Some(AUDITD), names: vec![b"/tmp/sockwatch-capture/real.sock".to_vec()] },
    ];
    let watched = [
        WatchedSocket::new("/run/docker.sock".into(), Some(RECORDS)),
        WatchedSocket::new("fe:00:10141771".into(), Some(AUDITD)),
    ];
    let mut scanner = Scanner::new(4096);
    let mut closed = Vec::new();
    for line in lines(data) {
        if let Ok(Some(r)) = logline::parse(line) {
            scanner.push(&r, &mut closed);
        }
    }
    scanner.finish(&mut closed);
    for cand in closed {
        let Some(ev) = connect::extract(&cand.event) else { continue };
        let resolved = by_name(&ev, &targets);
        let look = |_: &_| Process {
            origin: Origin::Unknown { namespaces: None, why: Unproven::Offline },
        };
        let host = cand.node.as_deref().map(String::from_utf8_lossy);
        let now = time::format_millis(ev.stamp.sec, ev.stamp.msec);
        if let Ok(d) = detect::detect(&ev, &watched, resolved, look, now, host.as_deref()) {
            let f = d.finding;
            assert_eq!(Some(&f.time), f.audit.as_ref().map(|a| &a.time), "scan's time");
            assert_eq!(f.host.hostname.as_deref(), host.as_deref());
            if !allowed(allow(), &f) {
                check_outputs(&f, &finding_line(&f));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    run(data);
    scan(data);
});
