//! The command line, defined once with clap. `--help`, the man pages and the
//! shell completions are all generated from these definitions (`sockwatch
//! generate`), so they cannot drift apart.
//!
//! The options the configuration file can set too are defined once, in the
//! `*Options` structs, which derive both `clap::Args` and `serde::Deserialize`:
//! a field is an option on the command line and, under the same name, a key of
//! the file (`config`), and sockwatch.toml(5) shows each key with its option's
//! help. Every such field is an `Option`: `None` when not given, so that the
//! command line wins over the file and the file over the defaults
//! (`config::Settings`). A `--x`/`--no-x` pair is one setting written to two
//! fields: the one named after the file's key, and its negation, which the file
//! does not take (`#[serde(skip)]`) and which holds the same setting's value
//! (`--rules` sets `no_rules` to false there); clap keeps only the last of a pair
//! given. Their values have types (enums, `OutputSpec`, `DedupWindow`) that both
//! sides parse the same way.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Deserialize;

use crate::io::log::Level;
use crate::io::output::jsonl::Fsync;
use crate::io::output::syslog::{Facility, Format as SyslogFormat};
use crate::io::output::{Format, OutputSpec};

#[derive(Debug, Parser)]
#[command(
    name = "sockwatch",
    version,
    about = "Catch processes in containers that reach a container runtime's API socket",
    long_about = "Catch processes in containers that reach a container runtime's API socket.\n\n\
        Whoever can talk to /run/docker.sock (or containerd's, CRI-O's, Podman's socket) \
        owns the host. sockwatch reads the kernel's audit records (no eBPF needed), \
        matches every connect() to a watched socket by inode, so bind mounts under other \
        names are caught too, attributes the process to its container, and writes a \
        JSON finding for each connect (repeats within the de-duplication window, 10 s by \
        default, are folded into one finding with a count).",
    after_long_help = "Exit status: 0 success; 1 an error (the message says what and why), \
        for `rules status` a rule not loaded or audit off, for `doctor` detection cannot \
        work here; 2 a usage error: the command line, or the configuration file (missing \
        when named, unreadable or invalid)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,

    /// The configuration file [default: /etc/sockwatch/sockwatch.toml, if it
    /// exists]. Options given on the command line win over it.
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The options of every command that the configuration file can set too.
#[derive(Debug, Default, Clone, PartialEq, clap::Args, Deserialize)]
pub struct GlobalOptions {
    /// How much to log on stderr [default: info].
    #[arg(long, value_enum, global = true)]
    pub log_level: Option<Level>,
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
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Rules(RulesArgs),
    /// Show what works on this host (audit, the kernel command line's audit=,
    /// x32, fanotify, cgroups, sockets, runtimes, outputs) without changing
    /// anything; exit 1 when detection cannot work.
    ///
    /// Each reason is a PROBLEM line saying what to do: no audit control or
    /// multicast, a locked audit configuration without sockwatch's rules, a
    /// `never` rule on the task list, a watched path that is not a socket, a
    /// socket named by --socket or `sockets` whose directory does not exist
    /// (a typo, or a runtime not started yet), or a jsonl output that cannot
    /// be written (its directory missing or read-only). A known runtime socket
    /// that is absent is only waiting, and a journald or syslog socket that is
    /// absent is a WARNING (findings are queued and retried).
    Doctor(DoctorArgs),
    /// Detect offline, over audit logs already written.
    ///
    /// Reads auditd's log (with or without node=, RAW or ENRICHED) or raw netlink
    /// text (type=1300 audit(...): ...), also behind the kernel's or an audit
    /// dispatcher's syslog prefix (kernel: audit:, audisp-syslog:), gzip-compressed
    /// or not, and journald's audit records (journalctl -o export or -o json --all,
    /// _TRANSPORT=audit), from the files given, in order, or from standard input,
    /// and writes the JSON finding `run` would have written for every connect to a
    /// watched socket, one per connect, after the configuration's allowlist. A
    /// connect is matched by the socket's (dev, inode) now, by sockwatch's rule key
    /// on the record (the kernel matched sockwatch's rule: a watched socket then,
    /// whatever its inode now), or by the name connected to (/run and /var/run
    /// alike); details.matched_by says which when it is not the inode. A past event
    /// has no live /proc, so the container is unknown (the finding says so) and
    /// host processes are reported too. Malformed lines are counted and named on
    /// stderr; they never stop the scan.
    ///
    /// Exit status: 0 findings were written (or counted, with --summary); 1 none;
    /// 2 a usage error; 3 no input held a single audit record (the message says
    /// what the input looked like); 4 an input could not be read or was cut short,
    /// or the findings could not all be written (the others were scanned, and
    /// findings, if any, written: the result is incomplete, whatever it found).
    Scan(ScanArgs),
    /// Prove that detection works on this host, end to end, without a container
    /// runtime.
    ///
    /// Starts `sockwatch run` watching only a throw-away socket, in a new directory
    /// under /run (mode 0700), and connects to it from a throw-away process in new
    /// mount, pid, UTS, IPC and network namespaces, which sockwatch reports as a
    /// container of runtime "unknown". When the finding arrives, it prints its JSON
    /// line on standard output and one line saying what happened on standard
    /// error, stops that run with SIGTERM (it removes the rules it added and puts
    /// audit's state back), removes the directory and exits 0. Otherwise it exits
    /// 1 with the reason on one line and what the run logged. No real runtime's
    /// socket is touched, and the findings go only to a file in that directory.
    ///
    /// It runs beside the sockwatch service, or auditd, without disturbing them:
    /// its run reads the multicast copy of audit records, adds rules for the
    /// throw-away socket only (and the io_uring rule, which all sockets share, if
    /// nothing has loaded it), and removes only what it added. Of the
    /// configuration file it takes only `keep_audit_state` and `rules_dir`. Needs
    /// root (CAP_AUDIT_CONTROL, CAP_AUDIT_READ, CAP_SYS_ADMIN).
    Test(TestArgs),
    /// Thaw a container that `run --respond freeze` froze.
    ///
    /// CONTAINER is its full id, a unique prefix of the id, or its name (as the
    /// runtime's state names it). Every cgroup of the container that is frozen
    /// is thawed (the v1 freezer's and the unified hierarchy's), one line on
    /// standard error for each, and a `container_released` health event goes to
    /// the configured outputs. Exit status 0 when something was thawed, 1 when
    /// the container was not frozen or not found. Works whether or not the
    /// daemon runs; needs root. A container Docker paused itself (`docker
    /// pause`) is refused: `docker unpause` resumes it, and Docker then knows it
    /// runs again.
    Release(ReleaseArgs),
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
    /// every known runtime socket that exists]: connects are matched by its (dev,
    /// inode) now, and by its name (through /run and /var/run both).
    #[arg(long = "socket", value_name = "PATH", value_parser = absolute_path)]
    pub sockets: Vec<PathBuf>,

