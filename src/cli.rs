//! The command line, defined once with clap. `--help` is generated from these
//! definitions, and the man page is to be generated from them too, so the two
//! cannot drift apart.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::io::log::Level;
use crate::io::output::OutputSpec;

pub const DEFAULT_SOCKET: &str = "/run/docker.sock";

#[derive(Debug, Parser)]
#[command(
    name = "sockwatch",
    version,
    about = "Catch processes in containers that reach a container runtime's API socket",
    long_about = "Catch processes in containers that reach a container runtime's API socket.\n\n\
        Whoever can talk to /run/docker.sock (or containerd's, CRI-O's, Podman's socket) \
        owns the host. sockwatch reads the kernel's audit records (no eBPF needed), \
        matches every connect() to a watched socket by inode, so bind mounts under other \
        names are caught too, attributes the process to its container, and writes one \
        JSON finding per connect."
)]
pub struct Cli {
    /// How much to log on stderr.
    #[arg(long, value_enum, default_value = "info", global = true)]
    pub log_level: Level,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch for container processes connecting to the watched sockets.
    ///
    /// Loads the audit rules (unless --no-rules), turns audit on if it is off, and
    /// writes a finding for every connect from a container. On SIGTERM or SIGINT it
    /// removes the rules it added (never ones that were there before) and exits 0.
    Run(RunArgs),
    /// Install, remove, print or check sockwatch's audit rules.
    Rules(RulesArgs),
}

#[derive(Debug, clap::Args)]
pub struct SocketArgs {
    /// A runtime socket to watch (repeatable). Symlinks are resolved; a socket that
    /// does not exist yet is watched anyway.
    #[arg(long = "socket", value_name = "PATH", default_values = [DEFAULT_SOCKET])]
    pub sockets: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sockets: SocketArgs,

    /// Where findings go (repeatable): `stdout`, or `jsonl:PATH` to append JSON lines
    /// to PATH (created with mode 0640). Default: stdout.
    #[arg(long = "output", value_name = "SPEC")]
    pub outputs: Vec<OutputSpec>,

    /// Do not load audit rules; rely on rules loaded by someone else.
    #[arg(long)]
    pub no_rules: bool,

    /// dockerd's data-root, where container names, images and labels are read.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/docker")]
    pub docker_root: PathBuf,

    /// containers/storage's root (Podman, CRI-O), for names and images.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/containers/storage")]
    pub storage_root: PathBuf,

    /// containerd's state directory, whose task bundles name Kubernetes containers
    /// and their pods.
    #[arg(long, value_name = "DIR", default_value = "/run/containerd")]
    pub containerd_state: PathBuf,

    /// Treat a process whose cgroup names no known runtime as a host process even
    /// when its mount and pid namespaces are not the host's. By default it is
    /// reported, as a container with runtime "unknown".
    #[arg(long)]
    pub no_namespace_fallback: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesAction {
    /// Load the rules into the kernel and write the rules.d file.
    Install,
    /// Unload the rules and delete the rules.d file.
    Remove,
    /// Print the rules file (auditctl syntax) on stdout.
    Print,
    /// Show which rules are loaded and audit's state; exit 0 only when all are
    /// loaded and audit is on.
    Status,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[arg(value_enum)]
    pub action: RulesAction,

    #[command(flatten)]
    pub sockets: SocketArgs,

    /// The directory for the persistent rules file 50-sockwatch.rules.
    #[arg(long, value_name = "DIR", default_value = "/etc/audit/rules.d")]
    pub rules_dir: PathBuf,

    /// Change only the loaded rules, not the rules file.
    #[arg(long)]
    pub no_persist: bool,
}
