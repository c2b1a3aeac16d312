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

use super::text::{escape_line, exact, priority, summary};
use crate::core::finding::Finding;

pub const DEV_LOG: &str = "/dev/log";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rfc5424,
    Rfc3164,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "rfc5424" => Ok(Format::Rfc5424),
            "rfc3164" => Ok(Format::Rfc3164),
            _ => Err(format!("{s:?} is not rfc5424 or rfc3164")),
        }
    }
}

pub const FACILITY_NAMES: [&str; 20] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "local0",
    "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

/// The facility's code: the index in FACILITY_NAMES, local0 being 16.
pub fn facility(name: &str) -> Result<u8, String> {
    match FACILITY_NAMES.iter().position(|n| *n == name) {
        Some(i) if i < 12 => Ok(i as u8),
        Some(i) => Ok((i + 4) as u8),
        None => Err(format!("{name:?} is not a syslog facility ({})", FACILITY_NAMES.join(", "))),
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
    pub fn new(path: PathBuf, format: Format, facility: u8, hostname: String) -> Syslog {
        let sock = UnixDatagram::unbound().expect("a unix datagram socket");
        Syslog { path, sock, format, facility, hostname }
    }
}

impl super::Sink for Syslog {
    fn write(&mut self, f: &Finding, line: &[u8]) -> io::Result<()> {
        let msg = match self.format {
            Format::Rfc5424 => rfc5424(f, self.facility, &self.hostname),
            Format::Rfc3164 => rfc3164(f, self.facility, &self.hostname, line),
        };
        self.sock.send_to(msg.as_bytes(), &self.path).map(|_| ()).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }
}

pub fn rfc5424(f: &Finding, facility: u8, hostname: &str) -> String {
    let pri = u16::from(facility) * 8 + u16::from(priority(f.signature.severity));
    let p = &f.process;
    let c = &f.container;
    let lossless = |text: Option<&str>, hex: Option<&str>| exact(text, hex).map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut sd = String::from("[sockwatch@32473");
    let mut param = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            sd.push_str(&format!(" {k}=\"{}\"", sd_escape(&v)));
        }
    };
    param("signature_id", Some(f.signature.id.into()));
    param("container_id", c.id.clone());
    param("container_name", c.name.clone());
    param("container_image", c.image.clone());
    param("container_runtime", Some(c.runtime.clone()));
    param("process_pid", p.pid.map(|v| v.to_string()));
    param("process_exe", lossless(p.exe.as_deref(), None));
    param("process_exe_hex", p.exe_hex.clone());
    param("process_comm", p.comm.clone());
    param("socket_path", Some(f.socket.path.clone()));
    param("socket_watched", Some(f.socket.watched.clone()));
    param("outcome", Some(f.outcome.errno.clone().unwrap_or_else(|| "success".into())));
    param("audit_serial", Some(f.audit.serial.to_string()));
    param("count", Some(f.count.to_string()));
    sd.push(']');
    format!(
        "<{pri}>1 {} {} sockwatch {} {} {sd} {}",
        f.time,
        header_field(hostname),
        std::process::id(),
        f.signature.id,
        summary(f)
    )
}

pub fn rfc3164(f: &Finding, facility: u8, hostname: &str, line: &[u8]) -> String {
    let pri = u16::from(facility) * 8 + u16::from(priority(f.signature.severity));
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    // f.time is RFC 3339 UTC: YYYY-MM-DDTHH:MM:SS...
    let t = &f.time;
    let month = t.get(5..7).and_then(|m| m.parse::<usize>().ok()).and_then(|m| MONTHS.get(m.wrapping_sub(1))).unwrap_or(&"Jan");
    let day: u32 = t.get(8..10).and_then(|d| d.parse().ok()).unwrap_or(1);
    let clock = t.get(11..19).unwrap_or("00:00:00");
    let json = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(line)).into_owned();
    format!("<{pri}>{month} {day:>2} {clock} {} sockwatch[{}]: {} {json}", header_field(hostname), std::process::id(), summary(f))
}

fn sd_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
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
        assert_eq!(facility("authpriv"), Ok(10));
        assert_eq!(facility("local0"), Ok(16));
        assert_eq!(facility("local7"), Ok(23));
        assert!(facility("nope").is_err());
    }

    #[test]
    fn injection_cannot_forge_a_record_or_a_parameter() {
        let mut f = crate::core::finding::tests::sample();
        f.container.id = Some("a".repeat(64));
        f.process.comm = Some("x\n<13>1 forged\" container_id=\"evil\"]".into());
        f.process.exe = Some("/tmp/x\nCONTAINER_ID=forged".into());
        f.process.exe_hex = None;
        let m = rfc5424(&f, 10, "host 1");
        assert!(!m.contains('\n'), "{m}");
        assert!(m.starts_with("<84>1 2026-11-28T10:52:42.100000Z host1 sockwatch "), "{m}");
        // The SD element ends at the first unescaped ']'; the summary (MSG) follows.
        let sd_end = m.find("] Docker socket abuse").unwrap();
        assert_eq!(m[..sd_end].matches(" container_id=\"").count(), 1, "{m}");
        assert!(m.contains(r#"process_comm="x\x0a<13>1 forged\" container_id=\"evil\"\]""#), "{m}");
        assert!(m.contains(r#"process_exe="/tmp/x\x0aCONTAINER_ID=forged""#), "{m}");
        let line = serde_json::to_vec(&f).unwrap();
        let old = rfc3164(&f, 10, "host", &line);
        assert!(!old.contains('\n'));
        assert!(old.starts_with("<84>Nov 28 10:52:42 host sockwatch["), "{old}");
        assert!(old.ends_with(&String::from_utf8(line).unwrap()));
    }
}
