//! The systemd journal's native protocol: one datagram of fields to
//! /run/systemd/journal/socket; an entry too big for a datagram goes in a sealed
//! memfd passed with SCM_RIGHTS. A value holding a newline uses the protocol's
//! binary form (name, newline, 64-bit little-endian length, bytes), so no byte in
//! a container-controlled string can start a field of its own.
//!
//! Each signature has its own MESSAGE_ID (`Signature::message_id`) and health
//! events theirs (`core::health::MESSAGE_ID`): packaging/sockwatch.catalog
//! explains each, so `journalctl -x` says what happened, why it matters and
//! what to do, with the entry's fields filled in.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};

use crate::core::finding::Finding;
use crate::core::health::MESSAGE_ID as HEALTH_MESSAGE_ID;
use crate::core::message::escape_line;
use crate::core::record::decode_hex;

pub const SOCKET: &str = "/run/systemd/journal/socket";

pub struct Journald {
    path: PathBuf,
    sock: UnixDatagram,
}

impl Journald {
    pub fn new(path: PathBuf) -> io::Result<Journald> {
        // An unbound datagram socket, addressed per send: journald may restart.
        // Non-blocking: a stalled journald must not stall the event loop; a full
        // queue is an error the caller retries.
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        Ok(Journald { path, sock })
    }

    fn send_memfd(&self, payload: &[u8]) -> io::Result<()> {
        use nix::fcntl::{FcntlArg, SealFlag, fcntl};
        use nix::sys::memfd::{MFdFlags, memfd_create};
        let fd = memfd_create(
            c"sockwatch-journal",
            MFdFlags::MFD_ALLOW_SEALING | MFdFlags::MFD_CLOEXEC,
        )?;
        let mut file = std::fs::File::from(fd);
        file.write_all(payload)?;
        let seals = SealFlag::F_SEAL_SHRINK
            | SealFlag::F_SEAL_GROW
            | SealFlag::F_SEAL_WRITE
            | SealFlag::F_SEAL_SEAL;
        fcntl(&file, FcntlArg::F_ADD_SEALS(seals))?;
        let addr = UnixAddr::new(&self.path)?;
        let fds = [file.as_raw_fd()];
        sendmsg(
            self.sock.as_raw_fd(),
            &[],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            Some(&addr),
        )?;
        Ok(())
    }
}

impl super::Sink for Journald {
    fn write(&mut self, r: &super::Report, line: &[u8]) -> io::Result<()> {
        let payload = match r {
            super::Report::Finding(f) => entry(f, line),
            super::Report::Health(h) => health_entry(h, line),
        };
        match self.sock.send_to(&payload, &self.path) {
            Ok(_) => Ok(()),
            // Too big for a datagram (as systemd's own client does for both).
            Err(e)
                if matches!(
                    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                    nix::errno::Errno::EMSGSIZE | nix::errno::Errno::ENOBUFS
                ) =>
            {
                self.send_memfd(&payload)
            }
            Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", self.path.display()))),
        }
    }
}

