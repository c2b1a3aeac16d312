//! NETLINK_AUDIT: the control channel (status, enable, rules) and the framing both
//! it and the record intake use.
//!
//! Framing is done here rather than by netlink-packet-audit's decoder, because that
//! decoder fails on payloads that are not UTF-8 and trusts `nlmsg_len`, which the
//! kernel writes 16 bytes short on unicast record delivery.

use std::io;
use std::os::fd::AsRawFd;

use netlink_packet_audit::status::{StatusMessage, StatusMessageBuffer};
use netlink_packet_core::{Emitable, Parseable};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_AUDIT};
use nix::sys::socket::{MsgFlags, recv, setsockopt, sockopt};
use nix::sys::time::TimeVal;

pub const AUDIT_GET: u16 = 1000;
pub const AUDIT_SET: u16 = 1001;
pub const AUDIT_ADD_RULE: u16 = 1011;
pub const AUDIT_DEL_RULE: u16 = 1012;
pub const AUDIT_LIST_RULES: u16 = 1013;
pub const AUDIT_STATUS_ENABLED: u32 = 0x0001;
pub const AUDIT_STATUS_BACKLOG_LIMIT: u32 = 0x0010;
pub const AUDIT_STATUS_PID: u32 = 0x0004;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
pub const HEADER_LEN: usize = 16;

/// One netlink message inside a datagram.
pub struct Msg<'a> {
    pub mtype: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Splits a datagram into messages. A length field that is too small or runs past
/// the datagram (the unicast audit quirk) is taken to mean "the rest of it".
pub fn messages(mut buf: &[u8]) -> impl Iterator<Item = Msg<'_>> {
    std::iter::from_fn(move || {
        if buf.len() < HEADER_LEN {
            return None;
        }
        let len = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
        let mtype = u16::from_ne_bytes(buf[4..6].try_into().ok()?);
        let seq = u32::from_ne_bytes(buf[8..12].try_into().ok()?);
        let end = if len < HEADER_LEN || len > buf.len() { buf.len() } else { len };
        let payload = &buf[HEADER_LEN..end];
        let next = (end + 3) & !3;
        buf = if next >= buf.len() { &[] } else { &buf[next..] };
        Some(Msg { mtype, seq, payload })
    })
}

fn header(len: usize, mtype: u16, flags: u16, seq: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&(len as u32).to_ne_bytes());
    v.extend_from_slice(&mtype.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes());
    v
}

pub use crate::core::keeper::Status;

/// A synchronous request/reply channel to the kernel's audit subsystem.
pub struct Control {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Control {
    pub fn open() -> io::Result<Control> {
        let mut sock = Socket::new(NETLINK_AUDIT)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // A kernel that never answers must not hang `rules status` or start-up.
        let tv = TimeVal::new(5, 0);
        setsockopt(&sock, sockopt::ReceiveTimeout, &tv).map_err(io::Error::from)?;
        Ok(Control { sock, seq: 0, buf: vec![0; 1 << 16] })
    }

    fn send(&mut self, mtype: u16, flags: u16, payload: &[u8]) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut msg = header(HEADER_LEN + payload.len(), mtype, NLM_F_REQUEST | flags, self.seq);
        msg.extend_from_slice(payload);
        self.sock.send(&msg, 0)?;
        Ok(self.seq)
    }

    /// Reads replies to `seq` and hands each to `f` until it says it is done.
    /// `f` returns `Some(result)` to stop.
    fn replies<T>(
        &mut self,
        seq: u32,
        mut f: impl FnMut(&Msg<'_>) -> Option<io::Result<T>>,
    ) -> io::Result<T> {
        loop {
            let n = recv(self.sock.as_raw_fd(), &mut self.buf, MsgFlags::empty()).map_err(|e| {
                if e == nix::errno::Errno::EAGAIN {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the kernel did not answer an audit request within 5 s",
                    )
                } else {
                    io::Error::from(e)
                }
            })?;
            for m in messages(&self.buf[..n]) {
                if m.seq != seq {
                    continue;
                }
                if let Some(r) = f(&m) {
                    return r;
                }
            }
        }
    }

    /// Sends a request that only acknowledges: `Ok` or the kernel's errno.
    fn acked(&mut self, mtype: u16, payload: &[u8]) -> io::Result<()> {
        let seq = self.send(mtype, NLM_F_ACK, payload)?;
        self.replies(seq, |m| (m.mtype == NLMSG_ERROR).then(|| ack_result(m.payload)))
    }

