//! The finding: one JSON object per line, whose shape is a stable interface (see
//! README "Finding format").
//!
//! Beside the signature, a finding carries its `priority` as a word and its
//! `message`, the one-line summary every human-facing output shows
//! (`core::message`). A process proven to be on the host has the container
//! marker `host` (id, name and runtime), never the `unknown` of a process whose
//! origin could not be proven.
//!
//! Strings a container controls (comm, exe, cwd, cmdline, the socket path) may hold
//! any bytes. JSON strings must be Unicode, so such a field holds the text with
//! invalid bytes replaced, and a sibling `<field>_hex` then carries the exact bytes.
//! Valid UTF-8 has no sibling. Every control character (C0, DEL, C1) and the
//! line separators and bidi overrides are escaped when written (`core::json`), so
//! no byte can end a line, forge a field, or steer a terminal.

use std::collections::BTreeMap;

use serde::Serialize;

use super::connect::{ConnectEvent, SockAddr};
use super::detect::{FileId, Hit};
use super::origin::Origin;
use super::signature::{DOCKER_ABUSE, Signature};
use super::time;

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Always "finding" (health events say "health").
    pub kind: &'static str,
    pub time: String,
    pub signature: &'static Signature,
    /// The signature's severity as a word: `info`, `notice`, `warning`,
    /// `error`, `critical` (`signature::priority`).
    pub priority: &'static str,
    /// The summary line (`core::message`), bounded; kept in step with `count`
    /// by `set_count`.
    pub message: String,
    pub source: &'static str,
    pub operation: &'static str,
    pub outcome: Outcome,
    pub socket: Socket,
    pub process: Process,
    pub container: ContainerInfo,
    /// The audit event behind it; null for what fanotify saw.
    pub audit: Option<Audit>,
    pub host: Host,
    pub count: u64,
    /// What a fanotify finding changed (old and new mode and owner, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// What `--respond` did about it (absent when it is off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<super::respond::Response>,
}

impl Finding {
    /// Makes the summary line from the finding as it now is.
    pub fn summarize(&mut self) {
        self.message = super::message::summary(self);
    }

    /// How many events the finding stands for (a de-duplication summary); the
    /// summary line says it too.
    pub fn set_count(&mut self, count: u64) {
        self.count = count;
        self.summarize();
    }

