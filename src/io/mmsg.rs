//! Datagrams taken many at a time with recvmmsg(2), for the two netlink sources
//! whose messages come one per datagram (audit records, process events): one
//! system call per batch instead of one per message, with each datagram's
//! sender kept so a source can refuse what did not come from the kernel.

use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::libc;

pub struct Batch<const N: usize> {
    /// N slots of `slot` bytes; `lens[i]` is what slot i holds, and slots
    /// `next..count` are still to be handed out.
    buf: Vec<u8>,
    slot: usize,
    lens: [usize; N],
    /// The netlink port each datagram came from (0: the kernel), when asked
    /// for: the kernel's copy of the address costs per datagram.
    from: [u32; N],
    senders: bool,
    count: usize,
    next: usize,
}

impl<const N: usize> Batch<N> {
    /// `senders`: whether to learn each datagram's sender (else `get` says
    /// `u32::MAX`).
    pub fn new(slot: usize, senders: bool) -> Batch<N> {
        Batch {
            buf: vec![0; slot * N],
            slot,
            lens: [0; N],
            from: [u32::MAX; N],
            senders,
            count: 0,
            next: 0,
        }
    }

    /// The index of the next datagram of the last batch; `None` once all were
    /// handed out. (An index rather than the bytes, so that a reader may skip a
    /// datagram and return the next one's bytes from the same loop.)
    pub fn advance(&mut self) -> Option<usize> {
        (self.next < self.count).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    /// Datagram `i` of the last batch and the port it came from.
    pub fn get(&self, i: usize) -> (&[u8], u32) {
        let start = i * self.slot;
        (&self.buf[start..start + self.lens[i].min(self.slot)], self.from[i])
    }

    /// Takes up to N datagrams that are waiting, without blocking. A datagram
    /// longer than a slot is cut to the slot (MSG_TRUNC is not asked for).
    pub fn fill(&mut self, fd: RawFd) -> Result<usize, Errno> {
        let base = self.buf.as_mut_ptr();
        // SAFETY: slot i starts i * slot bytes into `self.buf`, which holds N slots.
        let mut iovs: [libc::iovec; N] = std::array::from_fn(|i| libc::iovec {
            iov_base: unsafe { base.add(i * self.slot) }.cast(),
            iov_len: self.slot,
        });
        // SAFETY: all-zero is a valid sockaddr_nl and a valid mmsghdr (null
        // pointers, zero lengths).
        let mut addrs: [libc::sockaddr_nl; N] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; N] = unsafe { std::mem::zeroed() };
        for ((h, iov), a) in hdrs.iter_mut().zip(iovs.iter_mut()).zip(addrs.iter_mut()) {
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            if self.senders {
                h.msg_hdr.msg_name = (a as *mut libc::sockaddr_nl).cast();
                h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_nl>() as u32;
            }
        }
        // SAFETY: each header points at one iovec over its own slot of
        // `self.buf` and at its own sockaddr_nl, all alive for the call.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                N as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let n = Errno::result(r)? as usize;
        for i in 0..n {
            self.lens[i] = hdrs[i].msg_len as usize;
            // A datagram without a netlink address is not from the kernel.
            self.from[i] = if self.senders
                && hdrs[i].msg_hdr.msg_namelen as usize >= std::mem::size_of::<libc::sockaddr_nl>()
            {
                addrs[i].nl_pid
            } else {
                u32::MAX
            };
        }
        self.count = n;
        self.next = 0;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn takes_many_at_once_and_hands_them_out_in_order() {
        // A netlink socket the test can write to itself: NETLINK_USERSOCK.
        let mut a = netlink_sys::Socket::new(2).unwrap();
        a.bind_auto().unwrap();
        let mut addr = netlink_sys::SocketAddr::new(0, 0);
        a.get_address(&mut addr).unwrap();
        for m in [&b"one"[..], b"two", b"three is longer than a slot"] {
            a.send_to(m, &addr, 0).unwrap();
        }
        let mut b: Batch<4> = Batch::new(8, true);
        assert_eq!(b.fill(a.as_raw_fd()), Ok(3));
        let got: Vec<(Vec<u8>, u32)> =
            std::iter::from_fn(|| b.advance().map(|i| (b.get(i).0.to_vec(), b.get(i).1))).collect();
        assert_eq!(
            got,
            [
                (b"one".to_vec(), addr.port_number()),
                (b"two".to_vec(), addr.port_number()),
                (b"three is".to_vec(), addr.port_number())
            ]
        );
        assert_eq!(b.fill(a.as_raw_fd()), Err(Errno::EAGAIN));
    }
}