    /// A socket by its identity, for logs from another host or from before the
    /// socket was re-created (repeatable): MAJ:MIN:INODE, the inode in decimal and
    /// the dev either as a PATH record writes it, in hex with two digits a part
    /// (fe:00:9805826), or as `stat -c %Hd:%Ld:%i` prints it, in decimal (254:0:9805826).
    /// A part with a hex letter or a leading zero makes the dev hex, a part of one
    /// digit makes it decimal; a dev that is neither (10:10) is refused as
    /// ambiguous: write hex:10:10:INODE or dec:10:10:INODE. Add =PATH to match by
    /// that name too.
    #[arg(long = "socket-inode", value_name = "MAJ:MIN:INODE[=PATH]", value_parser = crate::core::scan::parse_socket_inode)]
    pub socket_inodes: Vec<crate::core::scan::SocketIdentity>,

    /// Report only connects at or after this time (the event's audit stamp):
    /// YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS[.FFF]] (UTC, as the stamp), RFC 3339 with
    /// its offset (2026-12-02T07:00:00+01:00) or @UNIX_SECONDS. Connects outside
    /// the window are counted on stderr.
    #[arg(long, value_name = "TIME", value_parser = crate::core::time::parse_instant)]
    pub since: Option<u64>,

    /// Report only connects before this time (same forms as --since; after
    /// --since, or it is a usage error).
    #[arg(long, value_name = "TIME", value_parser = crate::core::time::parse_instant)]
    pub until: Option<u64>,

