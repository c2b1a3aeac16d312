//! `sockwatch scan`'s pure half: log records in, the events that may be connects
//! out, and the offline fallback that matches a socket by name.
//!
//! An audit log is mostly other syscalls. The first record of an event decides
//! what happens to the rest: a SYSCALL that is not connect (or socketcall's
//! connect) and a URINGOP that is not IORING_OP_CONNECT mark the event ignored,
//! and its further records cost one comparison each, with nothing copied. Only
//! events that may be connects keep their records, and only those are assembled
//! into an `Event` for `connect::extract`.
//!
//! auditd writes no EOE records, so an event also closes when it is the oldest of
//! `capacity` open ones, or at the end of the input. Events are keyed by node and
//! stamp: one log may hold several hosts' events with equal stamps.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use super::abi::{self, Call, SOCKETCALL_CONNECT, URING_OP_CONNECT};
use super::assemble::{Close, Event};
use super::connect::{ConnectEvent, SockAddr};
use super::detect::FileId;
use super::logline::LogRecord;
use super::record::{Fields, Record, Stamp, StampHasher, parse_dec, parse_hex_u64, types};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    node: u64,
    stamp: Stamp,
}

enum Slot {
    /// Not a connect: further records are skipped.
    Ignored,
    /// A connect, or not known yet (`decided` false: only records such as PATH
    /// have come, the SYSCALL that says what the event is has not).
    Keep { decided: bool, node: Option<Vec<u8>>, records: Vec<Record> },
}

/// An event that may be a connect, and the node (host) whose log it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub node: Option<Vec<u8>>,
    pub event: Event,
}

/// What the scanner saw, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub records: u64,
    pub events: u64,
    /// Events that may be connects, handed on.
    pub candidates: u64,
    /// Events whose SYSCALL or URINGOP record never came (cut off by the start of
    /// the log, or lost): they cannot be told apart, so they are counted.
    pub undecided: u64,
}

/// Keys are (node hash, stamp): a multiply-and-rotate hash is plenty, and
/// SipHash cost a tenth of the scan.
type KeyMap<V> = HashMap<Key, V, std::hash::BuildHasherDefault<StampHasher>>;

pub struct Scanner {
    slots: KeyMap<Slot>,
    /// Keys in order of their first record. May hold keys that already closed on
    /// EOE; those are skipped when met.
    order: VecDeque<Key>,
    capacity: usize,
    /// The last record's event, when it was ignored: the common case of a run of
    /// records of one uninteresting event costs no hashing at all.
    last_ignored: Option<Key>,
    pub stats: ScanStats,
}

