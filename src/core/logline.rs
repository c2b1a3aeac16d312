//! One line of an audit log, as files and pipes carry them, parsed in place.
//!
//! Four forms reach `sockwatch scan`:
//! - auditd's log: `type=SYSCALL msg=audit(1732790000.123:4567): arch=...`, with an
//!   optional `node=NAME ` in front (auditd's `name_format`);
//! - auditd's ENRICHED format: the same, then `\x1d` and auditd's interpretations
//!   (`AUID="root" ...`), which are dropped: the raw fields before them are what
//!   the kernel wrote;
//! - raw netlink text, as the kernel log and sockwatch's captures write it:
//!   `type=1300 audit(1732790000.123:4567): arch=...`;
//! - any of these behind the prefix of a log that carries audit records: the
//!   kernel's (`kernel: audit: `, dmesg's `[   12.345678] audit: `) or an audit
//!   dispatcher's syslog tag (`audisp-syslog: `, `audispd: `, `auditd: `), after a
//!   syslog or journal header, with an optional `node=NAME`. A ` type=` anywhere
//!   else is another program's text (a container can log whatever it likes) and
//!   is not taken for a record.
//!
//! Nothing is copied: the parts borrow the line. A record type auditd names but
//! detection has no use for is `OTHER`; `UNKNOWN[1336]` (a type auditd does not
//! know) gives its number.

use memchr::{memchr, memmem};

use super::record::{ParseError, Stamp, split_stamp, types};

/// A named record type that detection does not look at.
pub const OTHER: u16 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRecord<'a> {
    pub node: Option<&'a [u8]>,
    pub rtype: u16,
    pub stamp: Stamp,
    /// Everything after `audit(...): `, with auditd's interpretations if the
    /// log is ENRICHED: `kernel_body` cuts them off. Most records are never
    /// looked at past their stamp, so the cut is made only when asked for.
    pub body: &'a [u8],
}

impl<'a> LogRecord<'a> {
    /// The body as the kernel wrote it: up to auditd's `\x1d` separator.
    pub fn kernel_body(&self) -> &'a [u8] {
        match memchr(0x1d, self.body) {
            Some(gs) => &self.body[..gs],
            None => self.body,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// A `type=` behind text that is not an audit log's prefix (another
    /// program's line, perhaps forging a record).
    Misplaced,
    /// No `type=` anywhere.
    NoType,
    /// A `type=` whose value is empty or not a number or a name.
    BadType,
    /// No `audit(` after the type.
    NoStamp,
    /// `audit(` not followed by `SEC.MSEC:SERIAL)`.
    BadStamp,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LineError::Misplaced => {
                "a type= behind text no audit log puts there (another program's line, not a record)"
            }
            LineError::NoType => "no type= field",
            LineError::BadType => "a type= that is neither a number nor a name",
            LineError::NoStamp => "no audit(...) stamp after the type",
            LineError::BadStamp => "malformed audit(SEC.MSEC:SERIAL) stamp",
        })
    }
}

/// Parses one line (without its newline). `Ok(None)` for a blank line.
pub fn parse(line: &[u8]) -> Result<Option<LogRecord<'_>>, LineError> {
    let mut line = line;
    while let [rest @ .., b'\r' | b' ' | b'\0'] = line {
        line = rest;
    }
    if line.is_empty() {
        return Ok(None);
    }
    let line = match line.strip_prefix(b"type=").or_else(|| line.strip_prefix(b"node=")) {
        Some(_) => line,
        None => {
            let at = memmem::find(line, b" type=").ok_or(LineError::NoType)?;
            let (prefix, node) = split_node(&line[..at]);
            if !is_audit_prefix(prefix) {
                return Err(LineError::Misplaced);
            }
            // From `node=` (kept) or from `type=`.
            node.map_or(&line[at + 1..], |n| &line[n..])
        }
    };
    let (node, rest) = if let Some(r) = line.strip_prefix(b"node=") {
        let sp = memchr(b' ', r).ok_or(LineError::NoType)?;
        (Some(&r[..sp]), &r[sp + 1..])
    } else {
        (None, line)
    };
    let rest = rest.strip_prefix(b"type=").ok_or(LineError::NoType)?;
    let sp = memchr(b' ', rest).ok_or(LineError::NoStamp)?;
    let rtype = type_number(&rest[..sp]).ok_or(LineError::BadType)?;
    let mut rest = &rest[sp + 1..];
    rest = rest.strip_prefix(b"msg=").unwrap_or(rest);
    let (stamp, body) = split_stamp(rest).map_err(|e| match e {
        ParseError::NoStamp => LineError::NoStamp,
        _ => LineError::BadStamp,
    })?;
    Ok(Some(LogRecord { node, rtype, stamp, body }))
}

