//! The kernel's process connector (NETLINK_CONNECTOR, cn_proc): every fork and
//! exit on the host, so that the attribution can still climb the process tree of
//! a client that connected and exited before /proc could be read. Needs
//! CAP_NET_ADMIN; without it sockwatch runs on, with /proc and the audit record's
//! ppid alone.
//!
//! Since Linux 6.6 a listener may name the events it wants; sockwatch asks for
//! fork, exec and exit only (no uid, gid, sid, comm, ptrace or coredump
//! events). Older kernels ignore the request and send every event.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use netlink_sys::{Socket, SocketAddr};
use nix::errno::Errno;
use nix::sys::socket::{setsockopt, sockopt};

use super::mmsg::Batch;
use crate::core::lineage::{ProcEvent, parse_proc_event};

const NETLINK_CONNECTOR: isize = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const NLMSG_DONE: u16 = 3;
/// The events sockwatch follows (enum proc_cn_event): fork, exec, exit.
const WANTED: u32 = 0x1 | 0x2 | 0x8000_0000;
/// nlmsghdr (16) + cn_msg (20).
const HEADERS: usize = 36;
/// A proc_event is 40 bytes today; room for it to grow.
const DATAGRAM: usize = 256;
/// Events taken per recvmmsg(2): a host forking fast queues hundreds between reads.
const BATCH: usize = 64;

pub struct ProcEvents {
    sock: Socket,
    batch: Batch<BATCH>,
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
        // Every kernel takes the 4-byte request (all events); since 6.6 an
        // 8-byte one (proc_input) sets the filter, and older kernels ignore it.
        sock.send_to(&listen(&[PROC_CN_MCAST_LISTEN]), &SocketAddr::new(0, 0), 0)?;
        sock.send_to(&listen(&[PROC_CN_MCAST_LISTEN, WANTED]), &SocketAddr::new(0, 0), 0)?;
        sock.set_non_blocking(true)?;
        Ok(ProcEvents { sock, batch: Batch::new(DATAGRAM, true) })
    }

    /// The next event, or `None` when nothing more is queued. Only messages from
    /// the kernel (netlink port 0) on the proc connector's channel are read.
    pub fn read(&mut self) -> io::Result<Option<Read>> {
        loop {
            if let Some(i) = self.batch.advance() {
                let (b, from) = self.batch.get(i);
                let word =
                    |o: usize| b.get(o..o + 4).map(|s| u32::from_ne_bytes(s.try_into().unwrap()));
                let mtype = b.get(4..6).map(|s| u16::from_ne_bytes(s.try_into().unwrap()));
                if from != 0
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
            match self.batch.fill(self.sock.as_raw_fd()) {
                Ok(0) | Err(Errno::EAGAIN) => return Ok(None),
                Ok(_) | Err(Errno::EINTR) => {}
                Err(Errno::ENOBUFS) => return Ok(Some(Read::Lost)),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A connector message to the proc connector carrying `words`.
fn listen(words: &[u32]) -> Vec<u8> {
    let len = HEADERS + 4 * words.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
    msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&std::process::id().to_ne_bytes());
    for w in [CN_IDX_PROC, CN_VAL_PROC, 0, 0] {
        msg.extend_from_slice(&w.to_ne_bytes());
    }
    msg.extend_from_slice(&((4 * words.len()) as u16).to_ne_bytes()); // len
    msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
    for w in words {
        msg.extend_from_slice(&w.to_ne_bytes());
    }
    msg
}

impl AsRawFd for ProcEvents {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
