//! syslog over a local datagram socket (/dev/log, or any path given), RFC 5424 by
//! default or RFC 3164. Each send is addressed anew, so a syslog daemon that
//! restarts and re-creates its socket is picked up without a reconnect step; a
//! send that fails is retried by the caller.
//!
//! RFC 5424: `<PRI>1 TIMESTAMP HOST sockwatch PID TRC-1019 [sockwatch@32473 ...] MSG`
//! with every finding attribute as an SD-PARAM (32473 is IANA's example enterprise
//! number, used here as a private SD-ID). RFC 3164: `<PRI>Mmm dd hh:mm:ss HOST
//! sockwatch[PID]: MSG {json}`, timestamps in UTC. In both, MSG is the one-line
//! summary with control characters escaped, and SD-PARAM values escape `"`, `\`
//! and `]` as RFC 5424 says, and control characters as `\xNN`, so no byte a
//! container controls can end the record or forge a parameter.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use crate::core::finding::Finding;
use crate::core::message::{escape_char, escape_line, needs_escape};

pub const DEV_LOG: &str = "/dev/log";

/// The message format; its names are the command line's and the configuration
/// file's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Rfc5424,
    Rfc3164,
}

/// A syslog facility, by the name the command line and the configuration file
/// use; its value is the facility's code (local0 is 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[repr(u8)]
pub enum Facility {
    Kern = 0,
    User = 1,
    Mail = 2,
    Daemon = 3,
    Auth = 4,
    Syslog = 5,
    Lpr = 6,
    News = 7,
    Uucp = 8,
    Cron = 9,
    Authpriv = 10,
    Ftp = 11,
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}

impl Facility {
    pub fn code(self) -> u8 {
        self as u8
    }
}

pub struct Syslog {
    path: PathBuf,
    sock: UnixDatagram,
    format: Format,
    facility: u8,
    hostname: String,
}

impl Syslog {
    pub fn new(
        path: PathBuf,
        format: Format,
        facility: u8,
        hostname: String,
    ) -> io::Result<Syslog> {
        // Non-blocking: a stalled syslog daemon must not stall the event loop; a
        // full queue is an error the caller retries.
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        Ok(Syslog { path, sock, format, facility, hostname })
    }
}

/// The largest message sent (rsyslog's and syslog-ng's usual limit). Longer
/// values are cut, and say so; the JSON of RFC 3164 loses the argv first.
pub const MAX_MESSAGE: usize = 8192;
/// The longest SD-PARAM value, after escaping.
const MAX_PARAM: usize = 1024;
/// What marks a value or a summary that was cut.
const CUT_MARK: &str = "…(cut)";

impl super::Sink for Syslog {
    fn write(&mut self, r: &super::Report, line: &[u8]) -> io::Result<()> {
        let msg = match (r, self.format) {
            (super::Report::Finding(f), Format::Rfc5424) => {
                rfc5424(f, self.facility, &self.hostname)
            }
            (super::Report::Finding(f), Format::Rfc3164) => {
                rfc3164(f, self.facility, &self.hostname, line)
            }
            (super::Report::Health(h), format) => {
                health(h, format, self.facility, &self.hostname, line)
            }
        };
        self.sock
            .send_to(msg.as_bytes(), &self.path)
            .map(|_| ())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }
}

/// RFC 5424 with the finding's fields as structured data. Every value is escaped
/// first and cut afterwards, between escaped characters, so a cut never splits
/// an escape or a closing quote; when the parameters together would not fit the
/// message, the longest are cut further. The structured data is always whole and
/// well-formed: only the summary after it is cut to fit.
pub fn rfc5424(f: &Finding, facility: u8, hostname: &str) -> String {
    let pri = u16::from(facility) * 8 + u16::from(f.signature.priority().syslog);
    let head = format!(
        "<{pri}>1 {} {} sockwatch {} {} ",
        f.time,
        header_field(hostname),
        std::process::id(),
        f.signature.id
    );
    let mut params = sd_params(f);
    // "[sockwatch@32473" + each ` k="v"` + "]" + " " + at least a short summary.
    const SUMMARY_MIN: usize = 64;
    let budget = MAX_MESSAGE.saturating_sub(head.len() + "[sockwatch@32473] ".len() + SUMMARY_MIN);
    fit(&mut params, budget);
    let mut sd = String::from("[sockwatch@32473");
    for (k, v) in &params {
        sd.push_str(&format!(" {k}=\"{v}\""));
    }
    sd.push(']');
    let room = MAX_MESSAGE.saturating_sub(head.len() + sd.len() + 1);
    format!("{head}{sd} {}", cut(&f.message, room))
}