    /// Print counts of findings per container image, per executable, per socket
    /// and per way matched, as a table on stdout, instead of the findings.
    #[arg(long)]
    pub summary: bool,

    /// The shape of the findings written: `native`, `ecs` (Elastic Common
    /// Schema 8.x) or `ocsf` (OCSF 1.3.0 Detection Finding), as `run --format`
    /// writes them.
    #[arg(long, value_name = "FORMAT", value_enum, default_value = "native")]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    /// The container: its id, a unique prefix of it, or its name.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// How long to wait for the finding after the connect, in seconds (1 to 600).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
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
    /// instead of stdout (needed for `man`, which writes two pages).
    #[arg(long, value_name = "DIR", required_if_eq("what", "man"))]
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
    /// A runtime socket to watch, by its absolute path (repeatable) [default: every known runtime
    /// socket: Docker, containerd (its own, Docker's, k3s'), CRI-O, Podman,
    /// cri-dockerd, BuildKit, and rootless Docker and Podman under /run/user/UID].
    /// Symlinks are resolved; a socket that does not exist yet is watched anyway,
    /// and its rules are loaded once its directory exists.
    #[arg(long = "socket", value_name = "PATH", value_parser = absolute_path)]
    pub sockets: Vec<PathBuf>,
}

/// A socket's path must be absolute: a relative one would mean something else
/// in every directory sockwatch is started from.
pub fn absolute_path(s: &str) -> Result<PathBuf, String> {
    if s.starts_with('/') {
        Ok(PathBuf::from(s))
    } else {
        Err(format!("{s:?} is not an absolute path (it must start with /)"))
    }
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sockets: SocketArgs,

    /// Give the rules key=sockwatch-test instead of key=sockwatch: what `sockwatch
    /// test` runs, so that a later `scan` never takes its throw-away connect for one
    /// to a watched socket.
    #[arg(long, hide = true)]
    pub test_rules: bool,

    #[command(flatten)]
    pub options: RunOptions,
}

/// How `run` reads audit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditMode {
    Multicast,
    Unicast,
}

/// A number of seconds from 0 to 86400 (a day).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DedupWindow(pub f64);

/// `run`'s options, which are also keys of the configuration file. Their
/// defaults are `RunOptions::defaults` (config.rs).
#[derive(Debug, Default, Clone, PartialEq, clap::Args, Deserialize)]
pub struct RunOptions {
    /// Where findings go (repeatable) [default: stdout]: `stdout`; `jsonl:PATH` to
    /// append JSON lines to PATH (created with mode 0640); `journald` (the native
    /// journal protocol); `syslog` (/dev/log) or `syslog:SOCKET`.
    #[arg(long = "output", value_name = "SPEC")]
    #[serde(default, deserialize_with = "crate::config::outputs")]
    pub outputs: Option<Vec<OutputSpec>>,

    /// A program that may delete and re-create the watched sockets, by executable
    /// name (repeatable) [default: dockerd, containerd, podman, crio, systemd
    /// (socket activation), buildkitd, k3s, cri-dockerd]. Anyone else
    /// doing it is finding SW-1002.
    #[arg(long = "socket-owner", value_name = "NAME")]
    #[serde(default, deserialize_with = "crate::config::socket_owners")]
    pub socket_owners: Option<Vec<String>>,

    /// How records are read [default: multicast]. `multicast` reads a copy
    /// beside any audit daemon (auditd). `unicast` registers sockwatch as the
    /// audit daemon, for hosts without one: the kernel then stops printing every
    /// record to its log and holds records when sockwatch is busy instead of
    /// dropping them; refused when another daemon is registered, given back on
    /// exit. A held registration would keep auditd from starting.
    #[arg(long, value_name = "MODE", value_enum)]
    pub audit_mode: Option<AuditMode>,

