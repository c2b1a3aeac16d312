//! One kernel audit record, parsed from raw bytes.
//!
//! The kernel sends every record as text (`audit(1732790000.123:4567): key=value ...`),
//! but nothing guarantees that text is UTF-8: user-space messages can carry raw
//! bytes, and untrusted strings are hex-encoded. So records stay `[u8]` here, and a
//! field is decoded only when it is asked for.

use std::fmt;

/// An audit record type, as the netlink message type carries it.
pub mod types {
    pub const SYSCALL: u16 = 1300;
    pub const PATH: u16 = 1302;
    pub const CONFIG_CHANGE: u16 = 1305;
    pub const SOCKADDR: u16 = 1306;
    pub const CWD: u16 = 1307;
    pub const EOE: u16 = 1320;
    pub const PROCTITLE: u16 = 1327;
    pub const URINGOP: u16 = 1336;

    /// Types that user space or the audit daemon sends as one self-contained record:
    /// the kernel never follows them with more records or an EOE.
    pub fn is_standalone(t: u16) -> bool {
        matches!(t, 1100..=1299 | 2100..=2999)
    }

    /// Kernel records written the moment they are logged, with or without a
    /// syscall being audited: alone (a BPF program unloaded by a kernel worker, a
    /// rule changed by a task the audit rules do not select) or ahead of their
    /// syscall's SYSCALL ... EOE. Nothing in the record says which, so waiting for
    /// an EOE would hold every lone one for the whole timeout (measured in a Debian
    /// guest: a docker run loads and unloads several BPF programs, most of them
    /// without an EOE). Detection never needs them inside their syscall's event
    /// (a connect is SYSCALL, SOCKADDR, PATH, CWD and PROCTITLE, all written at the
    /// syscall's exit), so each is an event of its own at once, and what its
    /// syscall writes afterwards assembles under the same stamp as usual.
    /// NETFILTER_PKT, NETFILTER_CFG, SECCOMP, FEATURE_CHANGE, REPLACE, FANOTIFY,
    /// the TIME_* records, BPF, EVENT_LISTENER; the LSMs' (AVC, AppArmor); the
    /// anomaly and integrity ranges.
    pub fn stands_aside(t: u16) -> bool {
        matches!(t, CONFIG_CHANGE | 1324..=1326 | 1328 | 1329 | 1331..=1335 | 1400..=1599 | 1700..=1899)
    }

    /// Types outside every range the kernel uses for audit records.
    pub fn is_known_range(t: u16) -> bool {
        matches!(t, 1000..=1099 | 1100..=1299 | 1300..=1499 | 1500..=1599 | 1600..=1699 | 1700..=1799
            | 1800..=1899 | 2000..=2099 | 2100..=2999)
    }
}

/// The identity of the event a record belongs to: `audit(SEC.MSEC:SERIAL)`.
/// A hasher for keys made of stamps (and small integers): multiply and rotate.
/// The kernel assigns stamps, so nobody can choose colliding ones, and SipHash
/// cost a tenth of the scan and a few percent of the live daemon.
#[derive(Default, Clone, Copy)]
pub struct StampHasher(u64);

impl std::hash::Hasher for StampHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stamp {
    pub sec: u64,
    pub msec: u32,
    pub serial: u64,
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}:{}", self.sec, self.msec, self.serial)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub rtype: u16,
    pub stamp: Stamp,
    /// Everything after `audit(...): `, trailing NULs and newlines removed.
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// No `audit(` prefix where one must be.
    NoStamp,
    /// The stamp is there but not of the form `SEC.MSEC:SERIAL`.
    BadStamp,
    /// A log line with no `type=`.
    NoType,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::NoStamp => "no audit(...) stamp",
            ParseError::BadStamp => "malformed audit(SEC.MSEC:SERIAL) stamp",
            ParseError::NoType => "no type= field",
        })
    }
}

impl std::error::Error for ParseError {}

impl Record {
    /// Parses a netlink payload: the type comes from the netlink header, the text is
    /// `audit(SEC.MSEC:SERIAL): body`.
    pub fn parse(rtype: u16, payload: &[u8]) -> Result<Record, ParseError> {
        Record::parse_into(rtype, payload, Vec::new())
    }

