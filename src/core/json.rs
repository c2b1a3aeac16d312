//! JSON as sockwatch writes it: serde_json's, with more escaped. serde_json
//! escapes only U+0000-U+001F; DEL, the C1 controls (CSI U+009B among them, which
//! a terminal acts on), the line and paragraph separators and the bidirectional
//! overrides would pass raw from a container's names, paths and argv into every
//! output. They are written as `\uXXXX`: the same JSON string, nothing a terminal
//! or a log viewer can be steered by.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

/// Characters serde_json leaves raw that sockwatch escapes.
pub fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{7f}'..='\u{9f}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// serde_json's compact form (the trait's defaults), but for string fragments.
struct Strict;

impl Formatter for Strict {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Most fragments are plain ASCII below DEL (every character escaped here
        // is DEL or beyond): one byte scan, which vectorises, and one write.
        if fragment.bytes().all(|b| b < 0x7f) || !fragment.chars().any(needs_escape) {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if needs_escape(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                write!(w, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// Appends `s` as a JSON string, escaped exactly as `to_writer` escapes it
/// (serde_json's escapes, then `needs_escape`'s), for the hand-written writers
/// of what is written per event (`core::finding_json`).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    // The common case, printable ASCII with nothing to escape, in one check
    // that vectorises.
    if b.iter().all(|&c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\') {
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    }
    // Otherwise runs of bytes that need nothing are copied whole; only what is escaped is
    // looked at one by one. Every character `needs_escape` names beyond DEL has
    // a UTF-8 form that starts with 0xC2 or 0xE2, which are never continuation
    // bytes, so the scan needs no decoding.
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        let c = b[i];
        let len = match c {
            b'"' | b'\\' | 0..0x20 | 0x7f => 1,
            0xc2 if matches!(b.get(i + 1), Some(0x80..=0x9f)) => 2,
            0xe2 if matches!(
                (b.get(i + 1), b.get(i + 2)),
                (Some(0x80), Some(0x8e | 0x8f | 0xa8..=0xae)) | (Some(0x81), Some(0xa6..=0xa9))
            ) =>
            {
                3
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&b[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
                let _ = write!(out, "\\u{:04x}", ch as u32);
            }
        }
        i += len;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// Appends `n` in decimal.
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut b = [0u8; 20];
    let mut i = b.len();
    loop {
        i -= 1;
        b[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&b[i..]);
}

/// Writes `value` as one line of JSON (no newline added).
pub fn to_writer<W: io::Write, T: Serialize + ?Sized>(w: W, value: &T) -> serde_json::Result<()> {
    value.serialize(&mut Serializer::with_formatter(w, Strict))
}

pub fn to_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(512);
    to_writer(&mut out, value)?;
    // Serializer output is UTF-8: serde_json writes only valid strings and ASCII.
    Ok(String::from_utf8(out).expect("JSON is UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_serde_json_leaves_raw_is_escaped_and_reads_back_the_same() {
        let nasty = "a\u{7f}b\u{9b}31mc\u{85}d\u{2028}e\u{202e}f\u{2066}g\ttab\u{1b}[0m é 漢 🦀";
        let line = to_string(&serde_json::json!({ "comm": nasty })).unwrap();
        assert_eq!(
            line,
            r#"{"comm":"a\u007fb\u009b31mc\u0085d\u2028e\u202ef\u2066g\ttab\u001b[0m é 漢 🦀"}"#
        );
        assert!(!line.chars().any(|c| c.is_control() || needs_escape(c)), "{line:?}");
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["comm"], nasty);
        // Plain text is serde_json's own output, byte for byte.
        let plain = serde_json::json!({"a": [1, "x\"y", null], "b": "é"});
        assert_eq!(to_string(&plain).unwrap(), serde_json::to_string(&plain).unwrap());
    }

    #[test]
    fn the_hand_written_string_and_number_are_to_writers_own() {
        let mut every: String =
            (0u32..0x300).chain(0x1ff0..0x2100).filter_map(char::from_u32).collect();
        every.push_str(
            "\u{200e}\u{200f}\u{2027}\u{2028}\u{202e}\u{202f}\u{2066}\u{2069}\u{206a} 漢 🦀",
        );
        for s in [every.as_str(), "", "plain/path.sock", "a\"b\\c", "\u{7f}"] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(String::from_utf8(out).unwrap(), to_string(s).unwrap(), "{s:?}");
        }
        for n in [0, 7, 10, 4_294_967_295, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
