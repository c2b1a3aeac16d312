//! Start-up, as named steps: settings, the sources (signals, the audit intake,
//! process events), taking audit (rules, backlog, the enabled flag), what may
//! blind it (audit switched on late, x32, unreadable host namespaces), the
//! watched sockets, then the daemon and fanotify. An error in any step undoes
//! what the earlier ones changed in the kernel (`stop::AuditGuard`).

use std::time::Instant;

use nix::sys::signal::Signal;

use crate::cli::RunArgs;
use crate::config::{Config, Settings};
use crate::core::abi;
use crate::core::assemble::Assembler;
use crate::core::blind::{self, X32};
use crate::core::cgroup::Container;
use crate::core::dedup::Dedup;
use crate::core::detect::WatchedSocket;
use crate::core::health::{Event, Health, Level};
use crate::core::journal_stream;
use crate::core::keeper::{Load, Refused, Status, refused_health};
use crate::core::origin::Attributor;
use crate::core::rules::{BACKLOG_LIMIT, RuleSpec, is_required, rule_set};
use crate::core::stats::Stats;
use crate::error::{Context, Error};
use crate::io::audit_rules::{self, ensure_unlocked, load_missing, loaded, open_control};
use crate::io::fswatch::FsWatch;
use crate::io::intake::Intake;
use crate::io::metrics_file::MetricsFile;
use crate::io::netlink::Control;
use crate::io::output::{OutputSpec, Outputs};
use crate::io::proc::{self, LiveProc};
use crate::io::procevents::ProcEvents;
use crate::io::runtime_meta::MetaCache;
use crate::io::signals::Signals;
use crate::io::{notify, sockets};
use crate::{debug, info, warn};

use super::keeper::Keeper;
use super::stop::{AuditGuard, cleanup};
use super::{Daemon, EVENT_TIMEOUT, LINEAGE, MAX_IN_FLIGHT, report};
use crate::cmd::resolve_sockets;

/// What the loop polls.
pub(super) struct Sources {
    pub intake: Intake,
    pub signals: Signals,
    pub procs: Option<ProcEvents>,
    pub files: Option<FsWatch>,
}

/// Audit switched on by this run, late: the kernel command line's audit=
/// setting, and the containers already running (with their process counts).
type Late = (Option<String>, Vec<(Container, usize)>);

/// What taking audit found and changed.
struct Taken {
    guard: AuditGuard,
    status: Status,
    rules: Vec<RuleSpec>,
    refused: Vec<Refused>,
    late: Option<Late>,
}

