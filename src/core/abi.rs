//! Syscall ABIs: the audit arch value and the syscall numbers of connect and
//! socketcall for each. One table serves both the rules (what to ask the kernel to
//! log) and the decoder (what a record's `arch=` and `syscall=` mean), so the two
//! cannot disagree. Records are decoded by their own `arch=`, not the build's, so
//! logs from other hosts decode too.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abi {
    /// auditctl's name for it: `b64` or `b32`.
    pub name: &'static str,
    /// AUDIT_ARCH_*.
    pub arch: u32,
    pub connect: u32,
    /// socketcall(2), where the ABI multiplexes socket calls through it.
    pub socketcall: Option<u32>,
}

pub const X86_64: Abi = Abi { name: "b64", arch: 0xc000_003e, connect: 42, socketcall: None };
pub const I386: Abi = Abi { name: "b32", arch: 0x4000_0003, connect: 362, socketcall: Some(102) };
pub const AARCH64: Abi = Abi { name: "b64", arch: 0xc000_00b7, connect: 203, socketcall: None };
pub const ARM: Abi = Abi { name: "b32", arch: 0x4000_0028, connect: 283, socketcall: None };

const ALL: [Abi; 4] = [X86_64, I386, AARCH64, ARM];

/// SYS_CONNECT, socketcall's call number for connect.
pub const SOCKETCALL_CONNECT: u64 = 3;
/// IORING_OP_CONNECT.
pub const URING_OP_CONNECT: u32 = 16;

/// The ABI a record's `arch=` names.
pub fn by_arch(arch: u32) -> Option<Abi> {
    ALL.iter().copied().find(|a| a.arch == arch)
}

/// What a SYSCALL record's `arch=` and `syscall=` mean for detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Connect,
    /// socketcall(2): a connect when its `a0` is SOCKETCALL_CONNECT.
    Socketcall,
    Other,
}

/// The one place a syscall number is read as connect, for `run` and `scan` alike.
pub fn call(arch: u64, nr: u64) -> Call {
    let Some(abi) = u32::try_from(arch).ok().and_then(by_arch) else { return Call::Other };
    if nr == u64::from(abi.connect) {
        Call::Connect
    } else if abi.socketcall.map(u64::from) == Some(nr) {
        Call::Socketcall
    } else {
        Call::Other
    }
}

/// The ABIs of the machine sockwatch is built for, native first.
pub fn native() -> &'static [Abi] {
    if cfg!(target_arch = "x86_64") {
        &ALL[0..2]
    } else if cfg!(target_arch = "aarch64") {
        &ALL[2..4]
    } else {
        &[]
    }
}