/// The finding's SD-PARAMs, values escaped and each cut to `MAX_PARAM`.
fn sd_params(f: &Finding) -> Vec<(&'static str, String)> {
    let p = &f.process;
    let c = &f.container;
    let cmdline = (!p.cmdline.is_empty())
        .then(|| crate::core::json::to_string(&p.cmdline).unwrap_or_default());
    let fields: [(&'static str, Option<String>); 22] = [
        ("signature_id", Some(f.signature.id.into())),
        ("operation", Some(f.operation.into())),
        ("container_id", c.id.clone()),
        ("container_name", c.name.clone()),
        ("container_image", c.image.clone()),
        ("container_runtime", Some(c.runtime.clone())),
        ("process_pid", p.pid.map(|v| v.to_string())),
        // Text fields as UTF-8 (escaped); a value that is not UTF-8 also comes as
        // the exact bytes in hex, as in the JSON.
        ("process_exe", p.exe.clone()),
        ("process_exe_hex", p.exe_hex.clone()),
        ("process_comm", p.comm.clone()),
        ("process_comm_hex", p.comm_hex.clone()),
        ("process_cwd", p.cwd.clone()),
        ("process_cwd_hex", p.cwd_hex.clone()),
        ("process_cmdline", cmdline),
        ("socket_path", Some(f.socket.path.clone())),
        ("socket_path_hex", f.socket.path_hex.clone()),
        ("socket_watched", Some(f.socket.watched.clone())),
        ("outcome", Some(f.outcome.errno.clone().unwrap_or_else(|| "success".into()))),
        ("audit_serial", f.audit.as_ref().map(|a| a.serial.to_string())),
        ("count", Some(f.count.to_string())),
        ("response_action", f.response.as_ref().map(|r| r.action.into())),
        ("response_result", f.response.as_ref().map(|r| r.result.into())),
    ];
    fields.into_iter().filter_map(|(k, v)| v.map(|v| (k, sd_escape(&v, MAX_PARAM)))).collect()
}

/// Cuts the longest values until the parameters (` k="v"` each) fit `budget`.
fn fit(params: &mut [(&'static str, String)], budget: usize) {
    let size = |ps: &[(&str, String)]| ps.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>();
    loop {
        let total = size(params);
        if total <= budget {
            return;
        }
        let Some(longest) = params.iter_mut().max_by_key(|(_, v)| v.len()) else { return };
        if longest.1.len() <= CUT_MARK.len() {
            // Nothing left to cut: no finding has that many parameters.
            return;
        }
        let keep = longest.1.len().saturating_sub(total - budget).max(CUT_MARK.len());
        longest.1 = recut(&longest.1, keep);
    }
}

/// A health event: MSGID `health` and its own SD-ID in RFC 5424; the JSON after
/// the message in RFC 3164.
pub fn health(
    h: &crate::core::health::Health,
    format: Format,
    facility: u8,
    hostname: &str,
    line: &[u8],
) -> String {
    let pri = u16::from(facility) * 8 + u16::from(h.level.priority());
    let msg = escape_line(&h.message);
    let json = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(line)).into_owned();
    let out = match format {
        Format::Rfc5424 => format!(
            "<{pri}>1 {} {} sockwatch {} health [sockwatch-health@32473 event=\"{}\" level=\"{}\"] {msg}",
            h.time,
            header_field(hostname),
            std::process::id(),
            sd_escape(h.event.name(), MAX_PARAM),
            sd_escape(&format!("{:?}", h.level).to_lowercase(), MAX_PARAM)
        ),
        Format::Rfc3164 => format!(
            "<{pri}>{} {} sockwatch[{}]: {msg} {json}",
            bsd_time(&h.time),
            header_field(hostname),
            std::process::id()
        ),
    };
    cut(&out, MAX_MESSAGE)
}

pub fn rfc3164(f: &Finding, facility: u8, hostname: &str, line: &[u8]) -> String {
    let pri = u16::from(facility) * 8 + u16::from(f.signature.priority().syslog);
    let head = format!(
        "<{pri}>{} {} sockwatch[{}]: {}",
        bsd_time(&f.time),
        header_field(hostname),
        std::process::id(),
        f.message
    );
    let mut json = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(line)).into_owned();
    if head.len() + 1 + json.len() > MAX_MESSAGE {
        // The argv is what a container can make arbitrarily long: drop it first.
        let mut shorter = f.clone();
        shorter.process.cmdline = vec!["(cut: too long for syslog)".into()];
        shorter.process.cmdline_hex = None;
        json = crate::core::json::to_string(&shorter).unwrap_or_default();
    }
    if head.len() + 1 + json.len() > MAX_MESSAGE {
        return cut(&head, MAX_MESSAGE);
    }
    format!("{head} {json}")
}

/// RFC 3164's `Mmm dd hh:mm:ss` from an RFC 3339 UTC time.
fn bsd_time(t: &str) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = t
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .unwrap_or(&"Jan");
    let day: u32 = t.get(8..10).and_then(|d| d.parse().ok()).unwrap_or(1);
    format!("{month} {day:>2} {}", t.get(11..19).unwrap_or("00:00:00"))
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(CUT_MARK.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARK}", &s[..end])
}

