//! One audit record from outside bytes, both forms: the netlink payload
//! (`Record::parse`, the type from the message header) and the text line of
//! the kernel log and the captures (`Record::parse_line`); then every field
//! accessor and decoder `connect::extract` uses on its values.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwatch::core::connect::{parse_dev, parse_saddr};
use sockwatch::core::record::{
    Fields, Record, decode_hex, decode_untrusted, parse_dec, parse_hex_u64, parse_signed,
};

/// The fields detection reads, and one that is never there.
const KEYS: &[&str] = &[
    "arch",
    "syscall",
    "success",
    "exit",
    "a0",
    "pid",
    "ppid",
    "uid",
    "euid",
    "auid",
    "comm",
    "exe",
    "key",
    "saddr",
    "item",
    "name",
    "inode",
    "dev",
    "cwd",
    "proctitle",
    "uring_op",
    "op",
    "res",
    "list",
    "missing",
];

fuzz_target!(|data: &[u8]| {
    if let [a, b, payload @ ..] = data
        && let Ok(r) = Record::parse(u16::from_ne_bytes([*a, *b]), payload)
    {
        check(&r);
    }
    for line in data.split(|&b| b == b'\n') {
        if let Ok(r) = Record::parse_line(line) {
            check(&r);
        }
    }
    for (_, v) in Fields::new(data) {
        values(v);
    }
    // Hex decoding takes back what any encoder writes.
    if !data.is_empty() {
        let hex: String = data.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(decode_hex(hex.as_bytes()).as_deref(), Some(data));
    }
});

fn check(r: &Record) {
    assert!(r.stamp.msec < 1000, "msec {}", r.stamp.msec);
    assert!(!r.body.ends_with(b"\0") && !r.body.ends_with(b"\n"), "{:?}", r.body);
    // The stamp and body written back parse to the same record.
    let mut again = format!("audit({}): ", r.stamp).into_bytes();
    again.extend_from_slice(&r.body);
    assert_eq!(Record::parse(r.rtype, &again).as_ref(), Ok(r));
    for (k, v) in Fields::new(&r.body) {
        assert!(!k.contains(&b'=') && !k.contains(&b' '), "key {k:?}");
        assert!(!v.starts_with(b" "), "value {v:?}");
        values(v);
    }
    for key in KEYS {
        if let Some(raw) = r.raw(key) {
            assert_eq!(r.text(key), decode_untrusted(raw));
        }
        let _ = (r.num(key), r.hexnum(key), r.int(key));
    }
}

fn values(v: &[u8]) {
    let _ = (parse_dec(v), parse_hex_u64(v), parse_signed(v), parse_dev(v), parse_saddr(v));
    if let Some(b) = decode_hex(v) {
        assert_eq!(b.len() * 2, v.len());
    }
    let _ = decode_untrusted(v);
}