/// A prefix's trailing `node=NAME` (audisp-syslog writes it after its tag):
/// the prefix without it, and where it starts in the line.
fn split_node(prefix: &[u8]) -> (&[u8], Option<usize>) {
    let start = prefix.iter().rposition(|&b| b == b' ').map_or(0, |i| i + 1);
    if prefix[start..].starts_with(b"node=") {
        (prefix[..start].strip_suffix(b" ").unwrap_or(&prefix[..start]), Some(start))
    } else {
        (prefix, None)
    }
}

/// Whether the text before a record is a prefix audit records come behind: its
/// first tag (the first word ending in `:`, after a syslog or journal header of
/// words without one) is the kernel's or an audit dispatcher's, and only the
/// kernel's `audit:` may follow it. A dmesg timestamp in brackets may stand in
/// for the header.
fn is_audit_prefix(prefix: &[u8]) -> bool {
    let text = match prefix.strip_prefix(b"[") {
        // dmesg: `[   12.345678] audit:` or `[Tue Dec  1 21:00:00 2026] audit:`.
        Some(r) => match memchr(b']', r) {
            Some(end) => &r[end + 1..],
            None => return false,
        },
        None => prefix,
    };
    let mut words = text.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let Some(tag) = words.find(|w| w.ends_with(b":")) else { return false };
    let name = tag[..tag.len() - 1].split(|&b| b == b'[').next().unwrap_or_default();
    let rest: Vec<&[u8]> = words.collect();
    match name {
        b"kernel" => rest == [&b"audit:"[..]],
        b"audit" | b"audisp-syslog" | b"audispd" | b"auditd" => rest.is_empty(),
        _ => false,
    }
}