/// An SD-PARAM value escaped (`"`, `\\`, `]` and control characters), at most
/// `max` bytes: cut between escaped characters, with a mark.
fn sd_escape(v: &str, max: usize) -> String {
    let mut out = String::with_capacity(v.len().min(max + 16));
    for c in v.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if needs_escape(c) => out.push_str(&escape_char(c)),
            c => out.push(c),
        }
        // Escaping stops as soon as the value is too long: the cost is bounded
        // by `max`, whatever the length of the value.
        if out.len() > max {
            return recut(&out, max);
        }
    }
    out
}

/// An escaped value cut again to at most `max` bytes, between escaped
/// characters (an escape starts with `\\`), with the mark.
fn recut(escaped: &str, max: usize) -> String {
    let body = escaped.strip_suffix(CUT_MARK).unwrap_or(escaped);
    let limit = max.saturating_sub(CUT_MARK.len());
    let mut end = 0;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        // One escaped character: `\\x1b`, `\\u{202e}`, `\\"`, or a plain one.
        let mut next = i + c.len_utf8();
        if c == '\\' {
            match chars.next() {
                Some((j, 'x')) => {
                    next = j + 3;
                    chars.next();
                    chars.next();
                }
                Some((_, 'u')) => {
                    next = body[i..].find('}').map_or(body.len(), |k| i + k + 1);
                    while chars.peek().is_some_and(|(j, _)| *j < next) {
                        chars.next();
                    }
                }
                Some((j, e)) => next = j + e.len_utf8(),
                None => {}
            }
        }
        if next > limit {
            break;
        }
        end = next;
    }
    format!("{}{CUT_MARK}", &body[..end])
}