pub(super) fn start(args: &RunArgs, cfg: &Config) -> Result<(Daemon, Sources), Error> {
    let hostname =
        nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let settings = Settings::merge(args, cfg, hostname.clone());
    let paths = resolve_sockets(settings.sockets.as_deref())?;
    // Checked before audit is touched: a usage error changes nothing.
    let metrics_file = settings.metrics_file.as_deref().map(MetricsFile::new).transpose()?;
    if let Some(m) = metrics_file.as_ref().filter(|m| !m.directory_exists()) {
        warn!(
            "metrics file {}: its directory does not exist (yet); writes are retried every {} s until it does (node_exporter's --collector.textfile.directory)",
            m.path().display(),
            crate::core::metrics::WRITE_EVERY.as_secs()
        );
    }
    let outputs = Outputs::open(&settings.outputs, &settings.output)?;
    // Said, not refused: the same configuration may add a JSON output later.
    if settings.output.format != crate::io::output::Format::Native
        && !settings.outputs.iter().any(|o| matches!(o, OutputSpec::Stdout | OutputSpec::Jsonl(_)))
    {
        warn!(
            "--format {} shapes only the stdout and jsonl outputs, and none is configured: the journal and syslog stay native",
            clap::ValueEnum::to_possible_value(&settings.output.format)
                .map_or_else(String::new, |v| v.get_name().to_string())
        );
    }
    let (signals, intake, procs) = open_sources(settings.unicast)?;
    let taken = take_audit(&settings, &paths)?;
    let x32 = crate::io::x32::probe();
    let (host_ns, reference) = proc::host_reference();
    if reference == proc::Reference::Kthreadd {
        info!("host namespaces taken from kthreadd (PID 2): PID 1's are unreadable");
    }
    let watched = watch_sockets(&paths);
    let health_on_stderr = journal_stream::health_on_stderr(
        crate::io::log::stderr_is_journal(),
        settings.outputs.contains(&OutputSpec::Journald),
    );
    if !health_on_stderr {
        info!(
            "stderr is the journal: health events go there once, as the journald output's entries"
        );
    }
    // The kernel's lost counter as found: its increase is what counts, and the
    // counters' log must not take it for a change.
    let stats = Stats { kernel_lost: u64::from(taken.status.lost), ..Stats::default() };
    let mut daemon = Daemon {
        watched,
        outputs,
        reported: stats.clone(),
        stats,
        assembler: Assembler::new(EVENT_TIMEOUT, MAX_IN_FLIGHT),
        hostname,
        closed: Vec::new(),
        spare_bodies: Vec::new(),
        attributor: Attributor::new(LINEAGE, settings.namespace_fallback),
        meta: MetaCache::new(
            settings.docker_root.clone(),
            settings.storage_root.clone(),
            settings.containerd_state.clone(),
        ),
        allow: settings.allow.clone(),
        dedup: Dedup::new(settings.dedup_window),
        emitted: Vec::new(),
        stats_due: None,
        metrics: metrics_file.map(|f| {
            super::metrics::Metrics::new(f, crate::io::clock::unix_secs() as u64, Instant::now())
        }),
        socket_owners: settings.socket_owners.clone(),
        keeper: Keeper::new(
            taken.guard,
            paths.clone(),
            &settings,
            taken.rules,
            &taken.refused,
            taken.status.lost,
        ),
        proc: LiveProc::new(host_ns),
        stalls: report::Stalls::new(Instant::now()),
        health_on_stderr,
        responder: settings
            .respond
            .active()
            .then(|| super::respond::Responder::new(settings.respond)),
        meta_after_response: settings.respond.active()
            && !crate::core::allow::needs_metadata(&settings.allow),
    };
    // Every series at 0 before anything is counted, start-up health events
    // included: a series first seen above 0 has no earlier sample, and
    // increase() would miss what raised it.
    daemon.write_metrics(true, Instant::now());
    let _ = notify::notify("READY=1");
    info!(
        "ready: {} rule(s) added by this run, outputs: {}, de-duplication window {:?}, {} allow rule(s)",
        daemon.keeper.audit.added.len(),
        daemon.outputs.describe(),
        settings.dedup_window,
        settings.allow.len()
    );
    warn_mutable_allow(&settings.allow);
    let health = daemon.start_health(reference, taken.late, &taken.refused, x32);
    daemon.report(health);
    daemon.attributor.tracking = procs.is_some();
    let files = open_fswatch(&paths, settings.sockets.is_none());
    Ok((daemon, Sources { intake, signals, procs, files }))
}

/// Signals, then the audit intake (before any rule is loaded, so no event falls
/// in between), then process events (before any connect, so the fork table is
/// warm; without them clients that exit at once may go unattributed).
fn open_sources(unicast: bool) -> Result<(Signals, Intake, Option<ProcEvents>), Error> {
    let signals =
        Signals::open(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGUSR1])
            .context("cannot set up signal handling")?;
    let intake = if unicast {
        Intake::open_unicast().context("--audit-mode unicast")?
    } else {
        Intake::open()?
    };
    let procs = match ProcEvents::open() {
        Ok(p) => Some(p),
        Err(e) => {
            warn!(
                "no process events ({e}): clients that exit at once may be reported with an unknown container"
            );
            None
        }
    };
    Ok((signals, intake, procs))
}

