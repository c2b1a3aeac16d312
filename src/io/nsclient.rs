//! The throw-away client of `sockwatch test`: a process in new mount, pid, UTS,
//! IPC and network namespaces (what sockwatch's namespace fallback takes for a
//! container of an unknown runtime), which connects to one unix socket and then
//! stays until it is released, so that the run reporting it finds it alive in
//! /proc (a client gone with its whole tree would be attributed through its
//! parent, a host process, and dropped as the host's).

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use nix::libc;

/// Its name (comm), as the finding shows it.
pub const NAME: &str = "sockwatch-test";

pub struct Client {
    /// Its pid in this (the host's) pid namespace.
    pub pid: u32,
    /// Its end of a socket pair: the connect's outcome comes on it, and closing
    /// it releases the client.
    ctl: Option<UnixStream>,
    reaped: bool,
}

impl Client {
    /// Starts the client; it connects to `socket` at once.
    pub fn start(socket: &Path) -> io::Result<Client> {
        let path = socket.as_os_str().as_bytes();
        // SAFETY: sockaddr_un is plain data; zeroed is a valid value.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        if path.len() >= addr.sun_path.len() || path.contains(&0) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "socket path too long"));
        }
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(path) {
            *d = *s as libc::c_char;
        }
        let (ours, theirs) = UnixStream::pair()?;
        let name = std::ffi::CString::new(NAME).expect("no NUL in the name");
        let flags = libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWNET
            | libc::SIGCHLD;
        // clone(2) without a new stack is fork(2) into new namespaces, and the
        // child is the first process of its pid namespace: no second fork. This
        // process has one thread, and the child makes only raw system calls and
        // _exits, so nothing it does can wait on a lock held elsewhere.
        // SAFETY: as above; the arguments are clone's, for a fork-like call.
        let pid = unsafe {
            libc::syscall(libc::SYS_clone, flags as libc::c_ulong, 0usize, 0usize, 0usize, 0usize)
        };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: the child: raw system calls on memory it owns, then _exit.
            unsafe { child(&addr, &name, ours.as_raw_fd(), theirs.as_raw_fd()) }
        }
        drop(theirs);
        Ok(Client { pid: pid as u32, ctl: Some(ours), reaped: false })
    }

    /// The connect's outcome: `Ok(0)`, or its errno, within `timeout`.
    pub fn outcome(&mut self, timeout: Duration) -> io::Result<i32> {
        let ctl = self.ctl.as_mut().expect("not released yet");
        ctl.set_read_timeout(Some(timeout))?;
        let mut b = [0u8; 4];
        ctl.read_exact(&mut b)?;
        Ok(i32::from_ne_bytes(b))
    }

    /// Lets the client exit, and reaps it.
    pub fn release(mut self) {
        self.ctl = None;
        self.reap(false);
    }

    fn reap(&mut self, kill: bool) {
        if self.reaped {
            return;
        }
        let pid = self.pid as libc::pid_t;
        // SAFETY: the pid is this process's own child, not reaped yet.
        unsafe {
            if kill {
                libc::kill(pid, libc::SIGKILL);
            }
            let mut status = 0;
            while libc::waitpid(pid, &mut status, 0) < 0 && *libc::__errno_location() == libc::EINTR
            {
            }
        }
        self.reaped = true;
    }
}

impl Drop for Client {
    /// Never left behind, whatever went wrong.
    fn drop(&mut self) {
        self.ctl = None;
        self.reap(true);
    }
}

/// The client: connect, say how it went, wait for the release (the other end
/// closed, or the parent gone), exit.
unsafe fn child(
    addr: &libc::sockaddr_un,
    name: &std::ffi::CStr,
    parents_end: libc::c_int,
    ctl: libc::c_int,
) -> ! {
    // SAFETY: raw system calls only (see `Client::start`).
    unsafe {
        libc::close(parents_end);
        // Never outlives `sockwatch test`.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        libc::prctl(libc::PR_SET_NAME, name.as_ptr());
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        let outcome: i32 = if fd < 0
            || libc::connect(
                fd,
                (addr as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            ) < 0
        {
            *libc::__errno_location()
        } else {
            0
        };
        libc::write(ctl, (&outcome as *const i32).cast(), 4);
        let mut b = 0u8;
        loop {
            let n = libc::read(ctl, (&mut b as *mut u8).cast(), 1);
            if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                break;
            }
        }
        libc::_exit(0)
    }
}