    /// A new finding, its priority and summary made from what it holds.
    fn made(mut self) -> Finding {
        self.priority = self.signature.priority().name;
        self.summarize();
        self
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct Outcome {
    pub success: bool,
    pub errno: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Socket {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_hex: Option<String>,
    pub watched: String,
    /// The runtime the watched socket belongs to (`core::runtimes`), when known.
    pub runtime: Option<&'static str>,
    pub dev: String,
    pub inode: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Process {
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub auid: Option<u32>,
    pub comm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comm_hex: Option<String>,
    pub exe: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe_hex: Option<String>,
    pub cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd_hex: Option<String>,
    pub cmdline: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline_hex: Option<Vec<String>>,
    /// The argv was longer than sockwatch reads (4 KiB): what is shown is its start.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cmdline_truncated: bool,
}

impl Process {
    /// From raw bytes: each string as UTF-8 text, with its exact bytes in a `_hex`
    /// sibling when it is not UTF-8. `ids` are pid, ppid, uid, euid, auid.
    fn new(
        ids: [Option<u32>; 5],
        comm: Option<&[u8]>,
        exe: Option<&[u8]>,
        cwd: Option<&[u8]>,
        argv: &[Vec<u8>],
    ) -> Process {
        let [pid, ppid, uid, euid, auid] = ids;
        let (comm, comm_hex) = opt_text(comm);
        let (exe, exe_hex) = opt_text(exe);
        let (cwd, cwd_hex) = opt_text(cwd);
        Process {
            pid,
            ppid,
            uid,
            euid,
            auid,
            comm,
            comm_hex,
            exe,
            exe_hex,
            cwd,
            cwd_hex,
            cmdline: Vec::new(),
            cmdline_hex: None,
            cmdline_truncated: false,
        }
        .with_cmdline(argv, false)
    }

    /// Sets the argv, each string as text, all of them also in hex when one is
    /// not UTF-8. `truncated`: the argv was longer than what was read.
    pub fn with_cmdline(mut self, argv: &[Vec<u8>], truncated: bool) -> Process {
        self.cmdline = argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        self.cmdline_hex = argv
            .iter()
            .any(|a| std::str::from_utf8(a).is_err())
            .then(|| argv.iter().map(|a| hex(a)).collect());
        self.cmdline_truncated = truncated;
        self
    }
}

/// The container id, name and runtime of a process proven to be on the host,
/// as Falco's `container.id` says `host`. No runtime is called that, and an
/// id is 64 hex digits or an LXC or nspawn container's name, which the
/// allowlist never confuses with it (`ContainerInfo::is_host`).
pub const HOST: &str = "host";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: Option<String>,
    pub runtime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The image's content digest (`sha256:...`), where the runtime's state has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The name, image or labels were longer than kept (256 and 512 bytes; 64
    /// labels, keys up to 256 bytes, values cut at 1024).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub metadata_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<Pod>,
    /// For a container of an unknown runtime: the namespaces that gave it away.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<NamespaceIds>,
    /// How the container was found: "pid", "cache", "ppid", "ancestor", "monitor";
    /// null when it was not.
    pub attributed_by: Option<&'static str>,
    /// Why the container is unknown, when that is known in advance (`scan`: past
    /// events have no live /proc to read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

impl ContainerInfo {
    /// The host marker: the process was proven to be the host's. Told by the
    /// runtime, which no container has (a container may be named `host`).
    pub fn is_host(&self) -> bool {
        self.runtime == HOST
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Pod {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NamespaceIds {
    pub mnt: u64,
    pub pid: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    pub serial: u64,
    pub time: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    /// This host's name; for `scan`, the log's `node=`, or null when it has none.
    pub hostname: Option<String>,
}

/// What the I/O side adds to an event: the emission time, a fuller argv than the
/// kernel's 128-byte PROCTITLE when /proc still had it, and the host name.
pub struct Extra<'a> {
    pub now: String,
    pub cmdline: Option<Vec<Vec<u8>>>,
    pub hostname: Option<&'a str>,
}

pub fn connect_finding(
    ev: &ConnectEvent,
    hit: &Hit,
    watched_path: &str,
    origin: &Origin,
    extra: Extra<'_>,
) -> Finding {
    let named = match &ev.addr {
        Some(SockAddr::Unix(p)) => Some(p.as_slice()),
        _ => ev.paths.iter().find_map(|p| p.name.as_deref()),
    };
    let (path, path_hex) = text(named.unwrap_or_default());
    let argv = extra.cmdline.as_deref().or(ev.proctitle.as_deref()).unwrap_or_default();
    let ids = &ev.ids;
    Finding {
        kind: "finding",
        time: extra.now,
        signature: &DOCKER_ABUSE,
        priority: "",
        message: String::new(),
        source: "audit",
        operation: "connect",
        outcome: outcome(ev.success, ev.exit),
        socket: Socket {
            path,
            path_hex,
            watched: watched_path.to_string(),
            runtime: super::runtimes::runtime_of(watched_path),
            dev: format!("{:02x}:{:02x}", hit.file.major, hit.file.minor),
            inode: hit.file.inode,
        },
        process: Process::new(
            [ids.pid, ids.ppid, ids.uid, ids.euid, ids.auid],
            ev.comm.as_deref(),
            ev.exe.as_deref(),
            ev.cwd.as_deref(),
            argv,
        ),
        container: container_info(origin),
        audit: Some(Audit {
            serial: ev.stamp.serial,
            time: time::format_millis(ev.stamp.sec, ev.stamp.msec),
        }),
        host: Host { hostname: extra.hostname.map(str::to_string) },
        count: 1,
        details: None,
        response: None,
    }
    .made()
}

/// The process behind a fanotify event, as /proc showed it.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    pub uid: Option<u32>,
    pub comm: Option<Vec<u8>>,
    pub exe: Option<Vec<u8>>,
    pub cwd: Option<Vec<u8>>,
    pub cmdline: Vec<Vec<u8>>,
    /// The argv was longer than what was read.
    pub cmdline_truncated: bool,
}

/// A finding about the socket file itself (fanotify): SW-1001 or SW-1002.
#[allow(clippy::too_many_arguments)]
pub fn file_finding(
    signature: &'static Signature,
    operation: &'static str,
    watched: &str,
    file: Option<FileId>,
    actor: &Actor,
    origin: &Origin,
    details: serde_json::Value,
    now: String,
    hostname: &str,
) -> Finding {
    Finding {
        kind: "finding",
        time: now,
        signature,
        priority: "",
        message: String::new(),
        source: "fanotify",
        operation,
        outcome: Outcome { success: true, errno: None },
        socket: Socket {
            path: watched.to_string(),
            path_hex: None,
            watched: watched.to_string(),
            runtime: super::runtimes::runtime_of(watched),
            dev: file.map_or(String::new(), |f| format!("{:02x}:{:02x}", f.major, f.minor)),
            inode: file.map_or(0, |f| f.inode),
        },
        process: Process::new(
            [actor.pid, actor.ppid, actor.uid, None, None],
            actor.comm.as_deref(),
            actor.exe.as_deref(),
            actor.cwd.as_deref(),
            &[],
        )
        .with_cmdline(&actor.cmdline, actor.cmdline_truncated),
        container: container_info(origin),
        audit: None,
        host: Host { hostname: Some(hostname.to_string()) },
        count: 1,
        details: Some(details),
        response: None,
    }
    .made()
}

pub fn container_info(origin: &Origin) -> ContainerInfo {
    let unknown = |namespaces: Option<NamespaceIds>, note: Option<&'static str>| ContainerInfo {
        id: None,
        runtime: "unknown".into(),
        name: None,
        image: None,
        image_id: None,
        labels: BTreeMap::new(),
        metadata_truncated: false,
        pod: None,
        namespaces,
        attributed_by: None,
        note,
    };
    match origin {
        Origin::Container(a) => {
            let meta = a.meta.clone().unwrap_or_default();
            let label = |k: &str| meta.labels.get(k).cloned();
            let pod_uid = a.container.pod_uid.clone().or_else(|| label("io.kubernetes.pod.uid"));
            let (pod_name, pod_ns) =
                (meta.pod_name().map(str::to_string), meta.pod_namespace().map(str::to_string));
            let pod = (pod_uid.is_some() || pod_name.is_some() || pod_ns.is_some())
                .then_some(Pod { uid: pod_uid, name: pod_name, namespace: pod_ns });
            ContainerInfo {
                id: Some(a.container.id.clone()),
                runtime: a.container.runtime.as_str().to_string(),
                name: meta.name,
                image: meta.image,
                image_id: meta.image_id,
                metadata_truncated: meta.truncated,
                labels: meta.labels,
                pod,
                namespaces: None,
                attributed_by: Some(a.by.as_str()),
                note: None,
            }
        }
        Origin::Unknown { namespaces, why } => {
            unknown(namespaces.map(|n| NamespaceIds { mnt: n.mnt, pid: n.pid }), Some(why.note()))
        }
        Origin::Host => ContainerInfo {
            id: Some(HOST.into()),
            runtime: HOST.into(),
            name: Some(HOST.into()),
            ..unknown(None, None)
        },
    }
}

/// `success=yes/no` and the negative errno in `exit`, as a name such as "EACCES".
pub fn outcome(success: Option<bool>, exit: Option<i64>) -> Outcome {
    let success = success.unwrap_or(exit == Some(0));
    let errno = match exit {
        Some(e) if e < 0 && !success => {
            Some(e.checked_neg().map_or_else(|| format!("E{e}"), errno_name))
        }
        _ => None,
    };
    Outcome { success, errno }
}

fn errno_name(n: i64) -> String {
    let Ok(raw) = i32::try_from(n) else { return format!("E{n}") };
    match nix::errno::Errno::from_raw(raw) {
        nix::errno::Errno::UnknownErrno => format!("E{n}"),
        e => format!("{e:?}"),
    }
}

fn text(b: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(b) {
        Ok(s) => (s.to_string(), None),
        Err(_) => (String::from_utf8_lossy(b).into_owned(), Some(hex(b))),
    }
}

fn opt_text(b: Option<&[u8]>) -> (Option<String>, Option<String>) {
    match b {
        Some(b) => {
            let (t, h) = text(b);
            (Some(t), h)
        }
        None => (None, None),
    }
}

/// Lower-case hex in one pass: no allocation per byte, so a long non-UTF-8
/// value costs a copy, not a formatter call per byte.
fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(b.len() * 2);
    for &x in b {
        out.push(DIGITS[usize::from(x >> 4)]);
        out.push(DIGITS[usize::from(x & 15)]);
    }
    // Only ASCII digits were pushed.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::cgroup::{Container, Runtime};
    use super::super::connect::{Ids, PathItem, Via};
    use super::super::origin::{Attribution, By, Namespaces};
    use super::super::record::Stamp;
    use super::super::runtime_state::Meta;
    use super::*;

    fn event() -> ConnectEvent {
        ConnectEvent {
            stamp: Stamp { sec: 1_795_863_162, msec: 42, serial: 777 },
            via: Via::Syscall,
            success: Some(false),
            exit: Some(-111),
            ids: Ids {
                pid: Some(10),
                ppid: Some(9),
                uid: Some(0),
                euid: Some(0),
                auid: Some(u32::MAX),
            },
            comm: Some(b"ev\nil\"x".to_vec()),
            exe: Some(b"/tmp/\xff\xfeexe".to_vec()),
            key: None,
            addr: Some(SockAddr::Unix(b"/tmp/x.sock".to_vec())),
            paths: vec![PathItem {
                name: Some(b"/tmp/x.sock".to_vec()),
                inode: Some(5),
                dev: Some((254, 0)),
            }],
            cwd: Some(b"/".to_vec()),
            proctitle: Some(vec![
                b"socat".to_vec(),
                b"-".to_vec(),
                b"UNIX-CONNECT:/tmp/x.sock".to_vec(),
            ]),
        }
    }

    /// A finding for tests elsewhere in the core.
    pub fn sample() -> Finding {
        let hit = Hit { watched: 0, file: FileId { major: 254, minor: 0, inode: 5 } };
        connect_finding(
            &event(),
            &hit,
            "/run/docker.sock",
            &Origin::Unknown { namespaces: None, why: crate::core::origin::Unproven::Gone },
            Extra {
                now: "2026-11-28T10:52:42.100000Z".into(),
                cmdline: None,
                hostname: Some("h1"),
            },
        )
    }

    #[test]
    fn a_cut_argv_says_so_and_hex_is_exact() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        let f = sample();
        let p = f.process.clone().with_cmdline(&[b"a".to_vec(), vec![0xff, 0x41]], true);
        assert_eq!(p.cmdline, ["a", "\u{fffd}A"]);
        assert_eq!(p.cmdline_hex, Some(vec!["61".into(), "ff41".into()]));
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["cmdline_truncated"], true);
        let whole =
            serde_json::to_value(f.process.clone().with_cmdline(&[b"a".to_vec()], false)).unwrap();
        assert!(whole.get("cmdline_truncated").is_none(), "only said when true: {whole}");
        assert!(whole.get("cmdline_hex").is_none());
    }

    #[test]
    fn serializes_every_documented_field_on_one_line() {
        let hit = Hit { watched: 0, file: FileId { major: 254, minor: 0, inode: 5 } };
        let mut labels = BTreeMap::new();
        labels.insert("io.kubernetes.pod.name".to_string(), "web".to_string());
        let origin = Origin::Container(Attribution {
            container: Container { runtime: Runtime::Docker, id: "b".repeat(64), pod_uid: None },
            by: By::Ppid,
            meta: Some(Meta {
                name: Some("web-1".into()),
                image: Some("nginx:1.27".into()),
                image_id: None,
                labels,
                truncated: false,
            }),
        });
        let f = connect_finding(
            &event(),
            &hit,
            "/run/docker.sock",
            &origin,
            Extra {
                now: "2026-11-28T10:52:42.100000Z".into(),
                cmdline: None,
                hostname: Some("h1"),
            },
        );
        let line = serde_json::to_string(&f).unwrap();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["kind"], "finding");
        assert_eq!(v["signature"]["id"], "TRC-1019");
        assert_eq!(v["signature"]["mitre"]["technique_id"], "T1068");
        assert_eq!(v["signature"]["severity"], 2);
        assert_eq!(v["priority"], "warning");
        assert_eq!(
            v["message"],
            "Docker socket abuse detected: ev\\x0ail\"x (pid 10) in container web-1 (nginx:1.27) tried to connect (ECONNREFUSED) to /run/docker.sock"
        );
        assert_eq!(v["source"], "audit");
        assert_eq!(v["operation"], "connect");
        assert_eq!(v["outcome"], serde_json::json!({"success": false, "errno": "ECONNREFUSED"}));
        assert_eq!(v["socket"]["path"], "/tmp/x.sock");
        assert_eq!(v["socket"]["watched"], "/run/docker.sock");
        assert_eq!(v["socket"]["runtime"], "docker");
        assert_eq!(v["socket"]["dev"], "fe:00");
        assert_eq!(v["socket"]["inode"], 5);
        assert_eq!(v["process"]["comm"], "ev\nil\"x");
        assert_eq!(v["process"]["exe_hex"], "2f746d702ffffe657865");
        assert!(v["process"].get("comm_hex").is_none());
        assert_eq!(v["process"]["cmdline"][2], "UNIX-CONNECT:/tmp/x.sock");
        assert_eq!(v["process"]["auid"], 4294967295u64);
        assert_eq!(v["container"]["id"], "b".repeat(64));
        assert_eq!(v["container"]["runtime"], "docker");
        assert_eq!(v["container"]["attributed_by"], "ppid");
        assert_eq!(v["container"]["name"], "web-1");
        assert_eq!(v["container"]["image"], "nginx:1.27");
        assert_eq!(v["container"]["pod"], serde_json::json!({"name": "web"}));
        assert!(v["container"].get("namespaces").is_none());
        assert_eq!(
            v["audit"],
            serde_json::json!({"serial": 777, "time": "2026-11-28T10:52:42.042Z"})
        );
        assert!(v.get("details").is_none());
        assert_eq!(v["host"]["hostname"], "h1");
        assert_eq!(v["count"], 1);
    }

    #[test]
    fn unknown_containers_carry_their_namespaces() {
        let why = crate::core::origin::Unproven::ForeignNamespaces;
        let info = container_info(&Origin::Unknown {
            namespaces: Some(Namespaces { mnt: 4026532000, pid: 4026532001 }),
            why,
        });
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": null, "runtime": "unknown", "namespaces": {"mnt": 4026532000u64, "pid": 4026532001u64}, "attributed_by": null, "note": why.note()})
        );
    }