    /// When something switches audit off, only report it (a health event) instead
    /// of turning it back on.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    #[arg(overrides_with = "restore_audit_state")]
    #[serde(default, deserialize_with = "crate::config::boolean")]
    pub keep_audit_state: Option<bool>,

    /// Turn audit back on when something switches it off (the default; overrides
    /// `keep_audit_state = true` in the configuration file).
    #[arg(long, num_args = 0, default_missing_value = "false")]
    #[arg(overrides_with = "keep_audit_state")]
    #[serde(skip)]
    pub restore_audit_state: Option<bool>,

    /// Delete every `never` rule on audit's task list (`-a never,task`, as auditd's
    /// 10-no-audit.rules loads) whenever one appears, with a health event each
    /// time. Such a rule gives no task created while it is loaded an audit
    /// context, so no connect of theirs is ever seen. Without this option it is
    /// reported (an error health event) and left in place.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    #[arg(overrides_with = "keep_task_never")]
    #[serde(default, deserialize_with = "crate::config::boolean")]
    pub remove_task_never: Option<bool>,

    /// Report `never` rules on the task list but leave them (the default;
    /// overrides `remove_task_never = true` in the configuration file).
    #[arg(long, num_args = 0, default_missing_value = "false")]
    #[arg(overrides_with = "remove_task_never")]
    #[serde(skip)]
    pub keep_task_never: Option<bool>,

    /// Do not load audit rules; rely on rules loaded by someone else.
    #[arg(long, num_args = 0, default_missing_value = "true", overrides_with = "rules")]
    #[serde(default, deserialize_with = "crate::config::boolean")]
    pub no_rules: Option<bool>,

    /// Load the audit rules (the default; overrides `no_rules = true` in the
    /// configuration file).
    #[arg(long, num_args = 0, default_missing_value = "false", overrides_with = "no_rules")]
    #[serde(skip)]
    pub rules: Option<bool>,

    /// dockerd's data-root, where container names, images and labels are read
    /// [default: /var/lib/docker].
    #[arg(long, value_name = "DIR")]
    #[serde(default, deserialize_with = "crate::config::directory")]
    pub docker_root: Option<PathBuf>,

    /// containers/storage's root (Podman, CRI-O), for names and images
    /// [default: /var/lib/containers/storage].
    #[arg(long, value_name = "DIR")]
    #[serde(default, deserialize_with = "crate::config::directory")]
    pub storage_root: Option<PathBuf>,

    /// containerd's state directory, whose task bundles name Kubernetes containers
    /// and their pods [default: /run/containerd].
    #[arg(long, value_name = "DIR")]
    #[serde(default, deserialize_with = "crate::config::directory")]
    pub containerd_state: Option<PathBuf>,

    /// Treat a process whose cgroup names no known runtime as a host process even
    /// when its mount and pid namespaces are not the host's. By default it is
    /// reported, as a container with runtime "unknown".
    // The file's key is the setting, `namespace_fallback = false`: this option
    // sets it to false (sockwatch.toml(5) says so).
    #[arg(long = "no-namespace-fallback", num_args = 0, default_missing_value = "false")]
    #[arg(overrides_with = "with_namespace_fallback")]
    #[serde(default, deserialize_with = "crate::config::boolean")]
    pub namespace_fallback: Option<bool>,

    /// Report such processes (the default; overrides `namespace_fallback = false`
    /// in the configuration file).
    #[arg(long = "namespace-fallback", num_args = 0, default_missing_value = "true")]
    #[arg(overrides_with = "namespace_fallback")]
    #[serde(skip)]
    pub with_namespace_fallback: Option<bool>,

    /// Fold findings with the same container, executable, socket and outcome
    /// within this many seconds into the first and one summary with a count
    /// [default: 10]. 0 turns folding off.
    #[arg(long, value_name = "SECONDS")]
    pub dedup_window: Option<DedupWindow>,

