//! Whether this kernel runs x32 system calls. A connect made through the x32 ABI
//! matches no audit syscall rule (the kernel's `audit_in_mask` ignores syscall
//! numbers of 2048 and above, and x32's carry bit 30), so where x32 is on, such a
//! connect is invisible to sockwatch and to every audit-based monitor.

use std::fs;

use nix::libc;

use crate::core::blind::{X32, x32_from_config};

/// x32's getpid: its number with __X32_SYSCALL_BIT.
const X32_GETPID: libc::c_long = 0x4000_0000 | 39;

/// Asks the kernel: a child process makes one x32 system call. Under a seccomp
/// filter (the packaged unit's SystemCallArchitectures=native kills a caller of
/// another ABI, and the kernel logs it) no probe is made, and the kernel's
/// configuration decides.
pub fn probe() -> X32 {
    let filtered = fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines().any(|l| l.strip_prefix("Seccomp:").is_some_and(|v| v.trim() != "0"))
    });
    match if filtered { None } else { probe_in_child() } {
        Some(found) => found,
        None => {
            let cmdline = super::proc::kernel_cmdline();
            let release = nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default();
            match fs::read_to_string(format!("/boot/config-{release}")) {
                Ok(config) => x32_from_config(&config, &cmdline),
                Err(_) => X32::Unknown,
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn probe_in_child() -> Option<X32> {
    // SAFETY: the child only makes raw system calls and _exits: nothing that
    // allocates or takes a lock another thread could hold (there are none).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return None;
    }
    if pid == 0 {
        // SAFETY: as above.
        unsafe {
            let r = libc::syscall(X32_GETPID);
            let code = if r >= 0 {
                0
            } else if *libc::__errno_location() == libc::ENOSYS {
                1
            } else {
                2
            };
            libc::_exit(code);
        }
    }
    let mut status = 0;
    let r = loop {
        // SAFETY: waits for the child just forked.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break r;
        }
    };
    if r != pid || !libc::WIFEXITED(status) {
        return None;
    }
    match libc::WEXITSTATUS(status) {
        0 => Some(X32::Enabled),
        1 => Some(X32::Disabled),
        _ => None,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn probe_in_child() -> Option<X32> {
    Some(X32::Disabled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_agrees_with_a_direct_call() {
        // Under a seccomp filter (a sandboxed test runner) the direct call could
        // kill the runner: only outside one is the kernel asked here.
        let status = fs::read_to_string("/proc/self/status").unwrap();
        if status.lines().any(|l| l.strip_prefix("Seccomp:").is_some_and(|v| v.trim() != "0")) {
            return;
        }
        // SAFETY: x32's getpid takes no arguments.
        let direct = unsafe { libc::syscall(X32_GETPID) };
        let want = if direct >= 0 { X32::Enabled } else { X32::Disabled };
        assert_eq!(probe(), want);
    }
}
