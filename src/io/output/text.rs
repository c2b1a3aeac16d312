//! What every human-facing output shares: the one-line summary of a finding, the
//! exact bytes of container-controlled strings, and the severity scale.

use crate::core::finding::Finding;
use crate::core::record::decode_hex;

/// The signature's severity (0-3 in Tracee's scale, higher is worse) as a syslog
/// priority: 0 info, 1 notice, 2 warning, 3 err, anything above crit.
pub fn priority(severity: u8) -> u8 {
    match severity {
        0 => 6,
        1 => 5,
        2 => 4,
        3 => 3,
        _ => 2,
    }
}

/// A string field's exact bytes: the `_hex` sibling when the text is not UTF-8.
pub fn exact(text: Option<&str>, hex: Option<&str>) -> Option<Vec<u8>> {
    match hex.and_then(|h| decode_hex(h.as_bytes())) {
        Some(b) => Some(b),
        None => text.map(|t| t.as_bytes().to_vec()),
    }
}

/// Makes container-controlled text safe for a one-line message: control
/// characters, Unicode line and paragraph separators and the invisible format
/// characters (bidi overrides, zero-width ones) become `\u{NNNN}`-style escapes
/// (`\xNN` below U+0100), and backslashes `\\`.
pub fn escape_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if needs_escape(c) => out.push_str(&escape_char(c)),
            c => out.push(c),
        }
    }
    out
}

/// Characters that can break a line or disguise text when displayed.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

pub fn escape_char(c: char) -> String {
    let n = c as u32;
    if n < 0x100 { format!("\\x{n:02x}") } else { format!("\\u{{{n:04x}}}") }
}

/// `Docker socket abuse detected: socat (pid 4242) in container web-1 (nginx:1.27)
/// connected to /run/docker.sock`.
pub fn summary(f: &Finding) -> String {
    let comm = escape_line(f.process.comm.as_deref().unwrap_or("?"));
    let pid = f.process.pid.map_or("?".to_string(), |p| p.to_string());
    let c = &f.container;
    let who = match (&c.name, &c.id) {
        (Some(n), _) => escape_line(n),
        (None, Some(id)) => id.chars().take(12).collect(),
        (None, None) => "unknown".into(),
    };
    let image = c.image.as_deref().map(|i| format!(" ({})", escape_line(i))).unwrap_or_default();
    let what = match &f.outcome.errno {
        None => "connected to".to_string(),
        Some(e) => format!("tried to connect ({e}) to"),
    };
    let times = if f.count > 1 { format!(" ({} times)", f.count) } else { String::new() };
    format!(
        "{}: {comm} (pid {pid}) in container {who}{image} {what} {}{times}",
        f.signature.name,
        escape_line(&f.socket.watched)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_one_safe_line() {
        let mut f = crate::core::finding::tests::sample();
        f.process.comm = Some("x\nCONTAINER_ID=forged".into());
        f.container.name = Some("web-1".into());
        f.container.image = Some("nginx:1.27".into());
        let s = summary(&f);
        assert!(!s.contains('\n'));
        assert!(s.starts_with("Docker socket abuse detected: x\\x0aCONTAINER_ID=forged (pid 10) in container web-1 (nginx:1.27) tried to connect (ECONNREFUSED) to /run/docker.sock"), "{s}");
        assert_eq!(escape_line("a\\b\x7f"), "a\\\\b\\x7f");
        assert_eq!(escape_line("ok\u{202e}txt.exe\u{2028}"), "ok\\u{202e}txt.exe\\u{2028}");
        assert_eq!(priority(2), 4);
        assert_eq!(exact(Some("\u{fffd}"), Some("ff")), Some(vec![0xff]));
        assert_eq!(exact(Some("abc"), None), Some(b"abc".to_vec()));
    }
}
