//! Replays audit records captured on a real kernel (tests/data, made by
//! tests/data/capture/capture.sh) through the pure core: parsing, assembly,
//! connect extraction, detection and the finding. No root needed.

use std::time::{Duration, Instant};

use sockwatch::core::assemble::{Assembler, Close, Event};
use sockwatch::core::cgroup::{Container, Runtime};
use sockwatch::core::connect::{self, ConnectEvent, SockAddr, Via};
use sockwatch::core::detect::{self, Detection, FileId, Process, Skip, WatchedSocket};
use sockwatch::core::origin::{Attribution, By, Origin};
use sockwatch::core::record::Record;

const CAPTURE: &[u8] = include_bytes!("data/records-6.18.txt");
const MALFORMED: &[u8] = include_bytes!("data/malformed.txt");

/// Parses and assembles `data`; returns the events and the number of bad lines.
fn replay(data: &[u8]) -> (Vec<Event>, usize) {
    let t0 = Instant::now();
    let mut a = Assembler::new(Duration::from_millis(500), 1024);
    let mut events = Vec::new();
    let mut bad = 0;
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match Record::parse_line(line) {
            Ok(r) => a.push(r, t0, &mut events),
            Err(_) => bad += 1,
        }
    }
    a.expire(t0 + Duration::from_secs(1), &mut events);
    (events, bad)
}

fn container() -> Origin {
    Origin::Container(Attribution {
        container: Container { runtime: Runtime::Docker, id: "d".repeat(64), pod_uid: None },
        by: By::Pid,
        meta: None,
    })
}

/// The watched socket's identity, read from the capture itself: the PATH record of
/// the host's connect by the real name.
/// `detect::detect` as `run` calls it, for a process in a Docker container,
/// stamped with a fixed time and host "h".
fn detect_in_container(c: &ConnectEvent, watched: &[WatchedSocket]) -> Result<Detection, Skip> {
    let look = |_: &_| Process { origin: container() };
    detect::detect(c, watched, None, look, "2026-01-01T00:00:00.000000Z".into(), Some("h"))
}

fn real_socket(events: &[Event]) -> FileId {
    events
        .iter()
        .filter_map(connect::extract)
        .flat_map(|c| c.paths)
        .find(|p| p.name.as_deref().is_some_and(|n| n.ends_with(b"/real.sock")))
        .map(|p| FileId {
            major: p.dev.unwrap().0,
            minor: p.dev.unwrap().1,
            inode: p.inode.unwrap(),
        })
        .expect("the capture has a connect to real.sock")
}

#[test]
fn captured_connects_are_all_found_and_decoded() {
    let (events, bad) = replay(CAPTURE);
    assert_eq!(bad, 0);
    // Every syscall event has its EOE; records that may stand alone (the rule
    // changes, an LSM's denial ahead of its SYSCALL) close at once on their own.
    for e in &events {
        let syscall = e.first(1300).is_some();
        assert!(
            e.closed_by == if syscall { Close::Eoe } else { Close::Standalone }
                || e.records.is_empty(),
            "{e:?}"
        );
    }
    let connects: Vec<_> = events.iter().filter_map(connect::extract).collect();
    assert_eq!(connects.len(), 6, "alias, non-UTF-8 alias, host, refused, denied, io_uring");

    // 1. Full sockaddr_un with garbage after the NUL: only "alias.sock" counts.
    assert_eq!(connects[0].addr, Some(SockAddr::Unix(b"alias.sock".to_vec())));
    assert_eq!(connects[0].cwd.as_deref(), Some(&b"/tmp/sockwatch-capture.geSWwO"[..]));
    // 2. A hex-encoded, non-UTF-8 name with a space, in SOCKADDR and PATH alike.
    let weird = b"/tmp/sockwatch-capture.geSWwO/alias\xff\xfe x.sock".to_vec();
    assert_eq!(connects[1].addr, Some(SockAddr::Unix(weird.clone())));
    assert_eq!(connects[1].paths[0].name, Some(weird.clone()));
    assert_eq!(connects[1].proctitle.as_ref().unwrap()[1], weird);
    // 4, 5. Failed connects carry their errno.
    assert_eq!((connects[3].success, connects[3].exit), (Some(false), Some(-111)));
    assert_eq!((connects[4].success, connects[4].exit), (Some(false), Some(-13)));
    assert_eq!(connects[4].ids.uid, Some(65534));
    // 6. io_uring: URINGOP with the op, comm and exe from io_uring_enter's SYSCALL.
    assert_eq!(connects[5].via, Via::IoUring);
    assert_eq!(connects[5].comm.as_deref(), Some(&b"client_uring"[..]));
    assert!(connects.iter().all(|c| c.key.as_deref() == Some(&b"sockwatch"[..])));
}

