//! The command line, defined once with clap. `--help`, the man pages and the
//! shell completions are all generated from these definitions (`sockwatch
//! generate`), so they cannot drift apart.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::io::log::Level;
use crate::io::output::OutputSpec;

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
    /// How much to log on stderr [default: info].
    #[arg(long, value_enum, global = true)]
    pub log_level: Option<Level>,

    /// The configuration file [default: /etc/sockwatch/sockwatch.toml, if it
    /// exists]. Options given on the command line win over it.
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,

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
    Run(Box<RunArgs>),
    /// Install, remove, print or check sockwatch's audit rules.
    Rules(RulesArgs),
    /// Show what works on this host (audit, the kernel command line's audit=,
    /// x32, fanotify, cgroups, sockets, runtimes, outputs) without changing
    /// anything; exit 1 when detection cannot work (a task-list never rule
    /// among the reasons).
    Doctor(DoctorArgs),
    /// Detect offline, over audit logs already written.
    ///
    /// Reads auditd's log (with or without node=, RAW or ENRICHED) or raw netlink
    /// text (type=1300 audit(...): ...) from the files given, in order, or from
    /// standard input, and writes the JSON finding `run` would have written for
    /// every connect to a watched socket, matched by (dev, inode), one per connect,
    /// after the configuration's allowlist. A past event has
    /// no live /proc, so the container is unknown (the finding says so) and host
    /// processes are reported too. Malformed lines are counted and named on
    /// stderr; they never stop the scan.
    Scan(ScanArgs),
    /// Write the man pages or a shell completion script (for packaging).
    #[command(hide = true)]
    Generate(GenerateArgs),
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Audit logs to read, in order (`-` is standard input) [default: standard input].
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// A socket on this host (repeatable) [default: the configured sockets, or
    /// every known runtime socket that exists]: connects are matched by its (dev, inode) now, and by its
    /// name where a PATH record has no inode.
    #[arg(long = "socket", value_name = "PATH")]
    pub sockets: Vec<PathBuf>,

    /// A socket by its identity, for logs from another host (repeatable):
    /// MAJ:MIN:INODE with dev as the PATH record writes it, for example
    /// fe:00:9805826; add =PATH to match by name where a PATH record has no inode.
    #[arg(long = "socket-inode", value_name = "MAJ:MIN:INODE[=PATH]")]
    pub socket_inodes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generated {
    /// sockwatch.8 and sockwatch.toml.5 (needs --out-dir).
    Man,
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    #[arg(value_enum)]
    pub what: Generated,

    /// Write into this directory, under the name the man or shell looks for,
    /// instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub sockets: SocketArgs,

    /// An output to check (repeatable) [default: those of the configuration, or stdout].
    #[arg(long = "output", value_name = "SPEC")]
    pub outputs: Vec<OutputSpec>,
}

#[derive(Debug, clap::Args)]
pub struct SocketArgs {
    /// A runtime socket to watch (repeatable) [default: every known runtime
    /// socket: Docker, containerd (its own, Docker's, k3s'), CRI-O, Podman,
    /// cri-dockerd, BuildKit, and rootless Docker and Podman under /run/user/UID].
    /// Symlinks are resolved; a socket that does not exist yet is watched anyway,
    /// and its rules are loaded once its directory exists.
    #[arg(long = "socket", value_name = "PATH")]
    pub sockets: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sockets: SocketArgs,

    /// Where findings go (repeatable) [default: stdout]: `stdout`; `jsonl:PATH` to
    /// append JSON lines to PATH (created with mode 0640); `journald` (the native
    /// journal protocol); `syslog` (/dev/log) or `syslog:SOCKET`.
    #[arg(long = "output", value_name = "SPEC")]
    pub outputs: Vec<OutputSpec>,

    /// A program that may delete and re-create the watched sockets, by executable
    /// name (repeatable) [default: dockerd, containerd, podman, crio, systemd
    /// (socket activation), buildkitd, k3s, cri-dockerd]. Anyone else
    /// doing it is finding SW-1002.
    #[arg(long = "socket-owner", value_name = "NAME")]
    pub socket_owners: Vec<String>,

    /// How records are read [default: multicast]. `multicast` reads a copy
    /// beside any audit daemon (auditd). `unicast` registers sockwatch as the
    /// audit daemon, for hosts without one: the kernel then stops printing every
    /// record to its log and holds records when sockwatch is busy instead of
    /// dropping them; refused when another daemon is registered, given back on
    /// exit. A held registration would keep auditd from starting.
    #[arg(long, value_name = "MODE", value_parser = ["multicast", "unicast"])]
    pub audit_mode: Option<String>,

