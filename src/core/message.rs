//! A finding's one-line summary for people. The JSON's `message`, journald's
//! MESSAGE and syslog's MSG are this same line; each signature says which
//! summary it gets (`Signature::summary`), so a chmod never reads as a connect.
//!
//! A process's comm, a container's name, image and id are a container's to
//! choose: each is escaped (control characters, line separators and the
//! invisible format characters become `\xNN` / `\u{NNNN}`, so the line stays
//! one line and shows what it holds) and cut to a few dozen bytes, so the
//! line is at most `MAX` bytes, and costs as much, whatever they hold.

use super::finding::{ContainerInfo, Finding, Process};
use super::signature::Summary;

/// The longest summary, in bytes. What goes in is bounded piece by piece well
/// below this; the whole is cut to it as well, should that ever change.
pub const MAX: usize = 1024;
/// The most of a comm, a container's name, image or id, after escaping.
const NAME_MAX: usize = 128;
/// The most of a socket's path (the host's, but of any length) after escaping.
const PATH_MAX: usize = 256;
/// The most of a value from a finding's details (modes, ids), after escaping.
const DETAIL_MAX: usize = 32;
/// What ends a piece that was cut.
const CUT: &str = "…";

/// The finding's summary line:
/// `Docker socket abuse detected: socat (pid 4242) in container web-1 (nginx:1.27) connected to /run/docker.sock`,
/// `Runtime socket permissions changed: chmod of /run/docker.sock (mode 0660 -> 0666, writable by everyone) by chmod (pid 4243) on the host`,
/// `Runtime socket replaced: /run/docker.sock created or moved into place by python3 (pid 4244) on the host`.
pub fn summary(f: &Finding) -> String {
    let mut s = String::with_capacity(160);
    s.push_str(f.signature.name);
    s.push_str(": ");
    match f.signature.summary {
        Summary::Connect => {
            process(&mut s, &f.process);
            whence(&mut s, &f.container);
            match &f.outcome.errno {
                None => s.push_str(" connected to "),
                Some(e) => {
                    s.push_str(" tried to connect (");
                    escaped(&mut s, e, DETAIL_MAX);
                    s.push_str(") to ");
                }
            }
            escaped(&mut s, &f.socket.watched, PATH_MAX);
        }
        Summary::Permissions => {
            escaped(&mut s, f.operation, DETAIL_MAX);
            s.push_str(" of ");
            escaped(&mut s, &f.socket.watched, PATH_MAX);
            permissions(&mut s, f.operation, f.details.as_ref());
            s.push_str(" by ");
            process(&mut s, &f.process);
            whence(&mut s, &f.container);
        }
        Summary::Replaced => {
            escaped(&mut s, &f.socket.watched, PATH_MAX);
            s.push(' ');
            s.push_str(super::socket_file::change(f.operation == "create"));
            s.push_str(" by ");
            process(&mut s, &f.process);
            whence(&mut s, &f.container);
        }
    }
    if f.count > 1 {
        s.push_str(&format!(" ({} times)", f.count));
    }
    if let Some(r) = &f.response {
        response(&mut s, r);
    }
    cut(s, MAX)
}

/// `socat (pid 4242)`, or what of it is known.
fn process(s: &mut String, p: &Process) {
    match (p.comm.as_deref(), p.pid) {
        (Some(comm), pid) => {
            escaped(s, comm, NAME_MAX);
            if let Some(pid) = pid {
                s.push_str(&format!(" (pid {pid})"));
            }
        }
        (None, Some(pid)) => s.push_str(&format!("pid {pid}")),
        (None, None) => s.push_str("an unknown process"),
    }
}

/// Where the process was: ` on the host`, ` in container web-1 (nginx:1.27)`,
/// ` of unknown origin` (not proven to be the host's: reported all the same).
fn whence(s: &mut String, c: &ContainerInfo) {
    if c.is_host() {
        s.push_str(" on the host");
        return;
    }
    match (c.name.as_deref(), c.id.as_deref()) {
        (Some(name), _) => {
            s.push_str(" in container ");
            escaped(s, name, NAME_MAX);
        }
        // A runtime's id is 64 hex digits, shown as `docker ps` does; LXC's and
        // nspawn's is the container's name.
        (None, Some(id)) => {
            s.push_str(" in container ");
            let short = if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                &id[..12]
            } else {
                id
            };
            escaped(s, short, NAME_MAX);
        }
        (None, None) => {
            s.push_str(" of unknown origin");
            return;
        }
    }
    if let Some(image) = c.image.as_deref() {
        s.push_str(" (");
        escaped(s, image, NAME_MAX);
        s.push(')');
    }
}