    /// `parse`, the body copied into `buf` (a spare one, whose allocation is
    /// reused: six records a connect).
    pub fn parse_into(rtype: u16, payload: &[u8], mut buf: Vec<u8>) -> Result<Record, ParseError> {
        let (stamp, body) = split_stamp(trim_end(payload))?;
        buf.clear();
        buf.extend_from_slice(body);
        Ok(Record { rtype, stamp, body: buf })
    }

    /// Parses the form the kernel log and test data use: `type=1300 audit(...): body`.
    pub fn parse_line(line: &[u8]) -> Result<Record, ParseError> {
        let rest = line.strip_prefix(b"type=").ok_or(ParseError::NoType)?;
        let sp = memchr(b' ', rest).ok_or(ParseError::NoStamp)?;
        let rtype = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(ParseError::NoType)?;
        Record::parse(rtype, &rest[sp + 1..])
    }

    /// The raw value of the first field named `key`, as written (quotes included).
    pub fn raw(&self, key: &str) -> Option<&[u8]> {
        Fields::new(&self.body).find(|(k, _)| *k == key.as_bytes()).map(|(_, v)| v)
    }

    /// A numeric field, decimal or (with `hex`) hexadecimal without prefix.
    pub fn num(&self, key: &str) -> Option<u64> {
        parse_dec(self.raw(key)?)
    }

    pub fn hexnum(&self, key: &str) -> Option<u64> {
        parse_hex_u64(self.raw(key)?)
    }

    /// A signed decimal field such as `exit=-13`.
    pub fn int(&self, key: &str) -> Option<i64> {
        parse_signed(self.raw(key)?)
    }

    /// A string the kernel logged as untrusted: `"quoted"`, HEX, or `(null)`/`?`.
    pub fn text(&self, key: &str) -> Option<Vec<u8>> {
        decode_untrusted(self.raw(key)?)
    }
}

/// Iterates `key=value` pairs of a record body. Values in double or single quotes keep
/// their quotes; a token without `=` is skipped.
pub struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        Fields { rest: body }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            while let [b' ', tail @ ..] = self.rest {
                self.rest = tail;
            }
            if self.rest.is_empty() {
                return None;
            }
            // The key first: up to an `=` before any space (a key holds no
            // quote that opens). Then the value, from the `=`: one pass over
            // each token instead of two.
            match memchr::memchr2(b' ', b'=', self.rest) {
                Some(eq) if self.rest[eq] == b'=' => {
                    let end = token_end_from(self.rest, eq);
                    let (key, value) = (&self.rest[..eq], &self.rest[eq + 1..end]);
                    self.rest = &self.rest[end..];
                    return Some((key, value));
                }
                // A token without `=`: skipped.
                Some(space) => self.rest = &self.rest[space..],
                None => self.rest = &[],
            }
        }
    }
}

/// The end of the token at the start of `s`, scanning from `from` (nothing
/// before it can end the token): the next space outside quotes. A quote opens
/// only right after `=`. Jumps between the bytes that matter with
/// memchr: every record of a scanned log goes through here.
fn token_end_from(s: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(j) = memchr::memchr3(b' ', b'"', b'\'', &s[i..]) {
        let k = i + j;
        if s[k] == b' ' {
            return k;
        }
        if k > 0 && s[k - 1] == b'=' {
            match memchr::memchr(s[k], &s[k + 1..]) {
                Some(close) => i = k + 1 + close + 1,
                None => return s.len(),
            }
        } else {
            i = k + 1;
        }
    }
    s.len()
}

/// Decodes an untrusted-string value. `None` for the kernel's "no value" markers.
pub fn decode_untrusted(v: &[u8]) -> Option<Vec<u8>> {
    if v == b"(null)" || v == b"?" || v == b"(none)" {
        return None;
    }
    if let Some(inner) = v.strip_prefix(b"\"") {
        return Some(inner.strip_suffix(b"\"").unwrap_or(inner).to_vec());
    }
    if let Some(bytes) = decode_hex(v) {
        return Some(bytes);
    }
    Some(v.to_vec())
}

