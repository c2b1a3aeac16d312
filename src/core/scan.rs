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
    /// Records past MAX_EVENT_RECORDS of one event, not kept: a connect has
    /// about six, so only a crafted log has more.
    pub over_limit: u64,
}

/// The records kept of one event: a log may give one stamp any number of them.
pub const MAX_EVENT_RECORDS: usize = 64;

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
                if is_kept(r.rtype) && records.len() >= MAX_EVENT_RECORDS {
                    self.stats.over_limit += 1;
                } else if is_kept(r.rtype) {
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

/// A socket named by its identity on the command line (`--socket-inode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketIdentity {
    pub id: FileId,
    /// `=PATH`: the name it is matched by besides its identity.
    pub name: Option<String>,
    /// As given, for messages.
    pub spec: String,
}

/// What `--socket-inode` accepts, for its error messages.
pub const SOCKET_INODE_FORMS: &str = "expected MAJ:MIN:INODE[=/absolute/path]: dev in hex as a PATH record writes it \
(fe:00:9805826) or in decimal as `stat -c %Hd:%Ld:%i` prints it (254:0:9805826); a dev whose parts are all \
two or more decimal digits without a leading zero (10:10) could be either: write hex:10:10:INODE or dec:10:10:INODE";

/// `--socket-inode`: `MAJ:MIN:INODE[=PATH]`, the inode in decimal and the dev in
/// either base, told apart by how each tool writes it. The PATH record writes
/// each part of dev as at least two hex digits (`%02x`), so a hex letter or a
/// leading zero means hex; `stat` writes decimal without padding, so a part of
/// one digit means decimal (a single digit is the same number in both). What is
/// left (`10:10`, `253:11`) is refused without a `hex:` or `dec:` prefix rather
/// than guessed: a wrong guess would silently match nothing.
pub fn parse_socket_inode(s: &str) -> Result<SocketIdentity, String> {
    let bad = |why: &str| Err(format!("{s:?}: {why}; {SOCKET_INODE_FORMS}"));
    let (spec, name) = match s.split_once('=') {
        Some((spec, name)) if name.starts_with('/') => (spec, Some(name.to_string())),
        Some(_) => return bad("the name after = must be an absolute path"),
        None => (s, None),
    };
    let (forced, spec) = if let Some(r) = spec.strip_prefix("hex:") {
        (Some(16), r)
    } else if let Some(r) = spec.strip_prefix("dec:") {
        (Some(10), r)
    } else {
        (None, spec)
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let [major, minor, inode] = parts[..] else { return bad("not three parts") };
    let dev = [major, minor];
    if dev.iter().any(|p| p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return bad("dev is not two hex or decimal numbers");
    }
    let hex_sign = dev
        .iter()
        .any(|p| p.bytes().any(|b| b.is_ascii_alphabetic()) || (p.len() > 1 && p.starts_with('0')));
    let dec_sign = dev.iter().any(|p| p.len() == 1);
    let radix = match (forced, hex_sign, dec_sign) {
        (Some(r), _, _) => r,
        (None, true, _) => 16,
        (None, false, true) => 10,
        // Every part a single digit is the same either way; otherwise ambiguous.
        (None, false, false) => return bad("dev is ambiguous"),
    };
    let num = |p: &str| u32::from_str_radix(p, radix).ok();
    let (Some(major), Some(minor)) = (num(major), num(minor)) else {
        return bad("dev is not a number in that base");
    };
    let Some(inode) = inode.parse().ok().filter(|_| inode.bytes().all(|b| b.is_ascii_digit()))
    else {
        return bad("the inode is not a decimal number");
    };
    Ok(SocketIdentity { id: FileId { major, minor, inode }, name, spec: s.to_string() })
}

/// How a scanned connect was tied to a watched socket. Only `Inode` proves it
/// was the socket watched now; the others hold across a restart of the runtime
/// or a reboot, when the socket got a new inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    /// The (dev, inode) the kernel resolved is the watched socket's.
    Inode,
    /// The SYSCALL record carries sockwatch's rule key: the kernel matched one of
    /// sockwatch's path rules, so the file was a watched socket at that time.
    RuleKey,
    /// Only the name matched: the host's socket then, or a file of the same name
    /// in the process's own mount namespace (a container's own dockerd, as in
    /// docker-in-docker).
    Path,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Inode => "inode",
            MatchedBy::RuleKey => "rule_key",
            MatchedBy::Path => "path",
        }
    }
}