/// What `--respond` did, as a clause: the action is what an operator acts on
/// first.
fn response(s: &mut String, r: &super::respond::Response) {
    let what = match (r.action, r.result) {
        ("freeze", "frozen" | "freezing") => "; container frozen",
        ("kill", "killed") => "; process killed",
        (_, "gone") => "; the process had already exited",
        ("freeze", "dry_run") => "; would have frozen the container (dry run)",
        ("kill", "dry_run") => "; would have killed the process (dry run)",
        (_, "failed") => "; response FAILED",
        _ => return,
    };
    s.push_str(what);
}

/// What a permission change did, from the finding's details:
/// ` (mode 0660 -> 0666, writable by everyone)`, ` (owner 0:998 -> 1000:998)`,
/// ` (ACL changed, grants write to a named user or group)`.
fn permissions(s: &mut String, operation: &str, details: Option<&serde_json::Value>) {
    let Some(d) = details else { return };
    let (old, new) = (&d["old"], &d["new"]);
    let text = |s: &mut String, v: &serde_json::Value| match v {
        serde_json::Value::String(t) => escaped(s, t, DETAIL_MAX),
        serde_json::Value::Number(n) => escaped(s, &n.to_string(), DETAIL_MAX),
        _ => s.push('?'),
    };
    s.push_str(" (");
    match operation {
        "chown" => {
            s.push_str("owner ");
            for (i, side) in [old, new].into_iter().enumerate() {
                if i == 1 {
                    s.push_str(" -> ");
                }
                text(s, &side["uid"]);
                s.push(':');
                text(s, &side["gid"]);
            }
        }
        "setfacl" => s.push_str("ACL changed"),
        _ => {
            s.push_str("mode ");
            if !old.is_null() {
                text(s, &old["mode"]);
                s.push_str(" -> ");
            }
            text(s, &new["mode"]);
        }
    }
    if d["world_writable"] == true {
        s.push_str(", writable by everyone");
    }
    if d["acl_grants_write"] == true {
        s.push_str(", grants write to a named user or group");
    }
    s.push(')');
}

/// Appends `v` escaped (`escape_line`'s escapes), cut to at most `max` bytes
/// between escaped characters, marked. It stops at `max`: the cost is bounded
/// whatever the length of `v`.
fn escaped(s: &mut String, v: &str, max: usize) {
    let start = s.len();
    let mut buf = [0u8; 4];
    for c in v.chars() {
        // Only what is escaped allocates: a plain character is copied as is.
        let escape;
        let piece: &str = match c {
            '\\' => "\\\\",
            c if needs_escape(c) => {
                escape = escape_char(c);
                &escape
            }
            c => c.encode_utf8(&mut buf),
        };
        if s.len() - start + piece.len() > max {
            s.push_str(CUT);
            return;
        }
        s.push_str(piece);
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, marked.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max - CUT.len();
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str(CUT);
    }
    s
}

/// Makes text safe for a one-line message: control characters, Unicode line
/// and paragraph separators and the invisible format characters (bidi
/// overrides, zero-width ones) become `\u{NNNN}`-style escapes (`\xNN` below
/// U+0100), and backslashes `\\`.
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

#[cfg(test)]
mod tests {
    use super::super::finding::tests::sample;
    use super::super::finding::{ContainerInfo, HOST};
    use super::super::signature::{SOCKET_PERMISSIONS, SOCKET_REPLACED, SOCKET_WORLD_WRITABLE};
    use super::*;

    fn named(mut c: ContainerInfo, name: &str, image: &str) -> ContainerInfo {
        c.id = Some("b".repeat(64));
        c.runtime = "docker".into();
        c.name = Some(name.into());
        c.image = Some(image.into());
        c
    }