/// Loads the rules, raises the backlog limit and turns audit on, each undone on
/// exit. A path rule is taken only while the socket's directory exists; the
/// others are loaded when it appears (the keeper, woken by fanotify).
fn take_audit(settings: &Settings, paths: &[String]) -> Result<Taken, Error> {
    let mut ctl = open_control()?;
    let status = audit_rules::status(&mut ctl)?;
    let present: Vec<String> = paths.iter().filter(|p| sockets::dir_exists(p)).cloned().collect();
    let rules = rule_set(&present, abi::native());
    for p in paths.iter().filter(|p| !present.contains(p)) {
        debug!("{p}: its directory does not exist yet; its rules are loaded once it does");
    }
    let mut guard = AuditGuard {
        ctl,
        added: Vec::new(),
        enabled_by_us: false,
        backlog_was: None,
        rules_file: settings.rules_file.clone(),
    };
    let mut refused = Vec::new();
    if !settings.no_rules {
        (guard.added, refused) = install(&mut guard.ctl, &rules, status.enabled)?;
    }
    raise_backlog(&mut guard, &status);
    let mut late = None;
    if status.enabled == 0 {
        guard.ctl.set_enabled(1).context("cannot turn audit on")?;
        guard.enabled_by_us = true;
        info!("audit was off; turned it on (it is turned off again on exit)");
        let cmdline_audit = blind::cmdline_audit(&proc::kernel_cmdline());
        if blind::may_be_enabled_late(cmdline_audit.as_deref()) {
            // Every container process alive now started before this moment.
            let running =
                blind::containers_started(&proc::processes(), None, proc::boot_ticks_now());
            late = Some((cmdline_audit, running));
        }
    }
    Ok(Taken { guard, status, rules, refused, late })
}

/// Loads every rule that is not loaded yet and returns those this run added, and
/// the optional rules the kernel refused, with why. With a locked configuration
/// nothing can be loaded, which is fine only if the rules are there already.
fn install(
    ctl: &mut Control,
    rules: &[RuleSpec],
    enabled: u32,
) -> Result<(Vec<RuleSpec>, Vec<Refused>), Error> {
    if enabled == 2 {
        let (have, _) = loaded(ctl, rules)?;
        if rules.iter().zip(&have).any(|(r, h)| !h && is_required(r)) {
            ensure_unlocked(&ctl.status()?)?;
        }
        warn!(
            "the audit configuration is locked (enabled=2) until reboot: using the rules already loaded; \
             sockwatch cannot add, remove or restore rules, change the backlog limit, or switch audit on or off"
        );
        return Ok((Vec::new(), Vec::new()));
    }
    let outcomes = load_missing(ctl, rules)?;
    let mut refused = Vec::new();
    let added: Vec<RuleSpec> = rules
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == Load::Added)
        .map(|(r, _)| r.clone())
        .collect();
    for (r, outcome) in rules.iter().zip(&outcomes) {
        match outcome {
            Load::Added => debug!("added rule: {}", r.describe()),
            Load::AlreadyLoaded => {
                info!("rule already loaded (left in place on exit): {}", r.describe())
            }
            Load::Refused(why) if is_required(r) => {
                cleanup(ctl, &added, false);
                return Err(Error::msg(format!(
                    "the kernel refused the rule {}: {why}",
                    r.describe()
                )));
            }
            Load::Refused(why) => {
                warn!("the kernel refused {}: {why}; continuing without it", r.describe());
                refused.push((r.clone(), why.clone()));
            }
        }
    }
    Ok((added, refused))
}

/// Bursts need a longer queue than the kernel's default; put back on exit.
fn raise_backlog(guard: &mut AuditGuard, st: &Status) {
    if st.backlog_limit >= BACKLOG_LIMIT || st.enabled == 2 {
        return;
    }
    match guard.ctl.set_backlog_limit(BACKLOG_LIMIT) {
        Ok(()) => {
            guard.backlog_was = Some(st.backlog_limit);
            info!(
                "raised audit's backlog limit from {} to {BACKLOG_LIMIT} (restored on exit)",
                st.backlog_limit
            );
        }
        Err(e) => warn!(
            "cannot raise audit's backlog limit from {} ({e}): bursts may lose records",
            st.backlog_limit
        ),
    }
}

