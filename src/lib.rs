//! sockwatch: catches a process inside a container reaching a container runtime's
//! API socket, from kernel audit records, without eBPF.
//!
//! `core` is pure (parsing, assembly, detection, the finding); `io` talks to the
//! kernel and the outside world; `cmd` wires both into the subcommands.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod core;
pub mod daemon;
pub mod error;
pub mod io;