    /// A process proven to be the host's is marked `host`; one whose origin
    /// is unproven stays `unknown`, and a container named "host" is not the host.
    #[test]
    fn the_host_has_its_own_marker() {
        let host = container_info(&Origin::Host);
        assert_eq!(
            serde_json::to_value(&host).unwrap(),
            serde_json::json!({"id": "host", "runtime": "host", "name": "host", "attributed_by": null})
        );
        assert!(host.is_host());
        let why = crate::core::origin::Unproven::Offline;
        let unknown = container_info(&Origin::Unknown { namespaces: None, why });
        assert_eq!((unknown.runtime.as_str(), unknown.id.as_deref()), ("unknown", None));
        assert!(!unknown.is_host());
        let mut named_host = sample().container;
        (named_host.runtime, named_host.name) = ("docker".into(), Some("host".into()));
        assert!(!named_host.is_host());
    }

    /// A de-duplication summary's line says how many it stands for.
    #[test]
    fn the_count_is_in_the_summary() {
        let mut f = sample();
        assert!(!f.message.contains("times"), "{}", f.message);
        f.set_count(7);
        assert_eq!(f.count, 7);
        assert!(f.message.ends_with(" (7 times)"), "{}", f.message);
    }

    #[test]
    fn outcomes() {
        assert_eq!(outcome(Some(true), Some(0)), Outcome { success: true, errno: None });
        assert_eq!(outcome(Some(false), Some(-13)).errno.as_deref(), Some("EACCES"));
        assert_eq!(outcome(Some(false), Some(-4095)).errno.as_deref(), Some("E4095"));
        assert_eq!(outcome(None, None), Outcome { success: false, errno: None });
    }
}