/// Decodes an even-length string of hex digits; `None` if it is not one.
pub fn decode_hex(v: &[u8]) -> Option<Vec<u8>> {
    if v.is_empty() || v.len() % 2 != 0 {
        return None;
    }
    // Branch-free over the table (a bad digit is 0xff, a good one at most 15),
    // checked once at the end: every connect's address is hundreds of digits.
    let mut out = vec![0u8; v.len() / 2];
    let mut bad = 0u8;
    for (o, p) in out.iter_mut().zip(v.chunks_exact(2)) {
        let (hi, lo) = (HEX[usize::from(p[0])], HEX[usize::from(p[1])]);
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    (bad & 0x80 == 0).then_some(out)
}

/// Each byte's value as a hex digit, or 0xff: a table, since every connect's
/// address is a few hundred digits.
static HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

fn hexval(b: u8) -> Option<u8> {
    let v = HEX[b as usize];
    (v != 0xff).then_some(v)
}

pub fn parse_dec(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// A signed decimal such as `-13`.
pub fn parse_signed(v: &[u8]) -> Option<i64> {
    match v.strip_prefix(b"-") {
        Some(digits) => i64::try_from(parse_dec(digits)?).ok()?.checked_neg(),
        None => i64::try_from(parse_dec(v)?).ok(),
    }
}

pub fn parse_hex_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 16 {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| Some((n << 4) | u64::from(hexval(b)?)))
}

/// `audit(SEC.MSEC:SERIAL): body` to the stamp and the body: the shape of every
/// record, from netlink and from log files (`logline`) alike.
pub(crate) fn split_stamp(s: &[u8]) -> Result<(Stamp, &[u8]), ParseError> {
    let rest = s.strip_prefix(b"audit(").ok_or(ParseError::NoStamp)?;
    let close = memchr(b')', rest).ok_or(ParseError::BadStamp)?;
    let stamp = parse_stamp(&rest[..close]).ok_or(ParseError::BadStamp)?;
    let mut body = &rest[close + 1..];
    body = body.strip_prefix(b":").unwrap_or(body);
    body = body.strip_prefix(b" ").unwrap_or(body);
    Ok((stamp, body))
}

/// `SEC.MSEC:SERIAL`, digits only, MSEC exactly three digits. One pass: this
/// runs for every line of a scanned log.
fn parse_stamp(s: &[u8]) -> Option<Stamp> {
    let mut i = 0;
    let number = |i: &mut usize| -> Option<u64> {
        let start = *i;
        let mut n: u64 = 0;
        while let Some(&b) = s.get(*i).filter(|b| b.is_ascii_digit()) {
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            *i += 1;
        }
        (*i > start).then_some(n)
    };
    let sec = number(&mut i)?;
    if s.get(i) != Some(&b'.') {
        return None;
    }
    i += 1;
    let start = i;
    let msec = number(&mut i)?;
    if i - start != 3 || s.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let serial = number(&mut i)?;
    (i == s.len()).then_some(Stamp { sec, msec: msec as u32, serial })
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [head @ .., b'\0' | b'\n'] = s {
        s = head;
    }
    s
}

pub(crate) fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tokenizer as it was before it took the key first: two passes over
    /// each token. The one-pass form must split every input the same way.
    fn fields_two_pass(body: &[u8]) -> Vec<(&[u8], &[u8])> {
        let mut out = Vec::new();
        let mut rest = body;
        loop {
            while let [b' ', tail @ ..] = rest {
                rest = tail;
            }
            if rest.is_empty() {
                return out;
            }
            let end = token_end_from(rest, 0);
            let token = &rest[..end];
            rest = &rest[end..];
            if let Some(eq) = memchr(b'=', token) {
                out.push((&token[..eq], &token[eq + 1..]));
            }
        }
    }

    #[test]
    fn the_one_pass_tokenizer_splits_as_the_two_pass_one_did() {
        // Every string of up to 7 bytes over the bytes that matter.
        let alphabet = [b' ', b'=', b'"', b'\'', b'a'];
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
        let mut frontier = inputs.clone();
        for _ in 0..7 {
            frontier = frontier
                .iter()
                .flat_map(|s| alphabet.iter().map(move |&c| [s.as_slice(), &[c]].concat()))
                .collect();
            inputs.extend(frontier.iter().cloned());
        }
        assert!(inputs.len() > 90_000);
        for s in &inputs {
            assert_eq!(
                Fields::new(s).collect::<Vec<_>>(),
                fields_two_pass(s),
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn parses_stamp_and_fields() {
        let r = Record::parse(
            1300,
            b"audit(1732790000.123:4567): arch=c000003e syscall=42 success=no exit=-13 comm=\"socat\" key=(null)\0",
        )
        .unwrap();
        assert_eq!(r.stamp, Stamp { sec: 1732790000, msec: 123, serial: 4567 });
        assert_eq!(r.hexnum("arch"), Some(0xc000003e));
        assert_eq!(r.num("syscall"), Some(42));
        assert_eq!(r.int("exit"), Some(-13));
        assert_eq!(r.text("comm").as_deref(), Some(&b"socat"[..]));
        assert_eq!(r.text("key"), None);
        assert_eq!(r.raw("missing"), None);
        for (body, want) in [
            (&b"audit(1.000:1): exit=-9223372036854775808"[..], None),
            (b"audit(1.000:1): exit=-18446744073709551615", None),
            (b"audit(1.000:1): exit=9223372036854775807", Some(i64::MAX)),
            (b"audit(1.000:1): exit=-", None),
        ] {
            assert_eq!(Record::parse(1300, body).unwrap().int("exit"), want);
        }
    }

    #[test]
    fn decodes_hex_and_keeps_non_utf8() {
        let r =
            Record::parse(1302, b"audit(1.000:1): item=0 name=2F746D702FFF20782E736F636B").unwrap();
        assert_eq!(r.text("name").unwrap(), b"/tmp/\xff x.sock");
        // Raw non-UTF-8 bytes in the body itself (user-space records can carry them).
        let r = Record::parse(1107, b"audit(1.000:2): msg='op=\xff\xfe x' uid=0").unwrap();
        assert_eq!(r.raw("msg").unwrap(), b"'op=\xff\xfe x'");
        assert_eq!(r.num("uid"), Some(0));
    }

    #[test]
    fn quoted_values_with_equals_and_spaces_stay_whole() {
        let r =
            Record::parse(1305, b"audit(1.000:3): op=add_rule key=\"a=b\" list=4 res=1").unwrap();
        assert_eq!(r.text("key").unwrap(), b"a=b");
        assert_eq!(r.num("list"), Some(4));
        let r = Record::parse(1100, b"audit(1.000:4): msg='a b=c d' res=0").unwrap();
        assert_eq!(r.raw("msg").unwrap(), b"'a b=c d'");
        assert_eq!(r.num("res"), Some(0));
    }

    #[test]
    fn rejects_malformed_stamps() {
        for bad in [
            &b""[..],
            b"audit(",
            b"audit(123:4): x=1",
            b"audit(1.12:4): x=1",
            b"audit(a.123:4): x=1",
            b"audit(1.123:): x=1",
            b"audit(1.123:99999999999999999999999): x=1",
            b"hello",
        ] {
            assert!(Record::parse(1300, bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn truncated_body_yields_what_is_there() {
        let r = Record::parse(1300, b"audit(1.000:5): arch=c000003e sysc").unwrap();
        assert_eq!(r.hexnum("arch"), Some(0xc000003e));
        assert_eq!(r.num("syscall"), None);
        let r = Record::parse(1302, b"audit(1.000:5): name=\"/run/dock").unwrap();
        assert_eq!(r.text("name").unwrap(), b"/run/dock");
    }

    #[test]
    fn parse_line_reads_the_type() {
        let r = Record::parse_line(b"type=1320 audit(1.000:6): ").unwrap();
        assert_eq!(r.rtype, 1320);
        assert!(r.body.is_empty());
        assert_eq!(Record::parse_line(b"type=x audit(1.000:6):"), Err(ParseError::NoType));
    }

    #[test]
    fn hex_decoding_rejects_odd_and_non_hex() {
        assert_eq!(decode_hex(b"abc"), None);
        assert_eq!(decode_hex(b"zz"), None);
        assert_eq!(decode_hex(b""), None);
        assert_eq!(decode_hex(b"00ff").unwrap(), vec![0, 255]);
    }
}
