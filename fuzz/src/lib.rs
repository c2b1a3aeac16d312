//! What the fuzz targets share: reading structured values off the fuzzer's
//! bytes, and the checks every finding must pass on its way out (its JSON line
//! and each output's rendering of it).

use sockwatch::core::finding::Finding;
use sockwatch::core::message;
use sockwatch::core::record::decode_hex;
use sockwatch::io::output::{self, Format, Report, journald, syslog};

/// The fuzzer's bytes, read front to back. Past the end every read gives zeros
/// or nothing, so a target never has to check for the end itself.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }

    pub fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }

    pub fn u16(&mut self) -> u16 {
        let mut b = [0; 2];
        let got = self.bytes(2);
        b[..got.len()].copy_from_slice(got);
        u16::from_ne_bytes(b)
    }

    pub fn u32(&mut self) -> u32 {
        let mut b = [0; 4];
        let got = self.bytes(4);
        b[..got.len()].copy_from_slice(got);
        u32::from_ne_bytes(b)
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) << 32 | u64::from(self.u32())
    }

    /// A length byte, then up to that many bytes.
    pub fn chunk(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8());
        self.bytes(n)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }
}

/// The lines of a log, without their newlines.
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == b'\n')
}

/// An argv as /proc/PID/cmdline has it: strings each ended by a NUL.
pub fn argv(data: &[u8]) -> Vec<Vec<u8>> {
    let data = data.strip_suffix(b"\0").unwrap_or(data);
    if data.is_empty() {
        return Vec::new();
    }
    data.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

/// The finding as its JSON line (without the newline), as the outputs write it
/// (`core::json`), checked: one JSON object that reads back as the same value,
/// with no raw control character (C0, DEL, C1) nor any other character a
/// terminal acts on (so nothing can end the line early, forge another, or steer
/// a viewer), and every `_hex` sibling holding exactly the bytes whose lossy
/// text stands beside it.
pub fn finding_line(f: &Finding) -> String {
    let line = sockwatch::core::json::to_string(f).expect("a finding serialises");
    assert!(
        !line.chars().any(|c| c.is_control() || sockwatch::core::json::needs_escape(c)),
        "a raw control character in a finding: {line:?}"
    );
    let back: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert!(back.is_object(), "not a JSON object: {line}");
    assert_eq!(back, serde_json::to_value(f).expect("a finding is a JSON value"), "{line}");
    let p = &f.process;
    for (name, text, hex) in [
        ("comm", p.comm.as_deref(), p.comm_hex.as_deref()),
        ("exe", p.exe.as_deref(), p.exe_hex.as_deref()),
        ("cwd", p.cwd.as_deref(), p.cwd_hex.as_deref()),
        ("socket.path", Some(f.socket.path.as_str()), f.socket.path_hex.as_deref()),
    ] {
        if let Some(hex) = hex {
            check_hex(name, text.unwrap_or_else(|| panic!("{name}_hex without {name}")), hex);
        }
    }
    if let Some(hex) = &p.cmdline_hex {
        assert_eq!(hex.len(), p.cmdline.len(), "cmdline_hex and cmdline differ in length");
        for (text, hex) in p.cmdline.iter().zip(hex) {
            let bytes = decode_hex(hex.as_bytes()).unwrap_or_default();
            assert_eq!(String::from_utf8_lossy(&bytes), *text, "cmdline_hex is not cmdline");
        }
    }
    line
}

fn check_hex(name: &str, text: &str, hex: &str) {
    let bytes =
        decode_hex(hex.as_bytes()).unwrap_or_else(|| panic!("{name}_hex is not hex: {hex:?}"));
    assert!(std::str::from_utf8(&bytes).is_err(), "{name}_hex beside valid UTF-8");
    assert_eq!(String::from_utf8_lossy(&bytes), text, "{name} is not {name}_hex's text");
}

/// Every output's rendering of a finding whose JSON line is `line`: the
/// summary (the finding's `message`, made from what it holds) is one line
/// without control characters, at most `message::MAX` bytes; syslog messages (RFC 5424
/// and 3164) fit MAX_MESSAGE and nothing in them can end the record (no C0
/// control character); RFC 5424's, all escaped, has no control character at
/// all, and its structured data is well-formed (RFC 3164's carries the JSON
/// line, escaped the same way); the journal entry decodes back to its fields.
pub fn check_outputs(f: &Finding, line: &str) {
    let summary = &f.message;
    assert_eq!(*summary, message::summary(f), "the message is the finding's summary");
    assert!(!summary.chars().any(char::is_control), "control character in summary: {summary:?}");
    assert!(summary.len() <= message::MAX, "summary of {} bytes", summary.len());
    let with_newline = format!("{line}\n");
    let rfc5424 = syslog::rfc5424(f, 16, "fuzz-host");
    for (format, msg) in [
        ("rfc5424", &rfc5424),
        ("rfc3164", &syslog::rfc3164(f, 16, "fuzz-host", with_newline.as_bytes())),
    ] {
        assert!(
            msg.len() <= syslog::MAX_MESSAGE,
            "{format}: {} bytes, over {}",
            msg.len(),
            syslog::MAX_MESSAGE
        );
        assert!(!msg.chars().any(char::is_control), "{format}: control character in {msg:?}");
    }
    assert!(!rfc5424.chars().any(char::is_control), "rfc5424: control character in {rfc5424:?}");
    check_rfc5424(&rfc5424);
    let entry = journald::entry(f, with_newline.as_bytes());
    let fields = journal_fields(&entry);
    let get = |name: &str| fields.iter().find(|(n, _)| n == name.as_bytes()).map(|(_, v)| v);
    assert_eq!(get("SOCKWATCH_JSON").map(Vec::as_slice), Some(line.as_bytes()));
    assert_eq!(get("MESSAGE").map(Vec::as_slice), Some(summary.as_bytes()));
    for (name, _) in &fields {
        assert!(
            !name.is_empty() && name.iter().all(|b| b.is_ascii_uppercase() || *b == b'_'),
            "journal field name {:?}",
            String::from_utf8_lossy(name)
        );
    }
    check_formats(f);
}

/// `--format ecs|ocsf`: one JSON object on one line, no raw control byte,
/// and the socket's name as the process gave it kept whole.
fn check_formats(f: &Finding) {
    for format in [Format::Ecs, Format::Ocsf] {
        let mut line = Vec::new();
        output::shape(&mut line, &Report::Finding(Box::new(f.clone())), format);
        assert_eq!(line.pop(), Some(b'\n'), "{format:?}: no newline");
        assert!(!line.iter().any(|b| b.is_ascii_control()), "{format:?}: control byte");
        let v: serde_json::Value =
            serde_json::from_slice(&line).unwrap_or_else(|e| panic!("{format:?}: not JSON ({e})"));
        let own = if format == Format::Ecs { &v["sockwatch"] } else { &v["unmapped"]["sockwatch"] };
        assert_eq!(own["socket"]["path"].as_str(), Some(f.socket.path.as_str()), "{format:?}");
    }
}

/// `<PRI>1 TIME HOST APP PROCID MSGID [sockwatch@32473 k="v" ...] MSG`: each
/// value's `"`, `\` and `]` escaped (RFC 5424 section 6.3.3), the element closed.
fn check_rfc5424(m: &str) {
    let mut rest = m;
    for _ in 0..6 {
        let sp = rest.find(' ').unwrap_or_else(|| panic!("rfc5424: short header: {m:?}"));
        rest = &rest[sp + 1..];
    }
    let mut rest = rest
        .strip_prefix("[sockwatch@32473")
        .unwrap_or_else(|| panic!("rfc5424: no structured data: {m:?}"));
    loop {
        if let Some(r) = rest.strip_prefix(']') {
            rest = r;
            break;
        }
        let r = rest.strip_prefix(' ').unwrap_or_else(|| panic!("rfc5424: bad SD at {rest:?}"));
        let eq = r.find("=\"").unwrap_or_else(|| panic!("rfc5424: bad param at {r:?}"));
        let name = &r[..eq];
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "rfc5424: param name {name:?}"
        );
        let value = &r[eq + 2..];
        let mut chars = value.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                ']' => panic!("rfc5424: unescaped ] in {name}: {value:?}"),
                _ => {}
            }
        }
        let end = end.unwrap_or_else(|| panic!("rfc5424: {name} is not closed: {m:?}"));
        rest = &value[end + 1..];
    }
    assert!(rest.starts_with(' '), "rfc5424: no space after the structured data: {m:?}");
}

/// The journal's native protocol, decoded as journald does: `NAME=value\n`, or
/// `NAME\n`, a little-endian u64 length, the value and `\n`.
fn journal_fields(mut b: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let nl = b.iter().position(|&c| c == b'\n').expect("journal: a field without a newline");
        match b[..nl].iter().position(|&c| c == b'=') {
            Some(eq) => {
                out.push((b[..eq].to_vec(), b[eq + 1..nl].to_vec()));
                b = &b[nl + 1..];
            }
            None => {
                let name = b[..nl].to_vec();
                let len = b.get(nl + 1..nl + 9).expect("journal: a length");
                let len = u64::from_le_bytes(len.try_into().unwrap()) as usize;
                let start = nl + 9;
                let value = b.get(start..start + len).expect("journal: a value as long as said");
                assert_eq!(b.get(start + len), Some(&b'\n'), "journal: a value not ended");
                out.push((name, value.to_vec()));
                b = &b[start + len + 1..];
            }
        }
    }
    out
}
