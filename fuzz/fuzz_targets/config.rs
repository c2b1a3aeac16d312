//! The configuration file (`config::parse`): any text, valid TOML or not. An
//! error is located on a line of the file; a configuration that parses merges
//! with `run`'s command line (`config::Settings::merge`) and its allowlist is
//! applied to findings.

#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use clap::Parser;
use libfuzzer_sys::fuzz_target;
use sockwatch::cli::{Cli, Command, RunArgs};
use sockwatch::config::{Settings, parse};
use sockwatch::core::allow::allowed;
use sockwatch::core::cgroup::{Container, Runtime};
use sockwatch::core::connect::{ConnectEvent, Ids, PathItem, SockAddr, Via};
use sockwatch::core::detect::{FileId, Hit};
use sockwatch::core::finding::{Extra, Finding, connect_finding};
use sockwatch::core::origin::{Attribution, By, Origin};
use sockwatch::core::record::Stamp;
use sockwatch::core::runtime_state::Meta;

/// `sockwatch run` with no option: the file's settings and the defaults decide.
fn run_args() -> &'static RunArgs {
    static ARGS: OnceLock<RunArgs> = OnceLock::new();
    ARGS.get_or_init(|| match Cli::try_parse_from(["sockwatch", "run"]).unwrap().command {
        Command::Run(args) => *args,
        _ => unreachable!(),
    })
}

/// A finding from a Docker container named "web-1" (image nginx:1.27, one
/// label), and one from a process whose container is unknown.
fn findings() -> &'static [Finding] {
    static FINDINGS: OnceLock<Vec<Finding>> = OnceLock::new();
    FINDINGS.get_or_init(|| {
        let ev = ConnectEvent {
            stamp: Stamp { sec: 1_795_863_162, msec: 42, serial: 777 },
            via: Via::Syscall,
            success: Some(true),
            exit: Some(0),
            ids: Ids { pid: Some(10), ppid: Some(9), uid: Some(0), euid: Some(0), auid: None },
            comm: Some(b"socat".to_vec()),
            exe: Some(b"/usr/bin/socat".to_vec()),
            key: Some(b"sockwatch".to_vec()),
            addr: Some(SockAddr::Unix(b"/run/docker.sock".to_vec())),
            paths: vec![PathItem {
                name: Some(b"/run/docker.sock".to_vec()),
                inode: Some(5),
                dev: Some((254, 0)),
            }],
            cwd: Some(b"/".to_vec()),
            proctitle: None,
        };
        let hit = Hit { watched: 0, file: FileId { major: 254, minor: 0, inode: 5 } };
        let meta = Meta {
            name: Some("web-1".into()),
            image: Some("nginx:1.27".into()),
            image_id: Some(format!("sha256:{}", "e".repeat(64))),
            labels: BTreeMap::from([("team".into(), "web".into())]),
            truncated: false,
        };
        let container = Origin::Container(Attribution {
            container: Container { runtime: Runtime::Docker, id: "d".repeat(64), pod_uid: None },
            by: By::Pid,
            meta: Some(meta),
        });
        [container, Origin::Host]
            .iter()
            .map(|o| {
                let extra = Extra { now: "t".into(), cmdline: None, hostname: Some("h") };
                connect_finding(&ev, &hit, "/run/docker.sock", o, extra)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("/etc/sockwatch/sockwatch.toml");
    match parse(path, text) {
        Ok(cfg) => {
            let s = Settings::merge(run_args(), &cfg, "h".into());
            assert!(!s.outputs.is_empty() || cfg.run.outputs.is_some());
            for f in findings() {
                let any = allowed(&s.allow, f);
                assert_eq!(any, s.allow.iter().any(|r| r.matches(f)));
            }
            for r in &s.allow {
                let _ = (r.is_empty(), r.only_mutable());
            }
        }
        Err(e) => {
            let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
            assert!((1..=lines).contains(&e.line), "line {} of {lines}: {e}", e.line);
            assert!(!e.to_string().is_empty());
        }
    }
});