    /// The syslog message format [default: rfc5424].
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub syslog_format: Option<SyslogFormat>,

    /// The syslog facility [default: authpriv].
    #[arg(long, value_name = "NAME", value_enum, hide_possible_values = true)]
    pub syslog_facility: Option<Facility>,

    /// When JSON lines files are synced to disk [default: batch]: `batch` at most
    /// once a second while findings are written, on a thread of its own so the
    /// event loop never waits for the disk; `line` after every write (on the
    /// loop); `never` (the kernel decides).
    #[arg(long, value_name = "POLICY", value_enum)]
    pub jsonl_fsync: Option<Fsync>,

    /// The shape of the JSON that stdout and jsonl outputs write [default:
    /// native]: `native`, sockwatch's own finding format; `ecs`, Elastic Common
    /// Schema 8.x documents (findings are `event.kind: alert` with `rule.*`,
    /// `threat.*` (MITRE ATT&CK), `container.*`, `process.*`, `file.*`, and
    /// sockwatch's other fields under `sockwatch.*`); `ocsf`, OCSF 1.3.0
    /// Detection Findings (class 2004; health events are Base Events, class 0),
    /// sockwatch's other fields under `unmapped.sockwatch`. The journal's
    /// SOCKWATCH_JSON and syslog messages stay native.
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub format: Option<Format>,
    /// Write the counters to this file in Prometheus' text format, for
    /// node_exporter's textfile collector: an absolute path ending in .prom, in
    /// the collector's directory (--collector.textfile.directory; Debian's is
    /// /var/lib/prometheus/node-exporter) [default: none]. It is replaced whole
    /// (a temporary file renamed over it, mode 0644) at start, at most every 15 s
    /// while counters change, and at a clean exit, with sockwatch_up 0; an idle
    /// daemon does not write it. A failed write (the directory not there yet, a
    /// read-only file system) is logged and retried every 15 s, never fatal.
    #[arg(long, value_name = "PATH", value_parser = prom_path)]
    #[serde(default, deserialize_with = "crate::config::metrics_file")]
    pub metrics_file: Option<PathBuf>,

    /// What to do to a container that connected to a watched socket [default:
    /// none]: `none` reports only; `freeze` freezes the container's cgroup
    /// (cgroup v2 cgroup.freeze, or the v1 freezer where the host mounts it, as
    /// the runtimes do), which stops every process in it where it stands and
    /// keeps its memory and connections for investigation, until `sockwatch
    /// release`; `kill` sends SIGKILL to the process that connected, through a
    /// pidfd, so that a reused pid is never hit. Acting takes microseconds and
    /// comes before the finding is written; the finding's `response` says what
    /// was done and how long after the connect. Containers the allowlist matches
    /// are never touched, nor host processes, nor processes of unknown origin
    /// unless --respond-unknown. A response that fails is a `response_failed`
    /// health event; the finding is written all the same.
    #[arg(long, value_name = "ACTION", value_enum)]
    pub respond: Option<crate::core::respond::Mode>,

    /// With --respond, decide what would be done and write it in the finding
    /// (`response.result: dry_run`) and the log, but touch nothing: a trial
    /// period before enabling it.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    #[arg(overrides_with = "no_respond_dry_run")]
    #[serde(default, deserialize_with = "crate::config::boolean")]
    pub respond_dry_run: Option<bool>,

    /// Act for real (the default; overrides `respond_dry_run = true` in the
    /// configuration file).
    #[arg(long, num_args = 0, default_missing_value = "false")]
    #[arg(overrides_with = "respond_dry_run")]
    #[serde(skip)]
    pub no_respond_dry_run: Option<bool>,

    /// With --respond, act on a process of unknown origin too (runtime
    /// "unknown": its namespaces are not the host's but its cgroup names no
    /// runtime): freeze its own cgroup, or kill it, unless that cgroup is the
    /// host's: the root, a systemd unit or slice (a login session, a service),
    /// or one holding sockwatch or PID 1.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    #[arg(overrides_with = "no_respond_unknown")]
    #[serde(default, deserialize_with = "crate::config::boolean")]
    pub respond_unknown: Option<bool>,