impl Scanner {
    pub fn new(capacity: usize) -> Scanner {
        Scanner {
            slots: KeyMap::default(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            last_ignored: None,
            stats: ScanStats::default(),
        }
    }

    /// Takes one record; pushes onto `out` the candidate events this closes.
    pub fn push(&mut self, r: &LogRecord<'_>, out: &mut Vec<Candidate>) {
        self.stats.records += 1;
        let key = Key { node: r.node.map_or(0, node_hash), stamp: r.stamp };
        if r.rtype == types::EOE {
            if self.last_ignored == Some(key) {
                self.last_ignored = None;
            }
            if let Some(slot) = self.slots.remove(&key) {
                self.close(key.stamp, slot, Close::Eoe, out);
            }
            return;
        }
        if self.last_ignored == Some(key) {
            return;
        }
        let slot = match self.slots.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                self.stats.events += 1;
                self.order.push_back(key);
                e.insert(Slot::Keep { decided: false, node: None, records: Vec::new() })
            }
        };
        if let Slot::Keep { decided, node, records } = slot {
            let verdict = if *decided { Some(true) } else { verdict(r) };
            if verdict == Some(false) {
                *slot = Slot::Ignored;
            } else {
                *decided = verdict.is_some();
                // Only what `connect::extract` reads is kept: an AVC before the
                // SYSCALL, say, waits with the event but is not copied.
                if is_kept(r.rtype) {
                    if records.is_empty() {
                        *node = r.node.map(<[u8]>::to_vec);
                    }
                    records.push(Record {
                        rtype: r.rtype,
                        stamp: r.stamp,
                        body: r.kernel_body().to_vec(),
                    });
                }
            }
        }
        self.last_ignored = matches!(slot, Slot::Ignored).then_some(key);
        while self.slots.len() > self.capacity {
            self.evict_oldest(out);
        }
        // Keys of events closed by EOE pile up in `order`: drop them from the front.
        while self.order.front().is_some_and(|k| !self.slots.contains_key(k)) {
            self.order.pop_front();
        }
    }

    /// The end of the input: every open event closes.
    pub fn finish(&mut self, out: &mut Vec<Candidate>) {
        while let Some(key) = self.order.pop_front() {
            if let Some(slot) = self.slots.remove(&key) {
                self.close(key.stamp, slot, Close::Flush, out);
            }
        }
        self.last_ignored = None;
    }

    fn evict_oldest(&mut self, out: &mut Vec<Candidate>) {
        while let Some(key) = self.order.pop_front() {
            if let Some(slot) = self.slots.remove(&key) {
                if self.last_ignored == Some(key) {
                    self.last_ignored = None;
                }
                self.close(key.stamp, slot, Close::Evicted, out);
                return;
            }
        }
    }

    fn close(&mut self, stamp: Stamp, slot: Slot, closed_by: Close, out: &mut Vec<Candidate>) {
        match slot {
            Slot::Ignored => {}
            Slot::Keep { decided: true, node, records } => {
                self.stats.candidates += 1;
                out.push(Candidate { node, event: Event { stamp, records, closed_by } });
            }
            // A SYSCALL that left it undecided was io_uring_enter without a
            // connect among its ops: judged, not a connect.
            Slot::Keep { decided: false, records, .. } => {
                if !records.is_empty() && !records.iter().any(|r| r.rtype == types::SYSCALL) {
                    self.stats.undecided += 1;
                }
            }
        }
    }
}

/// Whether this record says its event is a connect (`Some(true)`), is not
/// (`Some(false)`), or does not say (`None`). Only a SYSCALL record says no:
/// PATH and the like come with every kind of event, an LSM's record (AVC,
/// AppArmor, Landlock) comes before the SYSCALL of the call it denied, and one
/// io_uring_enter may carry several URINGOP records, the connect not first.
fn verdict(r: &LogRecord<'_>) -> Option<bool> {
    match r.rtype {
        types::SYSCALL => {
            // The kernel writes `arch=` and `syscall=` first: read just those, and
            // `a0` only for socketcall.
            let mut fields = Fields::new(r.body);
            let (mut arch, mut nr) = (None, None);
            for (k, v) in fields.by_ref() {
                match k {
                    b"arch" => arch = parse_hex_u64(v),
                    b"syscall" => nr = parse_dec(v),
                    _ => {}
                }
                if arch.is_some() && nr.is_some() {
                    break;
                }
            }
            let Some(nr) = nr else { return Some(false) };
            match arch.map_or(Call::Other, |a| abi::call(a, nr)) {
                Call::Connect => Some(true),
                Call::Socketcall => Some(
                    fields.find(|(k, _)| *k == b"a0").and_then(|(_, v)| parse_hex_u64(v))
                        == Some(SOCKETCALL_CONNECT),
                ),
                // Its URINGOP records decide, whichever order they come in.
                Call::Other if nr == IO_URING_ENTER => None,
                Call::Other => Some(false),
            }
        }
        types::URINGOP => {
            let connect = Fields::new(r.body)
                .find(|(k, _)| *k == b"uring_op")
                .and_then(|(_, v)| parse_dec(v))
                == Some(u64::from(URING_OP_CONNECT));
            connect.then_some(true)
        }
        _ => None,
    }
}

/// io_uring_enter's number, the same in every ABI sockwatch knows (the generic
/// syscall table, which x86 follows for new calls).
const IO_URING_ENTER: u64 = 426;

