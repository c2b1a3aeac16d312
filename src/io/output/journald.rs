//! The systemd journal's native protocol: one datagram of fields to
//! /run/systemd/journal/socket; an entry too big for a datagram goes in a sealed
//! memfd passed with SCM_RIGHTS. A value holding a newline uses the protocol's
//! binary form (name, newline, 64-bit little-endian length, bytes), so no byte in
//! a container-controlled string can start a field of its own.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};

use super::text::{exact, priority, summary};
use crate::core::finding::Finding;

pub const SOCKET: &str = "/run/systemd/journal/socket";
/// MESSAGE_ID of every TRC-1019 finding (see packaging/sockwatch.catalog).
pub const MESSAGE_ID: &str = "33a7ba8e4bf9478b9a8a16e90c3ca0fa";
/// MESSAGE_ID of sockwatch's health events.
pub const HEALTH_MESSAGE_ID: &str = "c5f7e0a2b7f94c1c9a3d1e6b8f2d4a90";

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
    field(&mut b, "MESSAGE", summary(f).as_bytes());
    field(&mut b, "MESSAGE_ID", MESSAGE_ID.as_bytes());
    field(&mut b, "PRIORITY", priority(f.signature.severity).to_string().as_bytes());
    field(&mut b, "SYSLOG_IDENTIFIER", b"sockwatch");
    field(&mut b, "SIGNATURE_ID", f.signature.id.as_bytes());
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
    field(&mut b, "SOCKWATCH_JSON", line.strip_suffix(b"\n").unwrap_or(line));
    b
}

/// A health event's fields: its own MESSAGE_ID, a priority from its level, and
/// HEALTH_EVENT naming what happened.
pub fn health_entry(h: &crate::core::health::Health, line: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(512 + line.len());
    field(&mut b, "MESSAGE", super::text::escape_line(&h.message).as_bytes());
    field(&mut b, "MESSAGE_ID", HEALTH_MESSAGE_ID.as_bytes());
    field(&mut b, "PRIORITY", h.level.priority().to_string().as_bytes());
    field(&mut b, "SYSLOG_IDENTIFIER", b"sockwatch");
    field(&mut b, "HEALTH_EVENT", h.event.name().as_bytes());
    field(&mut b, "SOCKWATCH_JSON", line.strip_suffix(b"\n").unwrap_or(line));
    b
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
        assert_eq!(all("SOCKWATCH_JSON")[0], line);
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