/// A header field: printable ASCII without spaces, or "-".
fn header_field(s: &str) -> String {
    let v: String = escape_line(s).chars().filter(|c| c.is_ascii_graphic()).collect();
    if v.is_empty() { "-".into() } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities() {
        use clap::ValueEnum;
        let code = |name| Facility::from_str(name, false).map(Facility::code);
        assert_eq!(code("authpriv"), Ok(10));
        assert_eq!(code("local0"), Ok(16));
        assert_eq!(code("local7"), Ok(23));
        assert!(code("nope").is_err());
        assert_eq!(Facility::value_variants().len(), 20);
    }

    #[test]
    fn injection_cannot_forge_a_record_or_a_parameter() {
        let mut f = crate::core::finding::tests::sample();
        f.container.id = Some("a".repeat(64));
        f.process.comm = Some("x\n<13>1 forged\" container_id=\"evil\"]".into());
        f.process.exe = Some("/tmp/x\nCONTAINER_ID=forged".into());
        f.process.exe_hex = None;
        f.summarize();
        let m = rfc5424(&f, 10, "host 1");
        assert!(!m.contains('\n'), "{m}");
        assert!(m.starts_with("<84>1 2026-11-28T10:52:42.100000Z host1 sockwatch "), "{m}");
        // The SD element ends at the first unescaped ']'; the summary (MSG) follows.
        let sd_end = m.find("] Docker socket abuse").unwrap();
        assert_eq!(m[..sd_end].matches(" container_id=\"").count(), 1, "{m}");
        assert!(m.contains(r#"process_comm="x\x0a<13>1 forged\" container_id=\"evil\"\]""#), "{m}");
        assert!(m.contains(r#"process_exe="/tmp/x\x0aCONTAINER_ID=forged""#), "{m}");
        assert!(m.contains(r#"operation="connect""#), "{m}");
        assert!(m.ends_with(&format!("] {}", f.message)), "MSG is the finding's message: {m}");
        let line = serde_json::to_vec(&f).unwrap();
        let old = rfc3164(&f, 10, "host", &line);
        assert!(!old.contains('\n'));
        assert!(old.starts_with("<84>Nov 28 10:52:42 host sockwatch["), "{old}");
        assert!(old.ends_with(&String::from_utf8(line).unwrap()));
    }

    #[test]
    fn health_events_have_their_own_msgid() {
        let h = crate::core::health::Health::new(
            "2026-11-28T10:52:42.100000Z".into(),
            crate::core::health::Event::AuditDisabled,
            crate::core::health::Level::Warning,
            "audit\nwas off".into(),
            "h",
        );
        let line = serde_json::to_vec(&h).unwrap();
        let m = health(&h, Format::Rfc5424, 10, "h", &line);
        assert!(m.starts_with("<84>1 2026-11-28T10:52:42.100000Z h sockwatch "), "{m}");
        assert!(m.contains(" health [sockwatch-health@32473 event=\"audit_disabled\" level=\"warning\"] audit\\x0awas off"), "{m}");
        let old = health(&h, Format::Rfc3164, 10, "h", &line);
        assert!(old.starts_with("<84>Nov 28 10:52:42 h sockwatch["), "{old}");
    }

    #[test]
    fn messages_stay_within_the_limit_and_keep_exact_bytes() {
        let mut f = crate::core::finding::tests::sample();
        f.process.cmdline = vec!["z".repeat(300_000)];
        let line = serde_json::to_vec(&f).unwrap();
        let old = rfc3164(&f, 10, "h", &line);
        assert!(
            old.len() <= MAX_MESSAGE && old.contains("(cut: too long for syslog)"),
            "{}",
            old.len()
        );
        let new = rfc5424(&f, 10, "h");
        assert!(new.len() <= MAX_MESSAGE, "{}", new.len());
        // The sample's exe is not UTF-8: its exact bytes come as hex.
        assert!(new.contains(r#"process_exe_hex="2f746d702ffffe657865""#), "{new}");
    }

    /// Checks an RFC 5424 message's structured data: one SD-ELEMENT, every
    /// PARAM-VALUE closed, `]` outside a value ends it, then a space and the
    /// summary. Returns the parameter names and values (still escaped).
    fn parse_sd(m: &str) -> Vec<(String, String)> {
        let start = m.find(" [sockwatch@32473").expect("an SD-ELEMENT") + 1;
        let b = m.as_bytes();
        let mut i = start + "[sockwatch@32473".len();
        let mut params = Vec::new();
        loop {
            match b[i] {
                b']' => break,
                b' ' => {
                    let eq = m[i..].find("=\"").expect("name=\"") + i;
                    let name = m[i + 1..eq].to_string();
                    assert!(name.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'), "{name}");
                    let mut j = eq + 2;
                    while b[j] != b'"' {
                        j += if b[j] == b'\\' { 2 } else { 1 };
                    }
                    params.push((name, m[eq + 2..j].to_string()));
                    i = j + 1;
                }
                c => panic!("unexpected {:?} at {i} in the structured data", c as char),
            }
        }
        assert_eq!(b[i + 1], b' ', "a space, then the summary");
        params
    }

    #[test]
    fn the_worst_case_keeps_the_structured_data_whole() {
        let mut f = crate::core::finding::tests::sample();
        // Every text field a container controls, long, and made of what escaping
        // makes longest: control characters (4 bytes each), quotes, brackets and
        // backslashes (2 bytes), bidi overrides (8 bytes), and multi-byte text.
        let nasty: String = "\u{1}\"]\\\u{202e}é\n".repeat(3000);
        f.container.id = Some("a".repeat(64));
        f.container.name = Some(nasty.clone());
        f.container.image = Some(nasty.clone());
        f.process.exe = Some(nasty.clone());
        f.process.exe_hex = Some("ab".repeat(20_000));
        f.process.comm = Some(nasty.clone());
        f.process.cwd = Some(nasty.clone());
        f.process.cwd_hex = Some("cd".repeat(20_000));
        f.process.cmdline = vec![nasty.clone(), nasty.clone()];
        f.socket.path = nasty.clone();
        f.socket.path_hex = Some("ef".repeat(20_000));
        let m = rfc5424(&f, 10, "h");
        assert!(m.len() <= MAX_MESSAGE, "{}", m.len());
        assert!(!m.contains('\n'));
        let params = parse_sd(&m);
        let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        for want in ["signature_id", "container_id", "process_cmdline", "socket_path", "count"] {
            assert!(names.contains(&want), "{want} kept: {names:?}");
        }
        for (k, v) in &params {
            assert!(v.len() <= MAX_PARAM, "{k}: {}", v.len());
        }
        let cut: Vec<&str> =
            params.iter().filter(|(_, v)| v.ends_with(CUT_MARK)).map(|(k, _)| k.as_str()).collect();
        assert!(cut.contains(&"process_cmdline") && cut.contains(&"process_exe"), "{cut:?}");
        // The summary follows, cut or whole, and the short fields are exact.
        let id = params.iter().find(|(k, _)| k == "signature_id").unwrap();
        assert_eq!(id.1, "TRC-1019");
        // Short values are never cut: the same finding without the long fields
        // gives them whole.
        let plain = rfc5424(&crate::core::finding::tests::sample(), 10, "h");
        assert!(parse_sd(&plain).iter().all(|(_, v)| !v.ends_with(CUT_MARK)), "{plain}");
        let whole = crate::core::finding::tests::sample().message;
        assert!(plain.ends_with(&format!("] {whole}")), "{plain}");
    }

    #[test]
    fn a_cut_never_splits_an_escape() {
        for (value, max) in
            [("\u{1}".repeat(50), 30), ("\"".repeat(50), 31), ("\u{202e}".repeat(9), 40)]
        {
            for m in max..max + 8 {
                let v = sd_escape(&value, m);
                assert!(v.len() <= m, "{v}");
                let body = v.strip_suffix(CUT_MARK).unwrap();
                // Whole escapes only: what is left unescapes back to a prefix.
                let unit = sd_escape(&value[..value.chars().next().unwrap().len_utf8()], 100);
                assert_eq!(body.len() % unit.len(), 0, "{value:?} at {m}: {v}");
            }
        }
    }
}