/// The record types `connect::extract` reads.
fn is_kept(t: u16) -> bool {
    matches!(
        t,
        types::SYSCALL
            | types::URINGOP
            | types::SOCKADDR
            | types::PATH
            | types::CWD
            | types::PROCTITLE
    )
}

/// FNV-1a: node names are short, and only equality within one scan matters.
fn node_hash(n: &[u8]) -> u64 {
    n.iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        | 1
}

/// A socket to look for in a log: its identity, and the names it may be reached
/// by, for the fallback when a PATH record carries no inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: Option<FileId>,
    pub names: Vec<Vec<u8>>,
}

/// `MAJ:MIN:INODE` as the PATH record writes dev (hex) and inode (decimal), for
/// example `fe:00:9805826`; optionally `=PATH` for the name fallback.
pub fn parse_socket_inode(s: &str) -> Option<(FileId, Option<String>)> {
    let (spec, name) = match s.split_once('=') {
        Some((spec, name)) if name.starts_with('/') => (spec, Some(name.to_string())),
        Some(_) => return None,
        None => (s, None),
    };
    let mut parts = spec.split(':');
    let major = u32::from_str_radix(parts.next()?, 16).ok()?;
    let minor = u32::from_str_radix(parts.next()?, 16).ok()?;
    let inode = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((FileId { major, minor, inode }, name))
}

/// The fallback: the name the process used (the PATH record's, else sun_path),
/// made absolute with the CWD record, compared with each target's names. Only for
/// an event with no (dev, inode) in any PATH record.
pub fn by_name(ev: &ConnectEvent, targets: &[Target]) -> Option<FileId> {
    if ev.paths.iter().any(|p| p.inode.is_some() && p.dev.is_some()) {
        return None;
    }
    let named = ev.paths.iter().find_map(|p| p.name.clone()).or_else(|| match &ev.addr {
        Some(SockAddr::Unix(p)) => Some(p.clone()),
        _ => None,
    })?;
    let absolute = if named.starts_with(b"/") {
        named
    } else {
        let mut p = ev.cwd.clone()?;
        if !p.ends_with(b"/") {
            p.push(b'/');
        }
        p.extend_from_slice(&named);
        p
    };
    let normal = normalize(&absolute);
    targets.iter().find(|t| t.names.iter().any(|n| normalize(n) == normal)).and_then(|t| t.id)
}