fn watch_sockets(paths: &[String]) -> Vec<WatchedSocket> {
    let watched = sockets::watch(paths);
    for w in &watched {
        info!(
            "watching {} ({})",
            w.path,
            w.id.map_or("absent for now".into(), |f| format!(
                "dev {:02x}:{:02x} inode {}",
                f.major, f.minor, f.inode
            ))
        );
    }
    watched
}

/// Allow entries that rest only on what whoever starts a container chooses (an
/// image tag, a name, a label, a path inside it) allow an attacker who copies
/// them: said at start, one line each.
fn warn_mutable_allow(allow: &[crate::core::allow::AllowRule]) {
    for (i, _) in allow.iter().enumerate().filter(|(_, r)| r.only_mutable()) {
        warn!(
            "allow[{i}] matches only on what whoever starts a container chooses (an image tag, a name, a label, an executable's path inside it): a container made to look the same is allowed too; add image_id (docker inspect -f '{{{{.Image}}}}' CONTAINER) or container_id"
        );
    }
}

/// fanotify on the sockets and their directories; without it, permission
/// changes and replaced sockets go unseen (detection of connects does not need
/// it).
fn open_fswatch(paths: &[String], default_set: bool) -> Option<FsWatch> {
    match FsWatch::open(paths) {
        Ok(mut w) => {
            if default_set {
                // The default set grows with each user whose runtime directory
                // appears (rootless Docker and Podman).
                w.watch_users();
            }
            Some(w)
        }
        Err(e) => {
            warn!("no fanotify ({e}): permission changes and replaced sockets will not be seen");
            None
        }
    }
}

impl Daemon {
    /// What start-up found that may leave sockwatch blind, as health events.
    fn start_health(
        &mut self,
        reference: proc::Reference,
        late: Option<Late>,
        refused: &[Refused],
        x32: X32,
    ) -> Vec<Health> {
        let mut health = Vec::new();
        match reference {
            proc::Reference::Pid1 | proc::Reference::Kthreadd => {}
            proc::Reference::None => health.push(self.health(
                Event::HostNamespacesUnknown,
                Level::Warning,
                "neither PID 1's nor kthreadd's namespaces can be read (needs CAP_SYS_PTRACE): no process counts as being in the host's mount namespace, a runtime monitor is believed only if its program is the very file installed on the host, and clients that exit at once may be reported with an unknown container".into(),
            )),
        }
        if let Some((cmdline_audit, containers)) = late {
            let (names, n) = self.containers_json(containers);
            health.push(
                self.health(
                    Event::AuditEnabledLate,
                    Level::Warning,
                    format!(
                        "audit was off and sockwatch turned it on, and the kernel command line has no audit=1: a process that started before audit was first switched on since boot has no audit context, so its connects are never seen; {n} container(s) have such processes (restart them to have them audited); add audit=1 to the kernel command line (GRUB_CMDLINE_LINUX)"
                    ),
                )
                .with("cmdline_audit", cmdline_audit)
                .with("containers", names)
                .with("containers_total", n),
            );
        }
        if !refused.is_empty() {
            health.push(refused_health(refused, &|e, l, m| self.health(e, l, m)));
        }
        match x32 {
            X32::Enabled => health.push(self.health(
                Event::X32Enabled,
                Level::Warning,
                "this kernel runs x32 system calls, and no audit syscall rule matches one (their numbers are above 2048): a connect made through the x32 ABI is invisible; disable x32 (syscall.x32=n on Debian kernels, or a kernel without CONFIG_X86_X32_ABI)".into(),
            )),
            X32::Unknown => warn!("cannot tell whether this kernel runs x32 system calls (the probe was stopped and no kernel configuration was found); x32 connects would be invisible"),
            X32::Disabled => {}
        }
        health
    }
}