    /// When something switches audit off, only report it (a health event) instead
    /// of turning it back on.
    #[arg(long, overrides_with = "restore_audit_state")]
    pub keep_audit_state: bool,

    /// Turn audit back on when something switches it off (the default; overrides
    /// `keep_audit_state = true` in the configuration file).
    #[arg(long, overrides_with = "keep_audit_state")]
    pub restore_audit_state: bool,

    /// Delete every `never` rule on audit's task list (`-a never,task`, as auditd's
    /// 10-no-audit.rules loads) whenever one appears, with a health event each
    /// time. Such a rule gives no task created while it is loaded an audit
    /// context, so no connect of theirs is ever seen. Without this option it is
    /// reported (an error health event) and left in place.
    #[arg(long, overrides_with = "keep_task_never")]
    pub remove_task_never: bool,

    /// Report `never` rules on the task list but leave them (the default;
    /// overrides `remove_task_never = true` in the configuration file).
    #[arg(long, overrides_with = "remove_task_never")]
    pub keep_task_never: bool,

    /// Do not load audit rules; rely on rules loaded by someone else.
    #[arg(long, overrides_with = "rules")]
    pub no_rules: bool,

    /// Load the audit rules (the default; overrides `no_rules = true` in the
    /// configuration file).
    #[arg(long, overrides_with = "no_rules")]
    pub rules: bool,

    /// dockerd's data-root, where container names, images and labels are read
    /// [default: /var/lib/docker].
    #[arg(long, value_name = "DIR")]
    pub docker_root: Option<PathBuf>,

    /// containers/storage's root (Podman, CRI-O), for names and images
    /// [default: /var/lib/containers/storage].
    #[arg(long, value_name = "DIR")]
    pub storage_root: Option<PathBuf>,

    /// containerd's state directory, whose task bundles name Kubernetes containers
    /// and their pods [default: /run/containerd].
    #[arg(long, value_name = "DIR")]
    pub containerd_state: Option<PathBuf>,

    /// Treat a process whose cgroup names no known runtime as a host process even
    /// when its mount and pid namespaces are not the host's. By default it is
    /// reported, as a container with runtime "unknown".
    #[arg(long, overrides_with = "namespace_fallback")]
    pub no_namespace_fallback: bool,

    /// Report such processes (the default; overrides `namespace_fallback = false`
    /// in the configuration file).
    #[arg(long, overrides_with = "no_namespace_fallback")]
    pub namespace_fallback: bool,

    /// Fold findings with the same container, executable, socket and outcome
    /// within this many seconds into the first and one summary with a count
    /// [default: 10]. 0 turns folding off.
    #[arg(long, value_name = "SECONDS")]
    pub dedup_window: Option<f64>,

    /// The syslog message format [default: rfc5424].
    #[arg(long, value_name = "FORMAT", value_parser = ["rfc5424", "rfc3164"])]
    pub syslog_format: Option<String>,

    /// The syslog facility [default: authpriv].
    #[arg(long, value_name = "NAME")]
    pub syslog_facility: Option<String>,

    /// When JSON lines files are synced to disk [default: batch]: `batch` at most
    /// once a second while findings are written, `line` after every line, `never`
    /// (the kernel decides).
    #[arg(long, value_name = "POLICY", value_parser = ["batch", "line", "never"])]
    pub jsonl_fsync: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesAction {
    /// Load the rules into the kernel and write the rules.d file.
    Install,
    /// Unload the rules and delete the rules.d file.
    Remove,
    /// Print the rules file (auditctl syntax) on stdout.
    Print,
    /// Show which rules are loaded and audit's state; exit 0 only when every
    /// rule that can be loaded is (a socket whose directory does not exist yet
    /// is waiting), no `never` rule is on the task list, and audit is on.
    Status,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[arg(value_enum)]
    pub action: RulesAction,

    #[command(flatten)]
    pub sockets: SocketArgs,

    /// The directory for the persistent rules file 50-sockwatch.rules
    /// [default: /etc/audit/rules.d].
    #[arg(long, value_name = "DIR")]
    pub rules_dir: Option<PathBuf>,

    /// With `remove`: unload every loaded rule that carries sockwatch's key
    /// (key=sockwatch), whatever socket it names, not only the rules for the
    /// sockets configured now. The package's removal uses this.
    #[arg(long)]
    pub all: bool,

    /// Change only the loaded rules, not the rules file.
    #[arg(long, overrides_with = "persist")]
    pub no_persist: bool,

    /// Change the rules file too (the default; overrides `no_persist = true` in the
    /// configuration file).
    #[arg(long, overrides_with = "no_persist")]
    pub persist: bool,
}