/// Drops empty and `.` components and resolves `..` lexically.
fn normalize(p: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in p.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::with_capacity(p.len());
    for c in parts {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::connect::extract;
    use crate::core::logline;

    fn scan(text: &str, capacity: usize) -> (Vec<Event>, ScanStats) {
        let (out, stats) = scan_nodes(text, capacity);
        (out.into_iter().map(|c| c.event).collect(), stats)
    }

    fn scan_nodes(text: &str, capacity: usize) -> (Vec<Candidate>, ScanStats) {
        let mut s = Scanner::new(capacity);
        let mut out = Vec::new();
        for line in text.lines() {
            if let Ok(Some(r)) = logline::parse(line.as_bytes()) {
                s.push(&r, &mut out);
            }
        }
        s.finish(&mut out);
        (out, s.stats)
    }

    const CONNECT: &str = "type=SYSCALL msg=audit(1.000:10): arch=c000003e syscall=42 success=yes exit=0 a0=3 a1=0 a2=6e a3=0 items=1 ppid=1 pid=2 comm=\"socat\" key=\"sockwatch\"
type=SOCKADDR msg=audit(1.000:10): saddr=01002F72756E2F646F636B65722E736F636B00
type=CWD msg=audit(1.000:10): cwd=\"/\"
type=PATH msg=audit(1.000:10): item=0 name=\"/run/docker.sock\" inode=77 dev=fe:00 mode=0140660
type=PROCTITLE msg=audit(1.000:10): proctitle=736F636174";

    #[test]
    fn only_connects_are_kept_and_interleaving_does_not_matter() {
        let other = "type=SYSCALL msg=audit(1.000:11): arch=c000003e syscall=2 success=yes exit=3 a0=1 items=1 pid=5
type=PATH msg=audit(1.000:11): item=0 name=\"/etc/passwd\" inode=5 dev=fe:00";
        // Interleave the two events' records line by line.
        let (a, b): (Vec<&str>, Vec<&str>) = (CONNECT.lines().collect(), other.lines().collect());
        let mut mixed: Vec<&str> = Vec::new();
        for i in 0..a.len().max(b.len()) {
            mixed.extend(a.get(i));
            mixed.extend(b.get(i));
        }
        let (events, stats) = scan(&mixed.join("\n"), 16);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].records.len(), 5);
        let c = extract(&events[0]).unwrap();
        assert_eq!(c.paths[0].inode, Some(77));
        assert_eq!((stats.records, stats.events, stats.candidates), (7, 2, 1));
    }

    #[test]
    fn socketcall_connect_and_io_uring_are_candidates_and_other_socketcalls_not() {
        let text = "type=SYSCALL msg=audit(1.000:1): arch=40000003 syscall=102 success=yes exit=0 a0=3 a1=0
type=SYSCALL msg=audit(1.000:2): arch=40000003 syscall=102 success=yes exit=0 a0=1 a1=0
type=URINGOP msg=audit(1.000:3): uring_op=16 success=yes exit=0 items=1 pid=9
type=SYSCALL msg=audit(1.000:3): arch=c000003e syscall=426 success=yes exit=1 a0=4
type=UNKNOWN[1336] msg=audit(1.000:4): uring_op=22 success=yes
type=SYSCALL msg=audit(1.000:5): arch=c000003e syscall=362 success=yes exit=0 a0=3
type=SYSCALL msg=audit(1.000:6): arch=40000003 syscall=362 success=yes exit=0 a0=3";
        let (events, _) = scan(text, 16);
        let serials: Vec<u64> = events.iter().map(|e| e.stamp.serial).collect();
        // 5 is syscall 362 on x86_64: not connect there; 6 is i386's connect.
        assert_eq!(serials, [1, 3, 6]);
    }

    #[test]
    fn an_lsm_record_first_or_a_connect_op_second_still_counts() {
        let avc = "type=AVC msg=audit(1.000:10): apparmor=\"DENIED\" operation=\"connect\" profile=\"docker-default\" name=\"/run/docker.sock\"";
        let (events, stats) = scan(&format!("{avc}\n{CONNECT}"), 16);
        assert_eq!(events.len(), 1, "an AVC before the SYSCALL does not hide the connect");
        assert_eq!(events[0].records.len(), 5, "and is not kept");
        assert_eq!(stats.undecided, 0);
        let batch = "type=URINGOP msg=audit(1.000:3): uring_op=22 success=yes exit=0 items=0 pid=9
type=URINGOP msg=audit(1.000:3): uring_op=16 success=yes exit=0 items=1 pid=9
type=SYSCALL msg=audit(1.000:3): arch=c000003e syscall=426 success=yes exit=2 a0=4
type=PATH msg=audit(1.000:3): item=0 name=\"/run/docker.sock\" inode=77 dev=fe:00";
        let (events, _) = scan(batch, 16);
        assert_eq!(events.len(), 1, "the connect op decides, not the first op");
        assert_eq!(extract(&events[0]).unwrap().via, crate::core::connect::Via::IoUring);
        // io_uring_enter without a connect op: judged, not counted as undecided.
        let (events, stats) = scan(
            "type=URINGOP msg=audit(1.000:4): uring_op=22 success=yes\ntype=SYSCALL msg=audit(1.000:4): arch=c000003e syscall=426 success=yes exit=1",
            16,
        );
        assert!(events.is_empty());
        assert_eq!(stats.undecided, 0);
        // A user-space record alone is no event worth a word either.
        let (events, stats) =
            scan("type=USER_ACCT msg=audit(1.000:5): pid=1 uid=0 msg='op=PAM:accounting'", 16);
        assert!(events.is_empty() && stats.undecided == 0);
    }

    #[test]
    fn nodes_keep_equal_stamps_apart_and_capacity_closes_the_oldest() {
        let two = format!(
            "{}\n{}",
            CONNECT.replace("type=", "node=a type="),
            CONNECT.replace("type=", "node=b type=")
        );
        let (events, _) = scan_nodes(&two, 16);
        assert_eq!(events.iter().map(|e| e.event.records.len()).collect::<Vec<_>>(), [5, 5]);
        assert_eq!(
            events.iter().map(|e| e.node.clone().unwrap()).collect::<Vec<_>>(),
            [b"a".to_vec(), b"b".to_vec()]
        );
        // With room for one open event, a record of an evicted event starts a new,
        // undecided one: counted, not reported as a connect.
        let (events, stats) = scan(
            &two.lines()
                .enumerate()
                .map(|(i, l)| if i == 9 { l.replace("node=b", "node=a") } else { l.to_string() })
                .collect::<Vec<_>>()
                .join("\n"),
            1,
        );
        assert_eq!(events.len(), 2);
        assert_eq!(stats.undecided, 1);
    }

    #[test]
    fn eoe_closes_at_once_and_a_missing_syscall_is_counted() {
        let text = format!(
            "{CONNECT}\ntype=EOE msg=audit(1.000:10): \ntype=PATH msg=audit(1.000:12): item=0 name=\"x\" inode=1 dev=fe:00"
        );
        let mut s = Scanner::new(16);
        let mut out = Vec::new();
        for line in text.lines() {
            s.push(&logline::parse(line.as_bytes()).unwrap().unwrap(), &mut out);
            if line.contains("EOE") {
                assert_eq!(out.len(), 1, "closed by its EOE");
                assert_eq!(out[0].event.closed_by, Close::Eoe);
            }
        }
        s.finish(&mut out);
        assert_eq!((out.len(), s.stats.undecided), (1, 1));
    }

    #[test]
    fn socket_inode_specs() {
        assert_eq!(
            parse_socket_inode("fe:00:9805826"),
            Some((FileId { major: 0xfe, minor: 0, inode: 9805826 }, None))
        );
        assert_eq!(
            parse_socket_inode("8:1:5=/run/docker.sock"),
            Some((FileId { major: 8, minor: 1, inode: 5 }, Some("/run/docker.sock".into())))
        );
        for bad in ["fe:00", "fe:00:x", "zz:00:1", "fe:00:1:2", "fe:00:1=relative"] {
            assert_eq!(parse_socket_inode(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_name_fallback_applies_only_without_an_inode() {
        let target = [Target {
            id: Some(FileId { major: 0xfe, minor: 0, inode: 77 }),
            names: vec![b"/run/docker.sock".to_vec(), b"/var/run/docker.sock".to_vec()],
        }];
        let no_inode = CONNECT.replace(" inode=77 dev=fe:00", "");
        let (events, _) = scan(&no_inode, 16);
        let ev = extract(&events[0]).unwrap();
        assert_eq!(by_name(&ev, &target).map(|f| f.inode), Some(77));
        // Relative to the CWD record, with dots.
        let rel =
            no_inode.replace("name=\"/run/docker.sock\"", "name=\"./run/../run/docker.sock\"");
        let ev = extract(&scan(&rel, 16).0[0]).unwrap();
        assert_eq!(by_name(&ev, &target).map(|f| f.inode), Some(77));
        // A PATH record with an inode decides by itself.
        let ev = extract(&scan(CONNECT, 16).0[0]).unwrap();
        assert_eq!(by_name(&ev, &target), None);
        // Another name: no match.
        let other = no_inode.replace("name=\"/run/docker.sock\"", "name=\"/tmp/docker.sock\"");
        let ev = extract(&scan(&other, 16).0[0]).unwrap();
        assert_eq!(by_name(&ev, &target), None);
    }
}
