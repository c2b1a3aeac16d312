//! Signals as a file descriptor (signalfd), so the event loop sees them as one more
//! readable source instead of through an async handler.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks the handled signals for this thread (the only one) and opens a
    /// signalfd for them.
    pub fn open(signals: &[Signal]) -> io::Result<Signals> {
        let mut set = SigSet::empty();
        for s in signals {
            set.add(*s);
        }
        set.thread_block().map_err(io::Error::from)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(io::Error::from)?;
        Ok(Signals { fd })
    }

    /// The next pending signal, or `None` when none is pending.
    pub fn pending(&mut self) -> io::Result<Option<Signal>> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Ok(Signal::try_from(info.ssi_signo as i32).ok()),
            Ok(None) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Spawns a helper thread with every signal blocked. A thread inherits its
/// creator's mask, and the kernel gives a process-directed signal to any thread
/// that does not block it: a helper started before `Signals::open` (or after a
/// change of the set) would take SIGTERM with its default action, killing the
/// daemon before it could unload its rules.
pub fn spawn_quiet<F>(name: &str, stack: usize, f: F) -> io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let mut old = SigSet::empty();
    nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&SigSet::all()),
        Some(&mut old),
    )
    .map_err(io::Error::from)?;
    let t = std::thread::Builder::new().name(name.into()).stack_size(stack).spawn(f);
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&old),
        None,
    );
    t
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_fd().as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_quiet_thread_blocks_every_signal() {
        let t = super::spawn_quiet("test", 128 << 10, || {
            let mask = nix::sys::signal::SigSet::thread_get_mask().unwrap();
            assert!(mask.contains(nix::sys::signal::Signal::SIGTERM));
            assert!(mask.contains(nix::sys::signal::Signal::SIGHUP));
        })
        .unwrap();
        t.join().expect("the thread saw every signal blocked");
        // The caller's own mask is as it was.
        let mine = nix::sys::signal::SigSet::thread_get_mask().unwrap();
        assert!(!mine.contains(nix::sys::signal::Signal::SIGUSR2));
    }
}
