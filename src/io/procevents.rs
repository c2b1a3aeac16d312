//! The kernel's process connector (NETLINK_CONNECTOR, cn_proc): every fork and
//! exit on the host, so that the attribution can still climb the process tree of
//! a client that connected and exited before /proc could be read. Needs
//! CAP_NET_ADMIN; without it sockwatch runs on, with /proc and the audit record's
//! ppid alone.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use netlink_sys::{Socket, SocketAddr};
use nix::errno::Errno;
use nix::sys::socket::{NetlinkAddr, recvfrom, setsockopt, sockopt};

use crate::core::lineage::{ProcEvent, parse_proc_event};

const NETLINK_CONNECTOR: isize = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const NLMSG_DONE: u16 = 3;
/// nlmsghdr (16) + cn_msg (20).
const HEADERS: usize = 36;

pub struct ProcEvents {
    sock: Socket,
    buf: Vec<u8>,
}

pub enum Read {
    Event(ProcEvent),
    Lost,
}

impl ProcEvents {
    pub fn open() -> io::Result<ProcEvents> {
        let mut sock = Socket::new(NETLINK_CONNECTOR)?;
        sock.bind(&SocketAddr::new(0, CN_IDX_PROC))?;
        // Forks come in storms (a build, a container start); keep a deep queue.
        if setsockopt(&sock, sockopt::RcvBufForce, &(8usize << 20)).is_err() {
            let _ = setsockopt(&sock, sockopt::RcvBuf, &(8usize << 20));
        }
        let mut msg = Vec::with_capacity(HEADERS + 4);
        msg.extend_from_slice(&((HEADERS + 4) as u32).to_ne_bytes());
        msg.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&std::process::id().to_ne_bytes());
        for w in [CN_IDX_PROC, CN_VAL_PROC, 0, 0] {
            msg.extend_from_slice(&w.to_ne_bytes());
        }
        msg.extend_from_slice(&4u16.to_ne_bytes()); // len
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
        sock.send_to(&msg, &SocketAddr::new(0, 0), 0)?;
        sock.set_non_blocking(true)?;
        Ok(ProcEvents { sock, buf: vec![0; 4096] })
    }

    /// The next event, or `None` when nothing more is queued. Only messages from
    /// the kernel (netlink port 0) on the proc connector's channel are read.
    pub fn read(&mut self) -> io::Result<Option<Read>> {
        loop {
            match recvfrom::<NetlinkAddr>(self.sock.as_raw_fd(), &mut self.buf) {
                Ok((n, from)) => {
                    let b = &self.buf[..n];
                    let word = |o: usize| {
                        b.get(o..o + 4).map(|s| u32::from_ne_bytes(s.try_into().unwrap()))
                    };
                    let from_kernel = from.is_some_and(|a| a.pid() == 0);
                    let mtype = b.get(4..6).map(|s| u16::from_ne_bytes(s.try_into().unwrap()));
                    if !from_kernel
                        || mtype != Some(NLMSG_DONE)
                        || word(16) != Some(CN_IDX_PROC)
                        || word(20) != Some(CN_VAL_PROC)
                    {
                        continue;
                    }
                    match b.get(HEADERS..).and_then(parse_proc_event) {
                        Some(ev) => return Ok(Some(Read::Event(ev))),
                        None => continue,
                    }
                }
                Err(Errno::EAGAIN) => return Ok(None),
                Err(Errno::EINTR) => continue,
                Err(Errno::ENOBUFS) => return Ok(Some(Read::Lost)),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsRawFd for ProcEvents {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