    pub fn status(&mut self) -> io::Result<Status> {
        let seq = self.send(AUDIT_GET, 0, &[])?;
        self.replies(seq, |m| match m.mtype {
            AUDIT_GET => Some(parse_status(m.payload)),
            NLMSG_ERROR => match ack_result(m.payload) {
                Ok(()) => None,
                Err(e) => Some(Err(e)),
            },
            _ => None,
        })
    }

    pub fn set_enabled(&mut self, enabled: u32) -> io::Result<()> {
        let mut s = StatusMessage::new();
        s.mask = AUDIT_STATUS_ENABLED;
        s.enabled = enabled;
        self.set(&s)
    }

    /// Gives up the audit daemon registration (pid 0); only the registered
    /// process may.
    pub fn unregister(&mut self) -> io::Result<()> {
        let mut s = StatusMessage::new();
        s.mask = AUDIT_STATUS_PID;
        s.pid = 0;
        self.set(&s)
    }

    pub fn set_backlog_limit(&mut self, limit: u32) -> io::Result<()> {
        let mut s = StatusMessage::new();
        s.mask = AUDIT_STATUS_BACKLOG_LIMIT;
        s.backlog_limit = limit;
        self.set(&s)
    }

    fn set(&mut self, s: &StatusMessage) -> io::Result<()> {
        let mut buf = vec![0; s.buffer_len()];
        s.emit(&mut buf);
        self.acked(AUDIT_SET, &buf)
    }

    /// Adds a rule given as `audit_rule_data` bytes (`core::rules::RuleSpec::add_bytes`).
    pub fn add_rule(&mut self, raw: &[u8]) -> io::Result<()> {
        self.acked(AUDIT_ADD_RULE, raw)
    }

    /// Deletes a rule given as the bytes the kernel keeps it as: others' rules
    /// need not be decodable to be removed.
    pub fn del_rule(&mut self, raw: &[u8]) -> io::Result<()> {
        self.acked(AUDIT_DEL_RULE, raw)
    }

    /// Every loaded rule as the kernel's bytes: decodable by any crate or not
    /// (others' rules may carry fields no crate knows; `core::rule_data` reads
    /// what is needed from the bytes).
    pub fn list_rules(&mut self) -> io::Result<Vec<Vec<u8>>> {
        let seq = self.send(AUDIT_LIST_RULES, 0, &[])?;
        let mut rules = Vec::new();
        self.replies(seq, |m| match m.mtype {
            AUDIT_LIST_RULES => {
                rules.push(m.payload.to_vec());
                None
            }
            NLMSG_DONE => Some(Ok(())),
            NLMSG_ERROR => match ack_result(m.payload) {
                Ok(()) => None,
                Err(e) => Some(Err(e)),
            },
            _ => None,
        })?;
        Ok(rules)
    }
}

fn parse_status(payload: &[u8]) -> io::Result<Status> {
    let s = StatusMessageBuffer::new_checked(payload)
        .and_then(|b| StatusMessage::parse(&b))
        .map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("malformed AUDIT_GET reply: {e}"))
        })?;
    Ok(Status {
        enabled: s.enabled,
        pid: s.pid,
        lost: s.lost,
        backlog: s.backlog,
        backlog_limit: s.backlog_limit,
        backlog_wait_time: s.backlog_wait_time,
        failure: s.failure,
    })
}

fn ack_result(payload: &[u8]) -> io::Result<()> {
    let code = payload.get(0..4).map(|b| i32::from_ne_bytes(b.try_into().unwrap())).unwrap_or(0);
    if code == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-code)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_handles_short_and_long_lengths() {
        let mut d = header(16 + 5, 1300, 0, 7);
        d.extend_from_slice(b"hello");
        d.extend_from_slice(&[0, 0, 0]);
        let mut second = header(16 + 2, 1320, 0, 8);
        second.extend_from_slice(b"ok");
        d.extend_from_slice(&second);
        let v: Vec<_> = messages(&d).map(|m| (m.mtype, m.seq, m.payload.to_vec())).collect();
        assert_eq!(v, vec![(1300, 7, b"hello".to_vec()), (1320, 8, b"ok".to_vec())]);

        // Unicast quirk: nlmsg_len leaves out the header.
        let mut q = header(5, 1300, 0, 1);
        q.extend_from_slice(b"hello");
        let v: Vec<_> = messages(&q).map(|m| m.payload.to_vec()).collect();
        assert_eq!(v, vec![b"hello".to_vec()]);

        // Length past the end of the datagram: take what is there.
        let mut t = header(4096, 1300, 0, 1);
        t.extend_from_slice(b"trunc");
        assert_eq!(messages(&t).next().unwrap().payload, b"trunc");
        assert_eq!(messages(&[1, 2, 3]).count(), 0);
    }
}