/// The entry's fields, in the native protocol.
pub fn entry(f: &Finding, line: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(1024 + line.len());
    let p = &f.process;
    let c = &f.container;
    field(&mut b, "MESSAGE", f.message.as_bytes());
    field(&mut b, "MESSAGE_ID", f.signature.message_id.as_bytes());
    field(&mut b, "PRIORITY", f.signature.priority().syslog.to_string().as_bytes());
    field(&mut b, "SYSLOG_IDENTIFIER", b"sockwatch");
    field(&mut b, "SIGNATURE_ID", f.signature.id.as_bytes());
    field(&mut b, "OPERATION", f.operation.as_bytes());
    opt(&mut b, "CONTAINER_ID", c.id.as_deref().map(str::as_bytes));
    opt(&mut b, "CONTAINER_NAME", c.name.as_deref().map(str::as_bytes));
    opt(&mut b, "CONTAINER_IMAGE", c.image.as_deref().map(str::as_bytes));
    field(&mut b, "CONTAINER_RUNTIME", c.runtime.as_bytes());
    opt(&mut b, "PROCESS_PID", p.pid.map(|v| v.to_string()).as_deref().map(str::as_bytes));
    opt(&mut b, "PROCESS_EXE", exact(p.exe.as_deref(), p.exe_hex.as_deref()).as_deref());
    opt(&mut b, "PROCESS_COMM", exact(p.comm.as_deref(), p.comm_hex.as_deref()).as_deref());
    opt(
        &mut b,
        "SOCKET_PATH",
        exact(Some(&f.socket.path), f.socket.path_hex.as_deref()).as_deref(),
    );
    field(&mut b, "SOCKET_WATCHED", f.socket.watched.as_bytes());
    let outcome = f.outcome.errno.clone().unwrap_or_else(|| "success".into());
    field(&mut b, "OUTCOME", outcome.as_bytes());
    opt(
        &mut b,
        "AUDIT_SERIAL",
        f.audit.as_ref().map(|a| a.serial.to_string()).as_deref().map(str::as_bytes),
    );
    field(&mut b, "COUNT", f.count.to_string().as_bytes());
    if let Some(r) = &f.response {
        field(&mut b, "RESPONSE_ACTION", r.action.as_bytes());
        field(&mut b, "RESPONSE_RESULT", r.result.as_bytes());
    }
    field(&mut b, "SOCKWATCH_JSON", line.strip_suffix(b"\n").unwrap_or(line));
    b
}

/// A health event's fields: its own MESSAGE_ID, a priority from its level, and
/// HEALTH_EVENT naming what happened.
pub fn health_entry(h: &crate::core::health::Health, line: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(512 + line.len());
    field(&mut b, "MESSAGE", escape_line(&h.message).as_bytes());
    field(&mut b, "MESSAGE_ID", HEALTH_MESSAGE_ID.as_bytes());
    field(&mut b, "PRIORITY", h.level.priority().to_string().as_bytes());
    field(&mut b, "SYSLOG_IDENTIFIER", b"sockwatch");
    field(&mut b, "HEALTH_EVENT", h.event.name().as_bytes());
    field(&mut b, "SOCKWATCH_JSON", line.strip_suffix(b"\n").unwrap_or(line));
    b
}

/// A string field's exact bytes: the `_hex` sibling when the text is not UTF-8.
fn exact(text: Option<&str>, hex: Option<&str>) -> Option<Vec<u8>> {
    match hex.and_then(|h| decode_hex(h.as_bytes())) {
        Some(b) => Some(b),
        None => text.map(|t| t.as_bytes().to_vec()),
    }
}

fn opt(b: &mut Vec<u8>, name: &str, value: Option<&[u8]>) {
    if let Some(v) = value {
        field(b, name, v);
    }
}