/// `1300`, `SYSCALL` or `UNKNOWN[1336]` to a type number; other names are `OTHER`.
fn type_number(t: &[u8]) -> Option<u16> {
    if t.is_empty() {
        return None;
    }
    if t[0].is_ascii_digit() {
        return std::str::from_utf8(t).ok()?.parse().ok();
    }
    if let Some(n) = t.strip_prefix(b"UNKNOWN[").and_then(|r| r.strip_suffix(b"]")) {
        return std::str::from_utf8(n).ok()?.parse().ok();
    }
    if !t.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_') {
        return None;
    }
    Some(match t {
        b"SYSCALL" => types::SYSCALL,
        b"PATH" => types::PATH,
        b"SOCKADDR" => types::SOCKADDR,
        b"CWD" => types::CWD,
        b"EOE" => types::EOE,
        b"PROCTITLE" => types::PROCTITLE,
        b"URINGOP" | b"URING_OP" => types::URINGOP,
        _ => OTHER,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: Stamp = Stamp { sec: 1732790000, msec: 123, serial: 4567 };

    #[test]
    fn every_form_gives_the_same_record() {
        let body: &[u8] = b"arch=c000003e syscall=42 success=yes exit=0";
        for line in [
            &b"type=SYSCALL msg=audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0"[..],
            b"type=SYSCALL msg=audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0\x1dARCH=x86_64 SYSCALL=connect",
            b"type=1300 audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0",
            b"Nov 28 10:00:00 host kernel: audit: type=1300 audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0",
            b"2026-11-28T10:00:00.123456+00:00 host kernel: audit: type=1300 audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0",
            b"[ 1234.567890] audit: type=1300 audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0",
            b"[Tue Dec  1 21:00:00 2026] audit: type=1300 audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0",
            b"audit: type=1300 audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0",
            b"Nov 28 10:00:00 host audisp-syslog: type=SYSCALL msg=audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0",
            b"Nov 28 10:00:00 host audispd[812]: type=SYSCALL msg=audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0",
            b"type=SYSCALL msg=audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0\r",
        ] {
            let r = parse(line).unwrap().unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(line)));
            assert_eq!((r.node, r.rtype, r.stamp, r.kernel_body()), (None, types::SYSCALL, STAMP, body), "{}", String::from_utf8_lossy(line));
        }
        let r = parse(b"node=web-1 type=PATH msg=audit(1732790000.123:4567): item=0 name=\"/run/docker.sock\"").unwrap().unwrap();
        assert_eq!((r.node, r.rtype), (Some(&b"web-1"[..]), types::PATH));
        let r = parse(b"Nov 28 10:00:00 host audisp-syslog: node=web-1 type=PATH msg=audit(1732790000.123:4567): item=0").unwrap().unwrap();
        assert_eq!((r.node, r.rtype), (Some(&b"web-1"[..]), types::PATH));
    }

    /// A container's own output, forwarded into a syslog file or the journal,
    /// may contain a whole audit record; only a real audit prefix carries one.
    #[test]
    fn a_record_inside_another_programs_line_is_not_taken() {
        let forged = "type=SYSCALL msg=audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0";
        for prefix in [
            "Nov 28 10:00:00 host web-1[4242]: ",
            "Nov 28 10:00:00 host dockerd[812]: time=\"x\" msg=\"log\" ",
            "Nov 28 10:00:00 host web-1[4242]: kernel: audit: ",
            "Nov 28 10:00:00 host web-1[4242]: audisp-syslog: ",
            "Nov 28 10:00:00 host kernel: audit: hello ",
            "Nov 28 10:00:00 host kernel: ",
            "2026-11-28T10:00:00+00:00 host 0123456789ab[99]: ",
            "[ 1234.5] web: ",
            "[ 1234.5 audit: ",
            "hello ",
        ] {
            let line = format!("{prefix}{forged}");
            assert_eq!(parse(line.as_bytes()), Err(LineError::Misplaced), "{line}");
        }
    }

    #[test]
    fn types_by_name_number_and_unknown() {
        let t = |s: &str| {
            parse(format!("type={s} msg=audit(1.000:1): x=1").as_bytes()).map(|r| r.unwrap().rtype)
        };
        assert_eq!(t("SOCKADDR"), Ok(types::SOCKADDR));
        assert_eq!(t("UNKNOWN[1336]"), Ok(1336));
        assert_eq!(t("USER_LOGIN"), Ok(OTHER));
        assert_eq!(t("1336"), Ok(1336));
        assert_eq!(t("sys call"), Err(LineError::BadType));
        assert_eq!(t("Syscall"), Err(LineError::BadType));
        assert_eq!(t("99999"), Err(LineError::BadType));
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        for (line, want) in [
            (&b"hello world"[..], LineError::NoType),
            (b"type=SYSCALL", LineError::NoStamp),
            (b"type=SYSCALL msg=audit(1732790000.123:4567", LineError::BadStamp),
            (b"type=SYSCALL msg=audit(17327.90000:12): x", LineError::BadStamp),
            (b"type=SYSCALL msg=audit(1732790000.12:1): x", LineError::BadStamp),
            (b"type=SYSCALL msg=audit(a.123:1): x", LineError::BadStamp),
            (b"type=SYSCALL msg=nope", LineError::NoStamp),
            (b"node=x", LineError::NoType),
            (b"type= msg=audit(1.000:1): x", LineError::BadType),
            (b"type=SYSCALL msg=audit(99999999999999999999.000:1): x", LineError::BadStamp),
        ] {
            assert_eq!(parse(line), Err(want), "{}", String::from_utf8_lossy(line));
        }
        assert_eq!(parse(b"  \r"), Ok(None));
        // Non-UTF-8 bytes in the body are the body's business.
        assert!(parse(b"type=PATH msg=audit(1.000:1): name=\xff\xfe").unwrap().is_some());
    }
}