/// A connect to a watched socket found offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineHit {
    /// Index into the targets (and the watched sockets, in the same order);
    /// `None` for a rule-key match whose name is none of theirs: the socket is
    /// then named by the name the process used.
    pub target: Option<usize>,
    /// The file the event names (its PATH record), else the target's identity.
    pub file: FileId,
    pub by: MatchedBy,
}

/// Which watched socket an offline connect reached, and how that is known: by
/// the current (dev, inode) first (with the name fallback for an event without
/// one), then by sockwatch's rule key, then by name. `key` is the rule key.
pub fn match_offline(
    ev: &ConnectEvent,
    watched: &[super::detect::WatchedSocket],
    targets: &[Target],
    key: &[u8],
) -> Result<OfflineHit, super::detect::Skip> {
    use super::detect::{Skip, target};
    let resolved = by_name(ev, targets);
    match target(ev, watched, resolved) {
        Ok(hit) => {
            let by = if resolved.is_some() { MatchedBy::Path } else { MatchedBy::Inode };
            return Ok(OfflineHit { target: Some(hit.watched), file: hit.file, by });
        }
        Err(Skip::NotWatched) => {}
        Err(other) => return Err(other),
    }
    let own = ev.paths.iter().find_map(|p| {
        let (major, minor) = p.dev?;
        Some(FileId { major, minor, inode: p.inode? })
    });
    // A name no file was at (ENOENT and the like) reached no socket: as `run`.
    let named = if super::detect::name_not_found(ev) {
        None
    } else {
        connect_name(ev).and_then(|n| name_target(&n, targets))
    };
    let file = |t: Option<usize>| {
        own.or_else(|| t.and_then(|t| targets[t].id)).unwrap_or(FileId {
            major: 0,
            minor: 0,
            inode: 0,
        })
    };
    if by_rule_key(ev, key) {
        return Ok(OfflineHit { target: named, file: file(named), by: MatchedBy::RuleKey });
    }
    match named {
        Some(t) => Ok(OfflineHit { target: Some(t), file: file(Some(t)), by: MatchedBy::Path }),
        None => Err(Skip::NotWatched),
    }
}

/// Whether the kernel matched this connect by sockwatch's rule: the key is on
/// the SYSCALL record (several keys are joined by \x01). Not for io_uring:
/// sockwatch's io_uring rule names no path, so its key is on every AF_UNIX
/// connect made that way.
pub fn by_rule_key(ev: &ConnectEvent, key: &[u8]) -> bool {
    ev.via != super::connect::Via::IoUring
        && ev.key.as_deref().is_some_and(|k| k.split(|&b| b == 1).any(|k| k == key))
}

/// The index of the target one of whose names is `name` (absolute, normalised).
fn name_target(name: &[u8], targets: &[Target]) -> Option<usize> {
    targets.iter().position(|t| t.names.iter().any(|n| same_file_name(n, name)))
}

/// Whether two absolute names are the same, with /var/run and /run one
/// directory (the symlink every current distribution has).
pub fn same_file_name(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (normalize(a), normalize(b));
    let run = |p: &[u8]| -> Vec<u8> {
        match p.strip_prefix(b"/var/run/") {
            Some(rest) => [&b"/run/"[..], rest].concat(),
            None => p.to_vec(),
        }
    };
    run(&a) == run(&b)
}

/// The name the process connected to, absolute and normalised: sun_path, else
/// the PATH record's name (io_uring batches), made absolute with the CWD record.
/// `None` when the name is relative and there is no CWD record.
pub fn connect_name(ev: &ConnectEvent) -> Option<Vec<u8>> {
    let named = match &ev.addr {
        Some(SockAddr::Unix(p)) => p.clone(),
        Some(_) => return None,
        None => ev.paths.iter().find_map(|p| p.name.clone())?,
    };
    absolute(named, ev.cwd.as_deref())
}

fn absolute(named: Vec<u8>, cwd: Option<&[u8]>) -> Option<Vec<u8>> {
    let p = if named.starts_with(b"/") {
        named
    } else {
        let mut p = cwd?.to_vec();
        if !p.ends_with(b"/") {
            p.push(b'/');
        }
        p.extend_from_slice(&named);
        p
    };
    Some(normalize(&p))
}

