//! Everything that touches the kernel or the outside world: the audit netlink
//! channels, /proc, the watched socket files, outputs, signals and sd_notify.

pub mod audit_rules;
pub mod clock;
pub mod freezer;
pub mod fswatch;
pub mod intake;
pub mod log;
pub mod lookups;
pub mod metrics_file;
pub mod mmsg;
pub mod netlink;
pub mod notify;
pub mod nsclient;
pub mod output;
pub mod proc;
pub mod procevents;
pub mod runtime_meta;
pub mod signals;
pub mod sockets;
pub mod x32;