fn field(b: &mut Vec<u8>, name: &str, value: &[u8]) {
    b.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        b.push(b'\n');
        b.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        b.push(b'=');
    }
    b.extend_from_slice(value);
    b.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::super::Sink;
    use super::*;

    /// Decodes the native protocol as journald does.
    fn decode(mut b: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let nl = b.iter().position(|&c| c == b'\n').unwrap();
            let head = &b[..nl];
            if let Some(eq) = head.iter().position(|&c| c == b'=') {
                out.push((
                    String::from_utf8(head[..eq].to_vec()).unwrap(),
                    head[eq + 1..].to_vec(),
                ));
                b = &b[nl + 1..];
            } else {
                let len = u64::from_le_bytes(b[nl + 1..nl + 9].try_into().unwrap()) as usize;
                out.push((
                    String::from_utf8(head.to_vec()).unwrap(),
                    b[nl + 9..nl + 9 + len].to_vec(),
                ));
                assert_eq!(b[nl + 9 + len], b'\n');
                b = &b[nl + 10 + len..];
            }
        }
        out
    }

    #[test]
    fn injected_newlines_cannot_forge_fields() {
        let mut f = crate::core::finding::tests::sample();
        f.container.id = Some("a".repeat(64));
        f.process.comm = Some("x\nCONTAINER_ID=forged".into());
        f.process.exe = Some("/tmp/x\nCONTAINER_ID=forged".into());
        f.process.exe_hex = None;
        f.summarize();
        let line = serde_json::to_vec(&f).unwrap();
        let fields = decode(&entry(&f, &line));
        let all = |k: &str| {
            fields.iter().filter(|(n, _)| n == k).map(|(_, v)| v.clone()).collect::<Vec<_>>()
        };
        assert_eq!(all("CONTAINER_ID"), [b"a".repeat(64)]);
        assert_eq!(all("PROCESS_EXE"), [b"/tmp/x\nCONTAINER_ID=forged".to_vec()]);
        assert_eq!(all("PROCESS_COMM"), [b"x\nCONTAINER_ID=forged".to_vec()]);
        assert_eq!(all("PRIORITY"), [b"4".to_vec()]);
        assert_eq!(all("OUTCOME"), [b"ECONNREFUSED".to_vec()]);
        assert!(!all("MESSAGE")[0].contains(&b'\n'));
        assert_eq!(all("MESSAGE"), [f.message.as_bytes().to_vec()], "the JSON's message");
        assert_eq!(all("SOCKWATCH_JSON")[0], line);
    }

    /// The catalog's entries, `-- ID` then text up to the next: (id, text).
    fn catalog() -> Vec<(String, String)> {
        let text =
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/sockwatch.catalog"));
        let mut entries: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("-- ") {
                entries.push((id.trim().to_string(), String::new()));
            } else if let Some((_, body)) = entries.last_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        entries
    }

    /// The `@FIELD@` names a catalog text substitutes.
    fn substituted(text: &str) -> Vec<&str> {
        text.split('@')
            .skip(1)
            .step_by(2)
            .filter(|n| {
                !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .collect()
    }

    /// Every MESSAGE_ID sockwatch sends has its own catalog entry, and every
    /// entry is one it sends; each entry substitutes only fields its journal
    /// entries always carry (journalctl prints a missing one's name instead),
    /// checked on the barest finding of each signature: origin unknown, no pid,
    /// comm or exe (what a process gone at once, or a kernel that hides it, leaves).
    #[test]
    fn each_message_id_has_a_catalog_entry_with_fields_its_entries_carry() {
        use crate::core::signature::ALL;
        let entries = catalog();
        let ids: Vec<&str> = entries.iter().map(|(id, _)| id.as_str()).collect();
        let mut sent: Vec<&str> = ALL.iter().map(|s| s.message_id).collect();
        sent.push(HEALTH_MESSAGE_ID);
        sent.sort_unstable();
        sent.dedup();
        let mut listed = ids.clone();
        listed.sort_unstable();
        assert_eq!(listed, sent, "one catalog entry per MESSAGE_ID, none missing, none stale");
        let text_of =
            |id: &str| entries.iter().find(|(i, _)| i == id).map(|(_, t)| t.clone()).unwrap();
        for sig in ALL {
            let text = text_of(sig.message_id);
            assert!(text.contains(&format!("signature {}", sig.id)), "the entry names {}", sig.id);
            let mut f = crate::core::finding::tests::sample();
            f.signature = sig;
            (f.process.pid, f.process.comm, f.process.exe, f.process.exe_hex) =
                (None, None, None, None);
            f.audit = if sig.id == "TRC-1019" { f.audit } else { None };
            let line = serde_json::to_vec(&f).unwrap();
            let names: Vec<String> =
                decode(&entry(&f, &line)).into_iter().map(|(n, _)| n).collect();
            for want in substituted(&text) {
                assert!(
                    names.iter().any(|n| n == want),
                    "{}'s catalog entry uses @{want}@, which its entries may lack: {names:?}",
                    sig.id
                );
            }
            assert!(text.lines().any(|l| l.starts_with("Subject: ")), "{}", sig.id);
        }
        let h = crate::core::health::Health::new(
            "t".into(),
            crate::core::health::Event::AuditDisabled,
            crate::core::health::Level::Warning,
            "m".into(),
            "h",
        );
        let names: Vec<String> =
            decode(&health_entry(&h, b"{}\n")).into_iter().map(|(n, _)| n).collect();
        for want in substituted(&text_of(HEALTH_MESSAGE_ID)) {
            assert!(
                names.iter().any(|n| n == want),
                "health's catalog entry uses @{want}@: {names:?}"
            );
        }
    }

    /// Each signature's entry has its own MESSAGE_ID, summary and priority.
    #[test]
    fn each_signature_is_its_own_entry() {
        use crate::core::signature::{
            DOCKER_ABUSE, SOCKET_PERMISSIONS, SOCKET_REPLACED, SOCKET_WORLD_WRITABLE,
        };
        let get = |f: &Finding, k: &str| {
            let line = serde_json::to_vec(f).unwrap();
            decode(&entry(f, &line))
                .into_iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| String::from_utf8(v).unwrap())
                .unwrap()
        };
        #[rustfmt::skip]
        let rows = [
            (&DOCKER_ABUSE, "connect", "33a7ba8e4bf9478b9a8a16e90c3ca0fa", "4", "Docker socket abuse detected: "),
            (&SOCKET_PERMISSIONS, "chmod", "926b6fdb4ed14199a6361df540002200", "4", "Runtime socket permissions changed: chmod of "),
            (&SOCKET_WORLD_WRITABLE, "chmod", "926b6fdb4ed14199a6361df540002200", "3", "Runtime socket permissions changed: chmod of "),
            (&SOCKET_REPLACED, "delete", "c70ad51e2cec49b081004934b5b5da06", "3", "Runtime socket replaced: /run/docker.sock deleted"),
        ];
        for (sig, op, id, prio, start) in rows {
            let mut f = crate::core::finding::tests::sample();
            (f.signature, f.operation) = (sig, op);
            f.container = crate::core::finding::container_info(&crate::core::origin::Origin::Host);
            f.summarize();
            assert_eq!(get(&f, "MESSAGE_ID"), id, "{}", sig.id);
            assert_eq!(get(&f, "PRIORITY"), prio, "{}", sig.id);
            assert_eq!(get(&f, "OPERATION"), op, "{}", sig.id);
            assert!(get(&f, "MESSAGE").starts_with(start), "{}: {}", sig.id, get(&f, "MESSAGE"));
            for k in ["CONTAINER_ID", "CONTAINER_NAME", "CONTAINER_RUNTIME"] {
                assert_eq!(get(&f, k), "host", "{}: {k}", sig.id);
            }
        }
    }

    #[test]
    fn health_events_have_their_own_id_and_priority() {
        let h = crate::core::health::Health::new(
            "t".into(),
            crate::core::health::Event::RulesRestored,
            crate::core::health::Level::Warning,
            "rules\nback".into(),
            "h",
        );
        let line = serde_json::to_vec(&h).unwrap();
        let fields = decode(&health_entry(&h, &line));
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get("MESSAGE_ID"), HEALTH_MESSAGE_ID.as_bytes());
        assert_eq!(get("PRIORITY"), b"4");
        assert_eq!(get("HEALTH_EVENT"), b"rules_restored");
        assert_eq!(get("MESSAGE"), b"rules\\x0aback");
        assert!(fields.iter().all(|(n, _)| n != "SIGNATURE_ID"), "never a finding");
    }

    #[test]
    fn large_entries_go_in_a_sealed_memfd() {
        let dir = std::env::temp_dir().join(format!("sockwatch-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("socket");
        let rx = UnixDatagram::bind(&path).unwrap();
        let mut j = Journald::new(path.clone()).unwrap();
        let mut f = crate::core::finding::tests::sample();
        f.process.cmdline = vec!["y".repeat(512 * 1024)];
        let line = serde_json::to_vec(&f).unwrap();
        j.write(&super::super::Report::Finding(Box::new(f.clone())), &line).unwrap();
        // The datagram is empty and carries one fd: a sealed memfd with the entry.
        let mut buf = [0u8; 16];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = nix::sys::socket::recvmsg::<()>(
            rx.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        assert_eq!(msg.bytes, 0);
        let fd = msg
            .cmsgs()
            .unwrap()
            .find_map(|c| match c {
                nix::sys::socket::ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
            .unwrap();
        let content = std::fs::read(format!("/proc/self/fd/{fd}")).unwrap();
        assert_eq!(content, entry(&f, &line));
        nix::unistd::close(fd).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
