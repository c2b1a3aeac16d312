//! Reads a connect attempt out of an assembled audit event.
//!
//! A connect reaches audit three ways: the connect syscall (per architecture), the
//! 32-bit socketcall multiplexer with call 3, and io_uring's IORING_OP_CONNECT
//! (a URINGOP record).

use super::abi::{self, Call, SOCKETCALL_CONNECT, URING_OP_CONNECT};
use super::assemble::Event;
use super::record::{
    Fields, Record, Stamp, decode_hex, decode_untrusted, parse_dec, parse_hex_u64, parse_signed,
    types,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Syscall,
    Socketcall,
    IoUring,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Syscall => "connect",
            Via::Socketcall => "socketcall",
            Via::IoUring => "io_uring",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockAddr {
    /// A filesystem AF_UNIX address: sun_path up to its first NUL.
    Unix(Vec<u8>),
    /// An abstract AF_UNIX address (leading NUL), which has no file to match.
    Abstract(Vec<u8>),
    /// Any other family.
    Other(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathItem {
    pub name: Option<Vec<u8>>,
    pub inode: Option<u64>,
    /// (major, minor) as the PATH record writes `dev=fe:00`.
    pub dev: Option<(u32, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ids {
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub auid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectEvent {
    pub stamp: Stamp,
    pub via: Via,
    pub success: Option<bool>,
    /// The syscall's return: 0, or a negative errno.
    pub exit: Option<i64>,
    pub ids: Ids,
    pub comm: Option<Vec<u8>>,
    pub exe: Option<Vec<u8>>,
    pub key: Option<Vec<u8>>,
    pub addr: Option<SockAddr>,
    pub paths: Vec<PathItem>,
    pub cwd: Option<Vec<u8>>,
    /// PROCTITLE split at NULs: the argv as the kernel saw it (at most 128 bytes).
    pub proctitle: Option<Vec<Vec<u8>>>,
}

/// Returns the connect attempt in `ev`, or `None` when the event is something else.
pub fn extract(ev: &Event) -> Option<ConnectEvent> {
    let syscall = ev.first(types::SYSCALL).map(MainFields::of);
    let uring = ev
        .all(types::URINGOP)
        .map(MainFields::of)
        .find(|f| f.uring_op == Some(u64::from(URING_OP_CONNECT)));
    let via = match (&uring, &syscall) {
        (Some(_), _) => Via::IoUring,
        (None, Some(s)) => s.kind()?,
        (None, None) => return None,
    };
    let main = uring.as_ref().or(syscall.as_ref())?;
    // URINGOP carries no comm/exe/auid; the io_uring_enter SYSCALL record does.
    let proc_rec = syscall.as_ref().unwrap_or(main);
    let ids =
        Ids { pid: main.pid, ppid: main.ppid, uid: main.uid, euid: main.euid, auid: proc_rec.auid };
    Some(ConnectEvent {
        stamp: ev.stamp,
        via,
        success: main.success,
        exit: main.exit,
        ids,
        comm: proc_rec.comm.and_then(decode_untrusted),
        exe: proc_rec.exe.and_then(decode_untrusted),
        key: main
            .key
            .and_then(decode_untrusted)
            .or_else(|| proc_rec.key.and_then(decode_untrusted)),
        addr: ev.first(types::SOCKADDR).and_then(|r| r.raw("saddr")).and_then(parse_saddr),
        paths: ev.all(types::PATH).map(path_item).collect(),
        cwd: ev.first(types::CWD).and_then(|r| r.text("cwd")),
        proctitle: ev.first(types::PROCTITLE).and_then(|r| r.text("proctitle")).map(split_argv),
    })
}

/// The fields of a SYSCALL or URINGOP record that `extract` needs, gathered in
/// one pass over the record (looking each up by name would walk it a dozen
/// times, and this runs for every connect in a scanned log).
#[derive(Default)]
struct MainFields<'a> {
    arch: Option<u64>,
    syscall: Option<u64>,
    a0: Option<u64>,
    uring_op: Option<u64>,
    success: Option<bool>,
    exit: Option<i64>,
    pid: Option<u32>,
    ppid: Option<u32>,
    uid: Option<u32>,
    euid: Option<u32>,
    auid: Option<u32>,
    comm: Option<&'a [u8]>,
    exe: Option<&'a [u8]>,
    key: Option<&'a [u8]>,
}

impl<'a> MainFields<'a> {
    fn of(r: &'a Record) -> MainFields<'a> {
        let mut f = MainFields::default();
        let n32 = |v: &[u8]| parse_dec(v).and_then(|n| u32::try_from(n).ok());
        // The first of each name counts, as `Record::raw` would have it, even when
        // its value does not parse.
        let mut seen = 0u16;
        let mut first = |bit: u16| {
            let new = seen & bit == 0;
            seen |= bit;
            new
        };
        for (k, v) in Fields::new(&r.body) {
            match k {
                b"arch" if first(1) => f.arch = parse_hex_u64(v),
                b"syscall" if first(1 << 1) => f.syscall = parse_dec(v),
                b"a0" if first(1 << 2) => f.a0 = parse_hex_u64(v),
                b"uring_op" if first(1 << 3) => f.uring_op = parse_dec(v),
                b"success" if first(1 << 4) => f.success = Some(v == b"yes"),
                b"exit" if first(1 << 5) => f.exit = parse_signed(v),
                b"pid" if first(1 << 6) => f.pid = n32(v),
                b"ppid" if first(1 << 7) => f.ppid = n32(v),
                b"uid" if first(1 << 8) => f.uid = n32(v),
                b"euid" if first(1 << 9) => f.euid = n32(v),
                b"auid" if first(1 << 10) => f.auid = n32(v),
                b"comm" if first(1 << 11) => f.comm = Some(v),
                b"exe" if first(1 << 12) => f.exe = Some(v),
                b"key" if first(1 << 13) => f.key = Some(v),
                _ => {}
            }
        }
        f
    }

    fn kind(&self) -> Option<Via> {
        match abi::call(self.arch?, self.syscall?) {
            Call::Connect => Some(Via::Syscall),
            Call::Socketcall if self.a0 == Some(SOCKETCALL_CONNECT) => Some(Via::Socketcall),
            _ => None,
        }
    }
}

fn path_item(r: &Record) -> PathItem {
    PathItem { name: r.text("name"), inode: r.num("inode"), dev: r.raw("dev").and_then(parse_dev) }
}

/// Parses the PATH record's `dev=MAJ:MIN` (both hex).
pub fn parse_dev(v: &[u8]) -> Option<(u32, u32)> {
    let colon = v.iter().position(|&b| b == b':')?;
    let major = super::record::parse_hex_u64(&v[..colon])?;
    let minor = super::record::parse_hex_u64(&v[colon + 1..])?;
    Some((u32::try_from(major).ok()?, u32::try_from(minor).ok()?))
}

/// Decodes SOCKADDR's hex `saddr`: a little-endian family, then for AF_UNIX the
/// path up to its first NUL. What follows that NUL is the caller's stack garbage.
pub fn parse_saddr(v: &[u8]) -> Option<SockAddr> {
    let raw = decode_hex(v)?;
    if raw.len() < 2 {
        return None;
    }
    let family = u16::from_le_bytes([raw[0], raw[1]]);
    if family != 1 {
        return Some(SockAddr::Other(family));
    }
    let path = &raw[2..];
    match path.first() {
        Some(0) => {
            let name = &path[1..];
            Some(SockAddr::Abstract(name.to_vec()))
        }
        _ => {
            let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
            Some(SockAddr::Unix(path[..end].to_vec()))
        }
    }
}

fn split_argv(raw: Vec<u8>) -> Vec<Vec<u8>> {
    let trimmed = raw.strip_suffix(b"\0").unwrap_or(&raw);
    trimmed.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saddr_cuts_at_first_nul_and_ignores_garbage() {
        // "/run/docker.sock" then NUL then stack garbage (0xff, 0x7f ...).
        let mut hex = String::from("0100");
        for b in b"/run/docker.sock\0\xff\x7fgarbage" {
            hex.push_str(&format!("{b:02X}"));
        }
        assert_eq!(parse_saddr(hex.as_bytes()), Some(SockAddr::Unix(b"/run/docker.sock".to_vec())));
        assert_eq!(parse_saddr(b"02000035C0A80001"), Some(SockAddr::Other(2)));
        assert_eq!(parse_saddr(b"0100006162"), Some(SockAddr::Abstract(b"ab".to_vec())));
        assert_eq!(parse_saddr(b"01"), None);
        assert_eq!(parse_saddr(b"zz00"), None);
    }

    #[test]
    fn dev_is_hex_major_minor() {
        assert_eq!(parse_dev(b"fe:00"), Some((254, 0)));
        assert_eq!(parse_dev(b"00:1a"), Some((0, 26)));
        assert_eq!(parse_dev(b"fe00"), None);
    }
}