#[test]
fn captured_connects_to_the_watched_inode_fire_and_others_do_not() {
    let (events, _) = replay(CAPTURE);
    let sock = real_socket(&events);
    let watched = vec![WatchedSocket::new("/run/docker.sock".into(), Some(sock))];
    let verdicts: Vec<_> = events
        .iter()
        .filter_map(connect::extract)
        .map(|c| detect_in_container(&c, &watched).map(|d| d.hit.file))
        .collect();
    assert_eq!(
        verdicts,
        vec![Ok(sock), Ok(sock), Ok(sock), Err(Skip::NotWatched), Ok(sock), Ok(sock)],
        "dead.sock is another inode; everything else reached the watched socket"
    );
}

#[test]
fn findings_from_captured_records_carry_exact_bytes() {
    let (events, _) = replay(CAPTURE);
    let sock = real_socket(&events);
    let watched = vec![WatchedSocket::new("/run/docker.sock".into(), Some(sock))];
    let c = connect::extract(
        &events.iter().filter(|e| connect::extract(e).is_some()).nth(1).unwrap().clone(),
    )
    .unwrap();
    let f = detect_in_container(&c, &watched).unwrap().finding;
    let v: serde_json::Value = serde_json::to_value(&f).unwrap();
    let hex = v["socket"]["path_hex"].as_str().unwrap();
    assert!(hex.ends_with("616c696173fffe20782e736f636b"), "{hex}");
    assert_eq!(v["socket"]["watched"], "/run/docker.sock");
    assert_eq!(v["socket"]["inode"], sock.inode);
    assert_eq!(v["audit"]["time"], "2026-11-28T11:01:58.597Z");
}

#[test]
fn malformed_input_is_counted_and_does_not_cost_the_good_event() {
    let (events, bad) = replay(MALFORMED);
    // Two comments, the untyped line, the cut-off stamp, the bad stamp, a type that
    // does not fit in 16 bits.
    assert_eq!(bad, 6);
    let complete: Vec<_> = events.iter().filter(|e| e.closed_by == Close::Eoe).collect();
    assert_eq!(complete.len(), 1);
    let good = connect::extract(complete[0]).expect("serial 40 is still a connect");
    assert_eq!(good.addr, Some(SockAddr::Unix(b"alias.sock".to_vec())));
    assert_eq!(good.paths.len(), 1);
    let watched = vec![WatchedSocket::new(
        "/run/docker.sock".into(),
        Some(FileId { major: 0xfe, minor: 0, inode: 10010627 }),
    )];
    assert!(detect_in_container(&good, &watched).is_ok());

    // Serial 41 was cut short and never got its EOE: closed by the timeout, and
    // without an inode it cannot be matched (no guess by name).
    let cut = events.iter().find(|e| e.stamp.serial == 41).unwrap();
    assert_eq!(cut.closed_by, Close::Timeout);
    let cut = connect::extract(cut).unwrap();
    assert!(cut.paths.iter().all(|p| p.inode.is_none()));
    assert_eq!(detect_in_container(&cut, &watched).err(), Some(Skip::NotWatched));

    // The stray PATH after serial 40's EOE, the unknown types: events of their own.
    assert!(events.iter().any(|e| e.stamp.serial == 40 && e.closed_by == Close::Timeout));
    assert!(
        events.iter().any(|e| e.records.iter().any(|r| r.rtype == 1999 && r.body.contains(&0xff)))
    );
}
