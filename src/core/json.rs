//! JSON as sockwatch writes it: serde_json's, with more escaped. serde_json
//! escapes only U+0000-U+001F; DEL, the C1 controls (CSI U+009B among them, which
//! a terminal acts on), the line and paragraph separators and the bidirectional
//! overrides would pass raw from a container's names, paths and argv into every
//! output. They are written as `\uXXXX`: the same JSON string, nothing a terminal
//! or a log viewer can be steered by.

use std::io;

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
}