    /// Each signature its own words, and where the process was in each form.
    #[test]
    fn each_signature_has_its_own_summary() {
        let base = sample();
        let host = crate::core::finding::container_info(&crate::core::origin::Origin::Host);
        let web = named(base.container.clone(), "web-1", "nginx:1.27");
        let mut unnamed = web.clone();
        (unnamed.name, unnamed.image) = (None, None);
        let chmod = serde_json::json!({"old": {"mode": "0660", "uid": 0, "gid": 998},
            "new": {"mode": "0666", "uid": 0, "gid": 998}, "world_writable": true});
        let chown = serde_json::json!({"old": {"mode": "0660", "uid": 0, "gid": 998},
            "new": {"mode": "0660", "uid": 1000, "gid": 998}, "world_writable": false});
        let acl = serde_json::json!({"old": null, "new": {"mode": "0660", "uid": 0, "gid": 0,
            "acl": ["user:1000:rw-", "mask::rw-"]}, "world_writable": false, "acl_grants_write": true});
        let replaced =
            serde_json::json!({"change": "created or moved into place", "present_now": true});
        type Row<'a> = (
            &'a str,
            &'static crate::core::signature::Signature,
            &'static str,
            Option<serde_json::Value>,
            ContainerInfo,
            Option<&'a str>,
            Option<&'a str>,
            u64,
        );
        #[rustfmt::skip]
        let rows: Vec<(Row, &str)> = vec![
            (("connect, named container, refused", &crate::core::signature::DOCKER_ABUSE, "connect", None, web.clone(), None, Some("ECONNREFUSED"), 1),
                "Docker socket abuse detected: ev\\x0ail\"x (pid 10) in container web-1 (nginx:1.27) tried to connect (ECONNREFUSED) to /run/docker.sock"),
            (("connect, unnamed container, succeeded, folded", &crate::core::signature::DOCKER_ABUSE, "connect", None, unnamed.clone(), Some("socat"), None, 4),
                "Docker socket abuse detected: socat (pid 10) in container bbbbbbbbbbbb connected to /run/docker.sock (4 times)"),
            (("connect, origin unknown", &crate::core::signature::DOCKER_ABUSE, "connect", None, base.container.clone(), Some("socat"), None, 1),
                "Docker socket abuse detected: socat (pid 10) of unknown origin connected to /run/docker.sock"),
            (("chmod to 0666 on the host", &SOCKET_WORLD_WRITABLE, "chmod", Some(chmod), host.clone(), Some("chmod"), None, 1),
                "Runtime socket permissions changed: chmod of /run/docker.sock (mode 0660 -> 0666, writable by everyone) by chmod (pid 10) on the host"),
            (("chown in a container", &SOCKET_PERMISSIONS, "chown", Some(chown), web.clone(), Some("chown"), None, 1),
                "Runtime socket permissions changed: chown of /run/docker.sock (owner 0:998 -> 1000:998) by chown (pid 10) in container web-1 (nginx:1.27)"),
            (("setfacl", &SOCKET_PERMISSIONS, "setfacl", Some(acl), host.clone(), Some("setfacl"), None, 1),
                "Runtime socket permissions changed: setfacl of /run/docker.sock (ACL changed, grants write to a named user or group) by setfacl (pid 10) on the host"),
            (("created on the host", &SOCKET_REPLACED, "create", Some(replaced.clone()), host.clone(), Some("python3"), None, 1),
                "Runtime socket replaced: /run/docker.sock created or moved into place by python3 (pid 10) on the host"),
            (("deleted, origin unknown", &SOCKET_REPLACED, "delete", Some(replaced), base.container.clone(), Some("rm"), None, 1),
                "Runtime socket replaced: /run/docker.sock deleted or moved away by rm (pid 10) of unknown origin"),
        ];
        for ((name, sig, op, details, container, comm, errno, count), want) in rows {
            let mut f = sample();
            (f.signature, f.operation, f.details, f.container, f.count) =
                (sig, op, details, container, count);
            f.outcome.errno = errno.map(Into::into);
            if let Some(c) = comm {
                f.process.comm = Some(c.into());
            }
            assert_eq!(summary(&f), want, "{name}");
        }
        // What of the process is unknown is said so.
        let mut f = sample();
        f.process.comm = None;
        assert!(summary(&f).contains(": pid 10 of unknown origin"), "{}", summary(&f));
        f.process.pid = None;
        assert!(summary(&f).contains(": an unknown process of unknown origin"), "{}", summary(&f));
        assert_eq!(host.runtime, HOST);
    }

    /// Whatever a container puts in its names, the line is one line, bounded,
    /// cut between escapes, and costs no more than its bound.
    #[test]
    fn the_line_is_one_safe_bounded_line() {
        let mut f = sample();
        let nasty: String = "\u{1}\u{202e}\\\n漢".repeat(100_000);
        f.process.comm = Some(nasty.clone());
        f.container = named(f.container, &nasty, &nasty);
        f.socket.watched = nasty.clone();
        f.count = u64::MAX;
        let s = summary(&f);
        assert!(s.len() <= MAX, "{}", s.len());
        assert!(!s.chars().any(needs_escape), "{s:?}");
        // Each piece is cut whole escapes at a time, and says so.
        assert!(s.contains("\\x01\\u{202e}\\\\\\x0a漢\\x01"), "{s}");
        assert!(s.contains("…"), "{s}");
        assert!(s.ends_with(&format!(" ({} times)", u64::MAX)), "{s}");
        for max in 0..24 {
            let mut out = String::new();
            escaped(&mut out, "\u{202e}a\u{1}", max);
            assert!(out.len() <= max + CUT.len(), "{max}: {out}");
            assert!(
                ["", "\\u{202e}", "\\u{202e}a", "\\u{202e}a\\x01"]
                    .iter()
                    .any(|p| out == *p || out == format!("{p}{CUT}")),
                "{max}: {out}"
            );
        }
        assert_eq!(cut("abcdé".into(), 5), "ab…");
        assert_eq!(cut("aééx".into(), 5), "a…", "on a character boundary");
        assert_eq!(cut("abc".into(), 3), "abc");
        assert_eq!(escape_line("a\\b\x7f"), "a\\\\b\\x7f");
        assert_eq!(escape_line("ok\u{202e}txt.exe\u{2028}"), "ok\\u{202e}txt.exe\\u{2028}");
    }
}
