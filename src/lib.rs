//! sockwatch: catches a process inside a container reaching a container runtime's
//! API socket, from kernel audit records, without eBPF.
//!
//! `core` is pure (parsing, assembly, detection, the finding, every decision);
//! `io` talks to the kernel and the outside world; `daemon` is `sockwatch run`,
//! and `cmd` the other subcommands, each wiring both together.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod core;
pub mod daemon;
pub mod error;
pub mod io;
