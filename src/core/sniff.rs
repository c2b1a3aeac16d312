//! What an input to `sockwatch scan` is, from its first bytes: an audit log, a
//! compressed file, journald's export or JSON output, or ausearch's interpreted
//! output (which has lost the raw stamps and fields and cannot be scanned). One
//! look at the start of each input replaces thousands of "malformed" lines with
//! one hint.

use memchr::memmem;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Audit log lines (auditd's, the kernel's, behind a syslog prefix).
    Text,
    Gzip,
    /// Another compression, named: decompress it first.
    Compressed(&'static str),
    /// `journalctl -o export`.
    JournalExport,
    /// `journalctl -o json`.
    JournalJson,
    /// `ausearch -i` (or `--format` other than raw): interpreted, not records.
    AusearchInterpreted,
}

/// How many bytes of an input `sniff` wants to see.
pub const HEAD: usize = 8 << 10;

pub fn sniff(head: &[u8]) -> Format {
    for (magic, name) in [
        (&b"\x1f\x8b"[..], None),
        (b"\xfd7zXZ\x00", Some("xz")),
        (b"\x28\xb5\x2f\xfd", Some("zstd")),
        (b"BZh", Some("bzip2")),
    ] {
        if head.starts_with(magic) {
            return name.map_or(Format::Gzip, Format::Compressed);
        }
    }
    let text = head.trim_ascii_start();
    if text.starts_with(b"{") {
        return Format::JournalJson;
    }
    let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
    if let Some(eq) = memchr::memchr(b'=', first) {
        let name = &first[..eq];
        // A journal field name: upper case, digits and `_`; an audit log starts
        // with `type=` or `node=`, a syslog line with a date.
        if !name.is_empty()
            && !name[0].is_ascii_digit()
            && name.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        {
            return Format::JournalExport;
        }
    }
    // ausearch -i: `msg=audit(12/02/2026 06:00:00.123:456) : ...`.
    if let Some(at) = memmem::find(text, b"msg=audit(") {
        let stamp = &text[at + 10..];
        let digits = stamp.iter().take_while(|b| b.is_ascii_digit()).count();
        if stamp.get(digits) == Some(&b'/') {
            return Format::AusearchInterpreted;
        }
    }
    Format::Text
}

/// The one line said about an input that cannot be scanned as it is.
pub fn hint(format: Format) -> Option<String> {
    match format {
        Format::Compressed(name) => Some(format!(
            "{name}-compressed: decompress it first (sockwatch scan reads gzip itself)"
        )),
        Format::AusearchInterpreted => Some(
            "ausearch's interpreted output (-i), which has lost the raw records: give the raw log (/var/log/audit/audit.log) or `ausearch --raw` output".into(),
        ),
        _ => None,
    }
}

/// `ausearch`'s own lines around raw records (its default output): an event
/// separator and the event's time. Checked only for a line that did not parse.
pub fn is_ausearch_separator(line: &[u8]) -> bool {
    line == b"----" || line.starts_with(b"time->")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_the_first_bytes() {
        for (head, want) in [
            (&b"\x1f\x8b\x08\x00"[..], Format::Gzip),
            (b"\xfd7zXZ\x00\x00", Format::Compressed("xz")),
            (b"\x28\xb5\x2f\xfd..", Format::Compressed("zstd")),
            (b"BZh91AY", Format::Compressed("bzip2")),
            (b"__CURSOR=s=abc;i=1\n__REALTIME_TIMESTAMP=1\n", Format::JournalExport),
            (b"_TRANSPORT=audit\nMESSAGE\n\x05\x00", Format::JournalExport),
            (b"{\"__CURSOR\":\"s=1\"}\n", Format::JournalJson),
            (b"  \n{\"MESSAGE\":\"x\"}", Format::JournalJson),
            (b"type=SYSCALL msg=audit(12/02/2026 06:00:00.123:456) : arch=x86_64 syscall=connect", Format::AusearchInterpreted),
            (b"----\ntype=PROCTITLE msg=audit(12/02/2026 06:00:00.123:456) : proctitle=curl", Format::AusearchInterpreted),
            (b"type=SYSCALL msg=audit(1732790000.123:4567): arch=c000003e", Format::Text),
            (b"node=a type=SYSCALL msg=audit(1.000:1): x", Format::Text),
            (b"----\ntime->Wed Dec  2 06:00:00 2026\ntype=SYSCALL msg=audit(1.000:1): x", Format::Text),
            (b"Dec  1 21:00:00 host kernel: audit: type=1300 audit(1.000:1): x", Format::Text),
            (b"type=1300 audit(1.000:1): x", Format::Text),
            (b"", Format::Text),
            (b"1=2", Format::Text),
        ] {
            assert_eq!(sniff(head), want, "{}", String::from_utf8_lossy(head));
        }
        assert!(hint(Format::AusearchInterpreted).unwrap().contains("--raw"));
        assert!(hint(Format::Text).is_none());
        assert!(is_ausearch_separator(b"----") && is_ausearch_separator(b"time->Wed Dec"));
        assert!(!is_ausearch_separator(b"-----x"));
    }
}