    /// Report processes of unknown origin only (the default; overrides
    /// `respond_unknown = true` in the configuration file).
    #[arg(long, num_args = 0, default_missing_value = "false")]
    #[arg(overrides_with = "respond_unknown")]
    #[serde(skip)]
    pub no_respond_unknown: Option<bool>,
}

/// The metrics file: absolute, as every path the daemon takes, and named
/// `*.prom`, the only files the textfile collector reads (any other name would
/// be written and never scraped).
pub fn prom_path(s: &str) -> Result<PathBuf, String> {
    let p = absolute_path(s)?;
    match p.file_name().and_then(|n| n.to_str()) {
        Some(n) if n.len() > 5 && n.ends_with(".prom") => Ok(p),
        _ => Err(format!(
            "{s:?} does not end in .prom (node_exporter's textfile collector reads only *.prom files)"
        )),
    }
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub action: RulesCommand,
}

/// What `rules` does: each action is a subcommand with only its own options.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load the rules into the kernel over netlink and write the rules.d file.
    ///
    /// A rule that is already loaded is left as it is. A socket whose directory
    /// does not exist yet is reported as waiting (`sockwatch run` loads its rules
    /// once it appears). The rules file cannot name a socket whose path holds
    /// whitespace or a control character (auditctl splits its lines on
    /// whitespace): such a socket is refused unless --no-persist.
    Install(RulesChangeArgs),
    /// Unload the rules and delete the rules.d file.
    ///
    /// Only the rules for the sockets named (or configured) are unloaded, unless
    /// --all; a rule that is not loaded is reported as such.
    Remove(RulesRemoveArgs),
    /// Print the rules file (auditctl syntax) on stdout.
    ///
    /// It is the same on every host: without --socket or `sockets`, it holds the
    /// fixed runtime sockets, not users' rootless ones. A socket whose path holds
    /// whitespace or a control character is refused, since auditctl could not
    /// read the file.
    Print(SocketArgs),
    /// Show which rules are loaded and audit's state.
    ///
    /// Exits 0 only when every rule that can be loaded is (a socket whose
    /// directory does not exist yet is waiting), no `never` rule is on the task
    /// list, and audit is on.
    Status(SocketArgs),
}

/// `rules install`'s arguments; `remove` takes them too.
#[derive(Debug, clap::Args)]
pub struct RulesChangeArgs {
    #[command(flatten)]
    pub sockets: SocketArgs,

    #[command(flatten)]
    pub options: RulesOptions,
}

#[derive(Debug, clap::Args)]
pub struct RulesRemoveArgs {
    #[command(flatten)]
    pub rules: RulesChangeArgs,

    /// Unload every loaded rule that carries sockwatch's key (key=sockwatch),
    /// whatever socket it names, not only the rules for the sockets configured
    /// now. The package's removal uses this.
    #[arg(long, conflicts_with = "sockets")]
    pub all: bool,
}

/// The options of `rules install` and `rules remove`, which are also keys of
/// the configuration file.
#[derive(Debug, Default, Clone, PartialEq, clap::Args, Deserialize)]
pub struct RulesOptions {
    /// The directory for the persistent rules file 50-sockwatch.rules
    /// [default: /etc/audit/rules.d].
    #[arg(long, value_name = "DIR")]
    #[serde(default, deserialize_with = "crate::config::directory")]
    pub rules_dir: Option<PathBuf>,

    /// Change only the loaded rules, not the rules file.
    #[arg(long, num_args = 0, default_missing_value = "true", overrides_with = "persist")]
    #[serde(default, deserialize_with = "crate::config::boolean")]
    pub no_persist: Option<bool>,

    /// Change the rules file too (the default; overrides `no_persist = true` in the
    /// configuration file).
    #[arg(long, num_args = 0, default_missing_value = "false", overrides_with = "no_persist")]
    #[serde(skip)]
    pub persist: Option<bool>,
}
