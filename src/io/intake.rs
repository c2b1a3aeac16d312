//! The record intake: a non-blocking NETLINK_AUDIT socket joined to the read-only
//! multicast group, so sockwatch can live beside auditd without taking its place.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use netlink_sys::{Socket, protocols::NETLINK_AUDIT};
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, recv, setsockopt, sockopt};

use super::mmsg::Batch;
use super::netlink::HEADER_LEN;

/// AUDIT_NLGRP_READLOG.
const AUDIT_NLGRP_READLOG: u32 = 1;
/// Large enough to ride out a burst of tens of thousands of records while the loop
/// is busy; SO_RCVBUFFORCE lets root exceed rmem_max.
const RCVBUF: usize = 32 << 20;
/// The kernel's MAX_AUDIT_MESSAGE_LENGTH is 8970; leave room.
const DATAGRAM: usize = 16 << 10;

/// Datagrams taken per recvmmsg(2). One record is one datagram, and a connect is
/// six records: one recv each was a third of sockwatch's time under load.
const BATCH: usize = 64;

pub struct Intake {
    sock: Socket,
    batch: Batch<BATCH>,
    /// Registered as the audit daemon (unicast): given back when dropped, from
    /// this socket, before it closes, whatever path led here.
    registered: bool,
}

pub enum Read<'a> {
    /// One record: its type and payload (the `audit(...): ...` text).
    Record(u16, &'a [u8]),
    /// The socket overflowed and the kernel dropped records for us.
    Lost,
}

impl Intake {
    /// Multicast (the default): a read-only copy of every record, beside whatever
    /// audit daemon there is.
    pub fn open() -> io::Result<Intake> {
        let mut sock = Socket::new(NETLINK_AUDIT)?;
        sock.bind_auto()?;
        sock.add_membership(AUDIT_NLGRP_READLOG).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot join the audit multicast group: {e} (sockwatch needs root, or CAP_AUDIT_READ)"),
            )
        })?;
        Intake::finish(sock, false)
    }

    /// Unicast (`--audit-mode unicast`): registers this process as the audit
    /// daemon, so the kernel sends the records here (and stops printing them to
    /// the kernel log), holding them when the socket is full instead of dropping
    /// them. Refused when another daemon is registered. The registration is made
    /// from this very socket: the kernel sends to the port that asked.
    pub fn open_unicast() -> io::Result<Intake> {
        use netlink_packet_audit::status::StatusMessage;
        use netlink_packet_core::Emitable;
        let mut sock = Socket::new(NETLINK_AUDIT)?;
        sock.bind_auto()?;
        sock.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        setsockopt(&sock, sockopt::ReceiveTimeout, &nix::sys::time::TimeVal::new(5, 0))
            .map_err(io::Error::from)?;
        let mut status = StatusMessage::new();
        status.mask = super::netlink::AUDIT_STATUS_PID;
        status.pid = std::process::id();
        let mut payload = vec![0; status.buffer_len()];
        status.emit(&mut payload);
        let mut msg = Vec::with_capacity(HEADER_LEN + payload.len());
        msg.extend_from_slice(&((HEADER_LEN + payload.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&super::netlink::AUDIT_SET.to_ne_bytes());
        msg.extend_from_slice(&(1u16 | 4u16).to_ne_bytes()); // NLM_F_REQUEST | NLM_F_ACK
        msg.extend_from_slice(&1u32.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&payload);
        sock.send(&msg, 0)?;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(io::Error::from)?;
            if let Some(m) =
                super::netlink::messages(&buf[..n]).find(|m| m.mtype == 2 && m.seq == 1)
            {
                let code =
                    m.payload.get(0..4).map_or(0, |b| i32::from_ne_bytes(b.try_into().unwrap()));
                if code == -(Errno::EEXIST as i32) {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "another audit daemon is registered (auditd?): --audit-mode unicast needs the audit pid; use the default multicast mode beside it",
                    ));
                }
                if code != 0 {
                    return Err(io::Error::from_raw_os_error(-code));
                }
                break;
            }
        }
        Intake::finish(sock, true)
    }

    fn finish(sock: Socket, registered: bool) -> io::Result<Intake> {
        sock.set_non_blocking(true)?;
        if let Err(e) = setsockopt(&sock, sockopt::RcvBufForce, &RCVBUF) {
            crate::debug!(
                "SO_RCVBUFFORCE refused ({e}; it needs CAP_NET_ADMIN): the buffer is capped by net.core.rmem_max"
            );
            let _ = setsockopt(&sock, sockopt::RcvBuf, &RCVBUF);
        }
        // The kernel reports twice what it grants (it counts its bookkeeping).
        let got = nix::sys::socket::getsockopt(&sock, sockopt::RcvBuf).unwrap_or(0) / 2;
        if got < RCVBUF {
            crate::warn!(
                "audit receive buffer is {got} bytes, not {RCVBUF}: bursts may overflow it (ENOBUFS)"
            );
        } else {
            crate::debug!("audit receive buffer: {got} bytes");
        }
        Ok(Intake { sock, batch: Batch::new(DATAGRAM, false), registered })
    }

    /// Reads one datagram. `Ok(None)` when there is nothing more to read now.
    pub fn read(&mut self) -> io::Result<Option<Read<'_>>> {
        loop {
            if let Some(i) = self.batch.advance() {
                // The type is read before the payload is borrowed for returning:
                // a datagram skipped here must not hold the batch.
                let mtype = match self.batch.get(i).0 {
                    d if d.len() < HEADER_LEN => None,
                    d => Some(u16::from_ne_bytes([d[4], d[5]])),
                };
                match mtype {
                    None => return Ok(Some(Read::Record(0, &[]))),
                    // Netlink's own messages (an ack, say) are not records.
                    Some(t) if t < 16 => continue,
                    // One record a datagram; nlmsg_len is not trusted (see netlink.rs).
                    Some(t) => {
                        return Ok(Some(Read::Record(t, &self.batch.get(i).0[HEADER_LEN..])));
                    }
                }
            }
            match self.batch.fill(self.sock.as_raw_fd()) {
                Ok(0) | Err(Errno::EAGAIN) => return Ok(None),
                Ok(_) => {}
                Err(Errno::EINTR) => {}
                Err(Errno::ENOBUFS) => return Ok(Some(Read::Lost)),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        if self.registered {
            match super::netlink::Control::open().and_then(|mut c| c.unregister()) {
                Ok(()) => crate::info!("gave back the audit daemon registration"),
                Err(e) => crate::error!("cannot give back the audit daemon registration: {e}"),
            }
        }
    }
}

impl AsRawFd for Intake {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