/// A known runtime socket's path (`core::runtimes`, rootless ones included) that
/// `name` (absolute, normalised) is, through /var/run too.
pub fn known_runtime_socket(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    let name = match name.strip_prefix("/var/run/") {
        Some(rest) => format!("/run/{rest}"),
        None => name.to_string(),
    };
    let fixed = super::runtimes::KNOWN.iter().any(|k| k.path == name);
    let rootless = super::runtimes::user_of(&name)
        .is_some_and(|uid| super::runtimes::rootless(uid).contains(&name));
    (fixed || rootless).then_some(name)
}

/// The fallback: the name the process used (the PATH record's, else sun_path),
/// made absolute with the CWD record, compared with each target's names. Only for
/// an event with no (dev, inode) in any PATH record.
pub fn by_name(ev: &ConnectEvent, targets: &[Target]) -> Option<FileId> {
    if ev.paths.iter().any(|p| p.inode.is_some() && p.dev.is_some())
        || super::detect::name_not_found(ev)
    {
        return None;
    }
    let named = ev.paths.iter().find_map(|p| p.name.clone()).or_else(|| match &ev.addr {
        Some(SockAddr::Unix(p)) => Some(p.clone()),
        _ => None,
    })?;
    let normal = absolute(named, ev.cwd.as_deref())?;
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
        let id = |major, minor, inode| FileId { major, minor, inode };
        for (spec, want) in [
            // As a PATH record writes dev: hex, two digits a part.
            ("fe:00:9805826", id(0xfe, 0, 9805826)),
            ("08:01:5", id(8, 1, 5)),
            ("00:1a:7", id(0, 0x1a, 7)),
            // As stat -c %Hd:%Ld:%i prints it: decimal, no padding.
            ("254:0:9805826", id(254, 0, 9805826)),
            ("8:16:5", id(8, 16, 5)),
            ("0:26:5", id(0, 26, 5)),
            // Single digits are the same number either way.
            ("8:1:5", id(8, 1, 5)),
            // The prefixes decide what the digits cannot.
            ("hex:10:10:5", id(16, 16, 5)),
            ("dec:10:10:5", id(10, 10, 5)),
            ("dec:254:0:5", id(254, 0, 5)),
        ] {
            assert_eq!(parse_socket_inode(spec).map(|s| s.id), Ok(want), "{spec}");
        }
        let named = parse_socket_inode("8:1:5=/run/docker.sock").unwrap();
        assert_eq!(named.name.as_deref(), Some("/run/docker.sock"));
        assert_eq!(named.spec, "8:1:5=/run/docker.sock");
        for bad in [
            "fe:00",
            "fe:00:x",
            "zz:00:1",
            "fe:00:1:2",
            "fe:00:1=relative",
            "10:10:5",
            "253:11:5",
            "dec:fe:00:5",
            "fe:00:-1",
            "fe:00:+1",
            ":00:1",
            "docker.sock",
        ] {
            let err = parse_socket_inode(bad).unwrap_err();
            assert!(err.contains("MAJ:MIN:INODE"), "{bad}: {err}");
        }
    }

    fn watched_and_targets(inode: u64) -> (Vec<super::super::detect::WatchedSocket>, Vec<Target>) {
        let id = FileId { major: 0xfe, minor: 0, inode };
        (
            vec![super::super::detect::WatchedSocket::new("/run/docker.sock".into(), Some(id))],
            vec![Target {
                id: Some(id),
                names: vec![b"/run/docker.sock".to_vec(), b"/var/run/docker.sock".to_vec()],
            }],
        )
    }

    #[test]
    fn an_event_keeps_a_bounded_number_of_records() {
        let path =
            "type=PATH msg=audit(1.000:10): item=0 name=\"/x\" inode=5 dev=fe:00 mode=0140777\n";
        let text = format!("{}\n{}", CONNECT.trim_end(), path.repeat(1000));
        let (events, stats) = scan(&text, 16);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].records.len(), MAX_EVENT_RECORDS);
        let kept_before = scan(CONNECT, 16).0[0].records.len() as u64;
        assert_eq!(stats.over_limit, 1000 + kept_before - MAX_EVENT_RECORDS as u64);
    }

    #[test]
    fn offline_matching_by_inode_rule_key_and_name() {
        use super::super::detect::Skip;
        let other_name = |t: &str| {
            t.replace("01002F72756E2F646F636B65722E736F636B00", "01002F746D702F782E736F636B00")
                .replace("/run/docker.sock", "/tmp/x.sock")
        };
        let no_key = |t: &str| t.replace(" key=\"sockwatch\"", " key=(null)");
        let relative_var_run = |t: &str| {
            // sun_path "docker.sock" from cwd /var/run.
            t.replace("01002F72756E2F646F636B65722E736F636B00", "0100646F636B65722E736F636B00")
                .replace("cwd=\"/\"", "cwd=\"/var/run\"")
                .replace("name=\"/run/docker.sock\"", "name=\"docker.sock\"")
        };
        let uring = |t: &str| {
            t.replace("syscall=42", "syscall=426").replace("type=SYSCALL", "type=URINGOP msg=audit(1.000:10): uring_op=16 success=yes exit=0 key=\"sockwatch\"\ntype=SYSCALL")
        };
        let key = b"sockwatch";
        // (log, the watched socket's inode now, the verdict)
        type Verdict = Result<(Option<usize>, u64, MatchedBy), Skip>;
        let cases: Vec<(String, u64, Verdict)> = vec![
            (CONNECT.into(), 77, Ok((Some(0), 77, MatchedBy::Inode))),
            // Re-created since: the kernel's rule key says it was watched then.
            (CONNECT.into(), 78, Ok((Some(0), 77, MatchedBy::RuleKey))),
            // Without the key, the name still matches.
            (no_key(CONNECT), 78, Ok((Some(0), 77, MatchedBy::Path))),
            (relative_var_run(&no_key(CONNECT)), 78, Ok((Some(0), 77, MatchedBy::Path))),
            // Several keys on one rule: hex, split by \x01 (sockwatch, foo).
            (
                CONNECT.replace("key=\"sockwatch\"", "key=736F636B776174636801666F6F"),
                78,
                Ok((Some(0), 77, MatchedBy::RuleKey)),
            ),
            (
                CONNECT.replace("key=\"sockwatch\"", "key=\"sockwatch2\""),
                78,
                Ok((Some(0), 77, MatchedBy::Path)),
            ),
            // The key alone, another name: still a watched socket then.
            (other_name(CONNECT), 78, Ok((None, 77, MatchedBy::RuleKey))),
            (other_name(&no_key(CONNECT)), 78, Err(Skip::NotWatched)),
            // `sockwatch test`'s own rules carry another key: its throw-away
            // connect is never one to a watched socket.
            (
                other_name(&CONNECT.replace("key=\"sockwatch\"", "key=\"sockwatch-test\"")),
                78,
                Err(Skip::NotWatched),
            ),
            // No file at the name: no socket reached, by name or key (the
            // key's target then named nothing).
            (
                no_key(CONNECT).replace("success=yes exit=0", "success=no exit=-2"),
                78,
                Err(Skip::NotWatched),
            ),
            // io_uring's rule has no path: its key proves nothing.
            (other_name(&uring(CONNECT)), 78, Err(Skip::NotWatched)),
            (uring(CONNECT), 78, Ok((Some(0), 77, MatchedBy::Path))),
        ];
        for (i, (text, now, want)) in cases.into_iter().enumerate() {
            let (w, t) = watched_and_targets(now);
            let ev = extract(&scan(&text, 16).0[0]).unwrap();
            let got = match_offline(&ev, &w, &t, key).map(|h| (h.target, h.file.inode, h.by));
            assert_eq!(got, want, "case {i}: {text}");
        }
    }

    #[test]
    fn names_through_var_run_and_known_runtime_sockets() {
        for (a, b, same) in [
            ("/run/docker.sock", "/var/run/docker.sock", true),
            ("/var/run/docker.sock", "/run/./x/../docker.sock", true),
            ("/run/docker.sock", "/run/docker.sock2", false),
            ("/var/docker.sock", "/docker.sock", false),
        ] {
            assert_eq!(same_file_name(a.as_bytes(), b.as_bytes()), same, "{a} {b}");
        }
        for (name, want) in [
            ("/run/docker.sock", Some("/run/docker.sock")),
            ("/var/run/docker.sock", Some("/run/docker.sock")),
            ("/run/user/1000/docker.sock", Some("/run/user/1000/docker.sock")),
            ("/run/user/1000/podman/podman.sock", Some("/run/user/1000/podman/podman.sock")),
            ("/run/user/x/docker.sock", None),
            ("/tmp/docker.sock", None),
            ("/run/containerd/containerd.sock", Some("/run/containerd/containerd.sock")),
        ] {
            assert_eq!(known_runtime_socket(name.as_bytes()).as_deref(), want, "{name}");
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
