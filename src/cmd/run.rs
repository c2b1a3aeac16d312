//! `sockwatch run`: the daemon. One thread, one mio `Poll`, a named token per
//! source. Timers are armed only while there is something to do (an event
//! waiting for its EOE, a de-duplication window, a queued output, counters to
//! log), except the slow audit-state backstop poll (once a minute).

use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::Signal;

use crate::cli::RunArgs;
use crate::config::{Config, Settings};
use crate::core::abi;
use crate::core::allow::{self, AllowRule};
use crate::core::assemble::{Assembler, Close, Event};
use crate::core::blind::{self, TASK_NEVER_SOURCE};
use crate::core::connect::{self, ConnectEvent, SockAddr};
use crate::core::dedup::Dedup;
use crate::core::detect::{self, FileId, Skip, WatchedSocket};
use crate::core::finding::Finding;
use crate::core::finding::{self, Extra};
use crate::core::health::{Health, Level as HealthLevel};
use crate::core::origin::{Attributor, By, Origin};
use crate::core::record::{Record, types};
use crate::core::rules::{BACKLOG_LIMIT, RuleSpec, rule_set};
use crate::core::signature::{SOCKET_PERMISSIONS, SOCKET_REPLACED, SOCKET_WORLD_WRITABLE};
use crate::core::stats::Stats;
use crate::io::clock;
use crate::io::fswatch::{self, FsWatch};
use crate::io::intake::{Intake, Read};
use crate::io::netlink::Control;
use crate::io::output::{Outputs, Report};
use crate::io::proc::{self, LiveProc};
use crate::io::procevents::{ProcEvents, Read as ProcRead};
use crate::io::runtime_meta::MetaCache;
use crate::io::signals::Signals;
use crate::io::{notify, sockets};
use crate::{debug, error, info, warn};

use super::resolve_sockets;
use crate::core::rules::is_required;
use crate::error::{Context, Error};
use crate::io::audit_rules::{
    self, Load, ensure_unlocked, load_missing, loaded, open_control, remove_duplicates,
};

const AUDIT: Token = Token(0);
const SIGNAL: Token = Token(1);
const PROC: Token = Token(2);
const FILES: Token = Token(3);

/// Records of one event arrive within microseconds; an event without EOE after
/// this long is closed as it is.
const EVENT_TIMEOUT: Duration = Duration::from_millis(500);
const MAX_IN_FLIGHT: usize = 4096;
/// Datagrams read per wakeup before signals get a look in.
const READ_BATCH: usize = 4096;
/// The counters are logged this long after they first change since the last
/// report (and on SIGUSR1 and at exit); an idle daemon logs nothing and wakes for
/// nothing.
const STATS_EVERY: Duration = Duration::from_secs(600);
/// The audit state is also checked this often when no CONFIG_CHANGE record asked
/// for it: a backstop for a change whose record was lost.
const AUDIT_POLL: Duration = Duration::from_secs(60);
/// Checks asked for by directories appearing or going, at most this often.
const DIR_CHECK_EVERY: Duration = Duration::from_millis(200);
/// How often the audit state is checked while audit is off and left off.
const BLIND_POLL: Duration = Duration::from_secs(1);
/// ENOBUFS losses are reported at most this often.
const ENOBUFS_EVERY: Duration = Duration::from_secs(10);
/// Processes remembered for attribution (parents of the dead, pid -> container).
const LINEAGE: usize = 65_536;
/// Datagrams still read after SIGTERM, at most: systemd's stop timeout must not
/// run out (and SIGKILL would leave the rules behind).
const SHUTDOWN_DRAIN: usize = 100_000;

pub fn main(args: &RunArgs, cfg: &Config) -> Result<ExitCode, Error> {
    let hostname =
        nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let settings = Settings::merge(args, cfg, hostname.clone())?;
    let paths = resolve_sockets(settings.sockets.as_deref())?;
    let specs = settings.outputs.clone();
    let outputs = Outputs::open(&specs, &settings.output)?;
    let signals =
        Signals::open(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGUSR1])
            .context("cannot set up signal handling")?;
    // Open the intake before loading rules, so no event falls in between.
    let intake = if settings.unicast {
        Intake::open_unicast().context("--audit-mode unicast")?
    } else {
        Intake::open()?
    };
    // Process events before any connect, so the fork table is warm.
    let procevents = match ProcEvents::open() {
        Ok(p) => Some(p),
        Err(e) => {
            warn!(
                "no process events ({e}): clients that exit at once may be reported with an unknown container"
            );
            None
        }
    };
    let mut ctl = open_control()?;
    let st = audit_rules::status(&mut ctl)?;

    // A path rule is taken only while the socket's directory exists; the others
    // are loaded when it appears (the keeper, woken by fanotify).
    let present: Vec<String> = paths.iter().filter(|p| sockets::dir_exists(p)).cloned().collect();
    let rules = rule_set(&present, abi::native());
    for p in paths.iter().filter(|p| !present.contains(p)) {
        debug!("{p}: its directory does not exist yet; its rules are loaded once it does");
    }
    let mut audit = AuditGuard { ctl, added: Vec::new(), enabled_by_us: false, backlog_was: None };
    let mut refused = Vec::new();
    if !settings.no_rules {
        (audit.added, refused) = install(&mut audit.ctl, &rules, st.enabled)?;
    }
    if st.backlog_limit < BACKLOG_LIMIT && st.enabled != 2 {
        match audit.ctl.set_backlog_limit(BACKLOG_LIMIT) {
            Ok(()) => {
                audit.backlog_was = Some(st.backlog_limit);
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
    let mut late = None;
    if st.enabled == 0 {
        audit.ctl.set_enabled(1).context("cannot turn audit on")?;
        audit.enabled_by_us = true;
        info!("audit was off; turned it on (it is turned off again on exit)");
        let cmdline_audit = blind::cmdline_audit(&proc::kernel_cmdline());
        if blind::may_be_enabled_late(cmdline_audit.as_deref()) {
            // Every container process alive now started before this moment.
            late = Some((
                cmdline_audit,
                blind::containers_started(&proc::processes(), None, proc::boot_ticks_now()),
            ));
        }
    }
    let x32 = crate::io::x32::probe();
    let (host_ns, reference) = proc::host_reference();
    let host_ns_health = match reference {
        proc::Reference::Pid1 => None,
        proc::Reference::Kthreadd => {
            info!("host namespaces taken from kthreadd (PID 2): PID 1's are unreadable");
            None
        }
        proc::Reference::None => Some(Health::new(
            clock::now_micros(),
            "host_namespaces_unknown",
            HealthLevel::Warning,
            "neither PID 1's nor kthreadd's namespaces can be read (needs CAP_SYS_PTRACE): no process counts as being in the host's mount namespace, a runtime monitor is believed only if its program is the very file installed on the host, and clients that exit at once may be reported with an unknown container".into(),
            &hostname,
        )),
    };
    let watched = sockets::watch(&paths);
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
    let mut daemon = Daemon {
        watched,
        outputs,
        stats: Stats::default(),
        assembler: Assembler::new(EVENT_TIMEOUT, MAX_IN_FLIGHT),
        hostname,
        closed: Vec::new(),
        attributor: Attributor::new(LINEAGE, settings.namespace_fallback),
        meta: MetaCache::new(
            settings.docker_root.clone(),
            settings.storage_root.clone(),
            settings.containerd_state.clone(),
        ),
        allow: settings.allow.clone(),
        dedup: Dedup::new(settings.dedup_window),
        emitted: Vec::new(),
        reported: Stats::default(),
        stats_due: None,
        socket_owners: settings.socket_owners.clone(),
        keeper: Keeper {
            audit,
            sockets: paths.clone(),
            no_rules: settings.no_rules,
            wanted_before: rules.clone(),
            refused_reported: refused.iter().map(|(r, _)| r.clone()).collect(),
            remove_task_never: settings.remove_task_never,
            task_never_seen: Vec::new(),
            last_check_ticks: None,
            // Those there at start have long settled.
            users: sockets::user_ids()
                .into_iter()
                .map(|u| {
                    (
                        u,
                        UserDir {
                            seen: Instant::now(),
                            mounted: sockets::user_dir_is_mount(u).unwrap_or(false),
                            ready: true,
                        },
                    )
                })
                .collect(),
            users_due: None,
            announced: Vec::new(),
            dir_check: false,
            dir_check_not_before: Instant::now(),
            fan_overflows: 0,
            keep_audit_state: settings.keep_audit_state,
            // The first turn checks at once: a task-list never rule must be
            // reported at start.
            check: true,
            next_poll: Instant::now() + AUDIT_POLL,
            lost: st.lost,
            enobufs_reported: 0,
            enobufs_next: Instant::now(),
            blind: false,
            unicast: settings.unicast,
            lost_registration: false,
            missing_reported: false,
            dedup_not_before: Instant::now(),
        },
        proc: LiveProc::new(host_ns),
    };
    let _ = notify::notify("READY=1");
    info!(
        "ready: {} rule(s) added by this run, outputs: {}, de-duplication window {:?}, {} allow rule(s)",
        daemon.keeper.audit.added.len(),
        daemon.outputs.describe(),
        settings.dedup_window,
        settings.allow.len()
    );

    let mut start_health: Vec<Health> = host_ns_health.into_iter().collect();
    if let Some((cmdline_audit, containers)) = late {
        let (names, n) = daemon.containers_json(containers);
        start_health.push(
            daemon.health(
                "audit_enabled_late",
                HealthLevel::Warning,
                format!(
                    "audit was off and sockwatch turned it on, and the kernel command line has no audit=1: a process that started before audit was first switched on since boot has no audit context, so its connects are never seen; {} container(s) have such processes (restart them to have them audited); add audit=1 to the kernel command line (GRUB_CMDLINE_LINUX)",
                    n
                ),
            )
            .with("cmdline_audit", cmdline_audit)
            .with("containers", names)
            .with("containers_total", n),
        );
    }
    if !refused.is_empty() {
        start_health.push(refused_health(&daemon.hostname, &refused));
    }
    match x32 {
        blind::X32::Enabled => start_health.push(daemon.health(
            "x32_enabled",
            HealthLevel::Warning,
            "this kernel runs x32 system calls, and no audit syscall rule matches one (their numbers are above 2048): a connect made through the x32 ABI is invisible; disable x32 (syscall.x32=n on Debian kernels, or a kernel without CONFIG_X86_X32_ABI)".into(),
        )),
        blind::X32::Unknown => warn!("cannot tell whether this kernel runs x32 system calls (the probe was stopped and no kernel configuration was found); x32 connects would be invisible"),
        blind::X32::Disabled => {}
    }
    daemon.report(start_health);
    daemon.attributor.tracking = procevents.is_some();
    let fswatch = match FsWatch::open(&paths) {
        Ok(mut w) => {
            if settings.sockets.is_none() {
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
    };
    let result = daemon.run(intake, signals, procevents, fswatch);

    let _ = notify::notify("STOPPING=1");
    daemon.flush();
    info!("stopped: {}", daemon.stats);
    // Dropping the daemon drops its AuditGuard: the rules it added go, audit is
    // turned back off if it was off.
    drop(daemon);
    result.map(|()| ExitCode::SUCCESS)
}

impl Keeper {
    /// The rules this run needs loaded now.
    fn wanted(&self) -> Vec<RuleSpec> {
        if self.no_rules {
            return Vec::new();
        }
        // A user's sockets wait until their runtime directory is ready (see
        // `core::runtimes::user_dir_ready`).
        let ready = |p: &String| {
            crate::core::runtimes::user_of(p)
                .is_none_or(|u| self.users.get(&u).is_some_and(|d| d.ready))
        };
        let present: Vec<String> =
            self.sockets.iter().filter(|p| sockets::dir_exists(p) && ready(p)).cloned().collect();
        rule_set(&present, abi::native())
    }

    /// A user's runtime directory appeared (or appeared again): it settles
    /// before its sockets get rules and marks.
    fn user_appeared(&mut self, uid: u32, now: Instant) {
        self.users.insert(uid, UserDir { seen: now, mounted: false, ready: false });
        self.users_due = Some(now);
    }

    /// Looks at the users' runtime directories still settling (or going): returns
    /// the sockets of those that became ready, whose watch must be armed again.
    fn settle_users(&mut self, now: Instant) -> Vec<String> {
        const LOOK_EVERY: Duration = Duration::from_millis(50);
        let mut rearm = Vec::new();
        let mut due: Option<Instant> = None;
        let mut gone = Vec::new();
        for (uid, d) in self.users.iter_mut() {
            let Some(is_mount) = sockets::user_dir_is_mount(*uid) else {
                gone.push(*uid);
                continue;
            };
            let unmounted = d.mounted && !is_mount;
            d.mounted |= is_mount;
            let ready = crate::core::runtimes::user_dir_ready(
                is_mount,
                unmounted,
                now.saturating_duration_since(d.seen),
            );
            if ready && !d.ready {
                rearm.extend(crate::core::runtimes::rootless(*uid));
            }
            d.ready = ready;
            if !ready && !unmounted {
                due = Some(due.map_or(now + LOOK_EVERY, |t| t.min(now + LOOK_EVERY)));
            }
        }
        for uid in gone {
            self.users.remove(&uid);
        }
        if !rearm.is_empty() {
            // Rules loaded now are the sockets appearing, not a restore.
            self.wanted_before
                .retain(|r| !matches!(r, RuleSpec::Connect { path, .. } if rearm.contains(path)));
            self.check = true;
        }
        self.users_due = due;
        rearm
    }

    /// Another loader (augenrules, `auditctl -R`) loaded a copy of a rule this run
    /// had loaded: the kernel never refuses a duplicate of a rule added first on
    /// its list. One copy is enough, and it is the other loader's now, so it stays
    /// when sockwatch exits. Only rules this run owns are touched, and after a
    /// removal it pauses (longer or shorter per process): two sockwatch instances
    /// that both re-added the same rules must not both remove a copy, each time.
    fn hand_over_duplicates(
        &mut self,
        now: Instant,
        health: &mut Vec<Health>,
        h: &impl Fn(&'static str, HealthLevel, String) -> Health,
    ) {
        if now < self.dedup_not_before {
            // Copies that arrive meanwhile are looked at when the pause ends.
            self.next_poll = self.next_poll.min(self.dedup_not_before);
            return;
        }
        let owned: Vec<RuleSpec> =
            self.wanted().into_iter().filter(|r| self.audit.added.contains(r)).collect();
        match remove_duplicates(&mut self.audit.ctl, &owned) {
            Ok(handed) if !handed.is_empty() => {
                for (r, n) in handed {
                    self.audit.added.retain(|a| *a != r);
                    info!(
                        "{} was loaded {n} time(s) more by another loader: removed the extra copies; it stays loaded when sockwatch exits",
                        r.describe()
                    );
                }
                let jitter = u64::from(std::process::id()).wrapping_mul(7919) % 1000;
                self.dedup_not_before = now + Duration::from_millis(500 + jitter);
            }
            Ok(_) => {}
            Err(e) => health.push(h("rules_unreadable", HealthLevel::Error, e.to_string())),
        }
    }
}

/// What this run changed in the kernel's audit state, undone when it is dropped:
/// on a clean exit, on an error return during start-up, and on a panic alike.
struct AuditGuard {
    ctl: Control,
    added: Vec<RuleSpec>,
    enabled_by_us: bool,
    /// The backlog limit before this run raised it.
    backlog_was: Option<u32>,
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        // An audit daemon registered since (auditd started) owns the audit state
        // now: leave its enabled flag and backlog limit alone.
        let other_daemon =
            self.ctl.status().is_ok_and(|s| s.pid != 0 && s.pid != std::process::id());
        cleanup(&mut self.ctl, &self.added, self.enabled_by_us && !other_daemon);
        if let Some(was) = self.backlog_was.filter(|_| !other_daemon) {
            // Only if nobody changed it since.
            if self.ctl.status().is_ok_and(|s| s.backlog_limit == BACKLOG_LIMIT) {
                if let Err(e) = self.ctl.set_backlog_limit(was) {
                    error!("cannot restore audit's backlog limit to {was}: {e}");
                }
            }
        }
    }
}

/// Loads every rule that is not loaded yet and returns those this run added. With
/// a locked configuration nothing can be loaded, which is fine only if the rules
/// are there already.
/// Also returns the optional rules the kernel refused, with why.
/// A rule the kernel refused, and its error.
type Refused = (RuleSpec, String);

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

/// The health event for optional rules the kernel refused: what is now unseen.
fn refused_health(hostname: &str, refused: &[Refused]) -> Health {
    let what: Vec<String> = refused
        .iter()
        .map(|(r, why)| {
            format!("{} ({why}): {} are not seen", r.describe(), blind::invisible_without(r))
        })
        .collect();
    let mut invisible: Vec<&str> =
        refused.iter().map(|(r, _)| blind::invisible_without(r)).collect();
    invisible.sort_unstable();
    invisible.dedup();
    Health::new(
        clock::now_micros(),
        "rules_refused",
        HealthLevel::Warning,
        format!("the kernel refused {} rule(s): {}", refused.len(), what.join("; ")),
        hostname,
    )
    .with("rules", refused.iter().map(|(r, _)| r.describe()).collect::<Vec<_>>())
    .with("errors", refused.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>())
    .with("invisible", invisible)
}

/// Removes exactly the rules this run added, and turns audit off again if this run
/// turned it on and it is still on.
fn cleanup(ctl: &mut Control, added: &[RuleSpec], enabled_by_us: bool) {
    for r in added {
        if let Err(e) = ctl.del_rule(&r.message()) {
            if e.kind() != std::io::ErrorKind::NotFound {
                error!("cannot remove rule {}: {e}", r.describe());
            }
        }
    }
    if enabled_by_us && ctl.status().is_ok_and(|s| s.enabled == 1) {
        if let Err(e) = ctl.set_enabled(0) {
            error!("cannot turn audit back off: {e}");
        }
    }
}

struct Daemon {
    watched: Vec<WatchedSocket>,
    outputs: Outputs,
    stats: Stats,
    assembler: Assembler,
    hostname: String,
    closed: Vec<Event>,
    attributor: Attributor,
    meta: MetaCache,
    allow: Vec<AllowRule>,
    dedup: Dedup,
    /// Findings on their way to the outputs, reused between turns.
    emitted: Vec<Finding>,
    /// The counters as last logged, and when they are next due.
    reported: Stats,
    stats_due: Option<Instant>,
    /// Programs that may re-create the watched sockets.
    socket_owners: Vec<String>,
    keeper: Keeper,
    /// /proc, with the host's namespaces as read at start.
    proc: LiveProc,
}

/// Keeps audit working while the host changes it: CONFIG_CHANGE records (and a
/// slow poll, as a backstop) trigger a check of the enabled flag, the rules and
/// the lost counter; what it finds and does becomes a health event.
/// A user's runtime directory, /run/user/UID.
struct UserDir {
    /// When it appeared.
    seen: Instant,
    /// It has been seen as a mount point.
    mounted: bool,
    /// Its sockets carry rules and marks.
    ready: bool,
}

struct Keeper {
    audit: AuditGuard,
    /// Every watched socket; the rules of those whose directory exists are
    /// loaded (none with --no-rules).
    sockets: Vec<String>,
    no_rules: bool,
    /// The rules wanted at the last check: one wanted again after it went is
    /// restored; one wanted for the first time is a socket directory that appeared.
    wanted_before: Vec<RuleSpec>,
    /// Optional rules the kernel refused, reported once.
    refused_reported: Vec<RuleSpec>,
    /// Delete task-list never rules (--remove-task-never).
    remove_task_never: bool,
    /// The task-list never rules present at the last check (their bytes).
    task_never_seen: Vec<Vec<u8>>,
    /// When the last check ran, in clock ticks since boot.
    last_check_ticks: Option<u64>,
    /// Sockets whose appearance was reported (`socket_watched`), once each.
    announced: Vec<String>,
    /// A directory on the way to a socket changed: the rules are checked, at
    /// most every `DIR_CHECK_EVERY`.
    dir_check: bool,
    dir_check_not_before: Instant,
    /// fanotify queue overflows, reported at powers of two.
    fan_overflows: u64,
    /// Users' runtime directories whose rootless sockets are watched.
    users: std::collections::BTreeMap<u32, UserDir>,
    /// When the directories still settling are looked at next.
    users_due: Option<Instant>,
    keep_audit_state: bool,
    /// A CONFIG_CHANGE record asked for a check.
    check: bool,
    next_poll: Instant,
    /// The kernel's lost counter at the last check.
    lost: u32,
    /// ENOBUFS losses already reported, and when the next report may go.
    enobufs_reported: u64,
    enobufs_next: Instant,
    /// Audit is off and left off (--keep-audit-state): reported once.
    blind: bool,
    /// Registered as the audit daemon; and whether losing that was reported.
    unicast: bool,
    lost_registration: bool,
    /// Required rules that cannot be loaded were reported (until they load).
    missing_reported: bool,
    /// Duplicates are not removed before this (see `hand_over_duplicates`).
    dedup_not_before: Instant,
}

impl Daemon {
    fn run(
        &mut self,
        mut intake: Intake,
        mut signals: Signals,
        mut procs: Option<ProcEvents>,
        mut files: Option<FsWatch>,
    ) -> Result<(), Error> {
        let mut poll = Poll::new().context("cannot create the event loop")?;
        let reg = poll.registry();
        reg.register(&mut SourceFd(&intake.as_raw_fd()), AUDIT, Interest::READABLE)
            .context("cannot poll the audit socket")?;
        reg.register(&mut SourceFd(&signals.as_raw_fd()), SIGNAL, Interest::READABLE)
            .context("cannot poll signals")?;
        if let Some(p) = &procs {
            reg.register(&mut SourceFd(&p.as_raw_fd()), PROC, Interest::READABLE)
                .context("cannot poll process events")?;
        }
        if let Some(f) = &files {
            reg.register(&mut SourceFd(&f.as_raw_fd()), FILES, Interest::READABLE)
                .context("cannot poll fanotify")?;
        }
        let mut events = Events::with_capacity(16);
        let mut backlog = false;
        let mut proc_backlog = false;
        let mut files_backlog = false;
        loop {
            if proc_backlog {
                proc_backlog = self.read_proc_events(&mut procs);
            }
            let timeout = if backlog || proc_backlog || files_backlog {
                Some(Duration::ZERO)
            } else {
                [
                    self.assembler.next_deadline(),
                    self.dedup.next_deadline(),
                    self.outputs.next_retry(),
                    self.outputs.next_sync(),
                    self.stats_due,
                    Some(self.keeper.next_poll),
                    self.keeper.users_due,
                    self.keeper.dir_check.then_some(self.keeper.dir_check_not_before),
                    (self.stats.lost_enobufs > self.keeper.enobufs_reported)
                        .then_some(self.keeper.enobufs_next),
                ]
                .into_iter()
                .flatten()
                .min()
                .map(|d| d.saturating_duration_since(Instant::now()))
            };
            if let Err(e) = poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::msg(format!("event loop: {e}")));
            }
            let mut audit_ready = backlog;
            for ev in events.iter() {
                match ev.token() {
                    AUDIT => audit_ready = true,
                    PROC => proc_backlog = self.read_proc_events(&mut procs),
                    FILES => files_backlog = true,
                    SIGNAL => {
                        while let Some(sig) = signals.pending().context("reading signals")? {
                            match sig {
                                Signal::SIGTERM | Signal::SIGINT => {
                                    info!("{sig}: shutting down");
                                    // What is already queued is still ours to report, within
                                    // reason: on a busy host the queue never runs dry.
                                    self.drain(&mut intake, SHUTDOWN_DRAIN)?;
                                    return Ok(());
                                }
                                Signal::SIGHUP => self.reopen_outputs(),
                                Signal::SIGUSR1 => info!("stats: {}", self.stats),
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            if files_backlog {
                files_backlog = false;
                if let Some(f) = files.as_mut() {
                    match f.read() {
                        Ok((changes, more)) => {
                            files_backlog = more;
                            for p in self.on_file_changes(changes) {
                                f.add(&p);
                            }
                        }
                        Err(e) => {
                            error!("fanotify failed ({e}); continuing without it");
                            files = None;
                        }
                    }
                }
            }
            if audit_ready {
                // Forks that happened before the connects just queued must be known
                // first: read the (cheap) process events, then the records.
                proc_backlog = self.read_proc_events(&mut procs);
                backlog = self.drain(&mut intake, READ_BATCH)?;
            }
            let now = Instant::now();
            self.assembler.expire(now, &mut self.closed);
            self.handle_closed();
            if self.keeper.users_due.is_some_and(|t| now >= t) {
                for p in self.keeper.settle_users(now) {
                    if let Some(f) = files.as_mut() {
                        let changes = f.rearm(&p);
                        for extra in self.on_file_changes(changes) {
                            f.add(&extra);
                        }
                    }
                }
                let changed = sockets::refresh(&mut self.watched);
                self.socket_changes(changed);
            }
            if self.keeper.dir_check && now >= self.keeper.dir_check_not_before {
                // Directory churn (a user's mkdir and rmdir in a loop) costs at
                // most one check per DIR_CHECK_EVERY.
                self.keeper.dir_check = false;
                self.keeper.dir_check_not_before = now + DIR_CHECK_EVERY;
                self.keeper.check = true;
            }
            if self.keeper.check || now >= self.keeper.next_poll {
                self.keep_audit(now);
            }
            if self.stats.lost_enobufs > self.keeper.enobufs_reported
                && now >= self.keeper.enobufs_next
            {
                self.report_enobufs(now);
            }
            self.dedup.expire(now, &mut self.emitted);
            self.emit();
            self.outputs.retry(now, false);
            self.outputs.sync_when_due(now);
            self.stats.output_errors = self.outputs.counters.failed;
            self.stats.output_dropped = self.outputs.counters.dropped;
            self.periodic_stats(now);
        }
    }

    /// Reads queued process events (at most a batch; returns whether more may be
    /// waiting). A broken connector is closed, not fatal: attribution carries on
    /// with /proc and the record's ppid alone.
    fn read_proc_events(&mut self, procs: &mut Option<ProcEvents>) -> bool {
        let Some(p) = procs.as_mut() else { return false };
        for _ in 0..READ_BATCH {
            match p.read() {
                Ok(Some(ProcRead::Event(ev))) => self.attributor.apply(ev),
                Ok(Some(ProcRead::Lost)) => {
                    // Forks were missed: cached pids may have been reused since.
                    self.attributor.reset();
                    self.stats.lost_proc_events += 1;
                    // A health event the first time and then at powers of two: a
                    // host forking faster than sockwatch reads must not flood.
                    if self.stats.lost_proc_events.is_power_of_two() {
                        let n = self.stats.lost_proc_events;
                        let ev = self
                            .health(
                                "process_events_lost",
                                HealthLevel::Warning,
                                format!("process events were lost (ENOBUFS on the process connector, {n} time(s) so far): the fork and exec history was cleared, so a client that exits at once may be reported with an unknown container until it is rebuilt"),
                            )
                            .with("times", n);
                        self.report(vec![ev]);
                    }
                }
                Ok(None) => return false,
                Err(e) => {
                    error!("process events failed ({e}); continuing without them");
                    *procs = None;
                    self.attributor.reset();
                    self.attributor.tracking = false;
                    return false;
                }
            }
        }
        true
    }

    /// Reads up to `limit` datagrams; returns whether more may be waiting.
    fn drain(&mut self, intake: &mut Intake, limit: usize) -> Result<bool, Error> {
        for _ in 0..limit {
            let now = Instant::now();
            match intake.read().context("reading audit records")? {
                None => {
                    self.handle_closed();
                    return Ok(false);
                }
                Some(Read::Lost) => {
                    self.stats.lost_enobufs += 1;
                    if self.stats.lost_enobufs.is_power_of_two() {
                        warn!(
                            "audit records lost: the receive buffer overflowed (ENOBUFS, {} time(s) so far)",
                            self.stats.lost_enobufs
                        );
                    }
                }
                Some(Read::Record(rtype, payload)) => {
                    self.stats.records += 1;
                    match Record::parse(rtype, payload) {
                        Ok(rec) => {
                            if !types::is_known_range(rec.rtype) {
                                self.stats.unknown_record_types += 1;
                                debug!("unknown audit record type {}", rec.rtype);
                            }
                            self.assembler.push(rec, now, &mut self.closed);
                        }
                        Err(e) => {
                            self.stats.malformed_records += 1;
                            debug!(
                                "malformed audit record (type {rtype}): {e}: {:?}",
                                String::from_utf8_lossy(payload)
                            );
                        }
                    }
                }
            }
            if self.closed.len() >= 64 {
                self.handle_closed();
            }
        }
        self.handle_closed();
        Ok(true)
    }

    /// Shutdown: every event still assembling, every summary still owed, every
    /// finding still queued for a failing output gets its last chance.
    fn flush(&mut self) {
        self.assembler.flush(&mut self.closed);
        self.handle_closed();
        self.dedup.flush(&mut self.emitted);
        self.emit();
        self.outputs.retry(Instant::now(), true);
        self.outputs.sync();
        let left = self.outputs.give_up();
        self.stats.output_errors = self.outputs.counters.failed;
        self.stats.output_dropped = self.outputs.counters.dropped + left as u64;
    }

    /// Checks audit's state and puts right what the host changed under us.
    fn keep_audit(&mut self, now: Instant) {
        let k = &mut self.keeper;
        k.check = false;
        k.next_poll = now + AUDIT_POLL;
        let mut health = Vec::new();
        let host = self.hostname.clone();
        let h =
            |event, level, msg: String| Health::new(clock::now_micros(), event, level, msg, &host);
        let st = match k.audit.ctl.status() {
            Ok(st) => st,
            Err(e) => {
                health.push(h(
                    "audit_unreadable",
                    HealthLevel::Error,
                    format!("cannot read the audit status: {e}"),
                ));
                return self.report(health);
            }
        };
        if st.lost > k.lost {
            health.push(
                h(
                    "records_lost",
                    HealthLevel::Error,
                    format!(
                        "the kernel lost {} audit record(s): connects may have been missed",
                        st.lost - k.lost
                    ),
                )
                .with("source", "kernel")
                .with("lost", st.lost - k.lost)
                .with("lost_total", st.lost)
                .with("backlog", st.backlog)
                .with("backlog_limit", st.backlog_limit),
            );
        }
        k.lost = st.lost;
        let mut enabled = st.enabled;
        if st.enabled == 0 && k.keep_audit_state {
            if !k.blind {
                k.blind = true;
                health.push(h("audit_disabled", HealthLevel::Error, "audit was switched off; left off (--keep-audit-state): no connect can be seen until it is on again".into()).with("restored", false));
            }
        } else if st.enabled == 0 {
            match k.audit.ctl.set_enabled(1) {
                Ok(()) => {
                    enabled = 1;
                    health.push(
                        h(
                            "audit_disabled",
                            HealthLevel::Warning,
                            "audit was switched off; turned it back on".into(),
                        )
                        .with("restored", true),
                    );
                }
                Err(e) => health.push(
                    h(
                        "audit_disabled",
                        HealthLevel::Error,
                        format!("audit was switched off and cannot be turned on: {e}"),
                    )
                    .with("restored", false),
                ),
            }
        } else if k.blind {
            k.blind = false;
            health.push(h("audit_enabled", HealthLevel::Info, "audit is on again".into()));
        }
        if k.blind {
            // Turning audit on from off leaves no record to wake us: look often
            // while blind.
            k.next_poll = now + BLIND_POLL;
        }
        if k.unicast && st.pid != std::process::id() && !k.lost_registration {
            k.lost_registration = true;
            health.push(h("registration_lost", HealthLevel::Error, format!("no longer the registered audit daemon (the kernel now has pid {}): records no longer reach sockwatch", st.pid)));
        }
        let rules = k.wanted();
        if !rules.is_empty() && enabled == 2 {
            // Locked: nothing can be loaded; say once if what we need is missing.
            if let Ok((have, _)) = loaded(&mut k.audit.ctl, &rules) {
                let missing =
                    rules.iter().zip(&have).filter(|(r, h)| !**h && is_required(r)).count();
                if missing > 0 && !k.missing_reported {
                    k.missing_reported = true;
                    health.push(h("rules_missing", HealthLevel::Error, format!("{missing} required rule(s) are not loaded and the audit configuration is locked until reboot: connects to those sockets are not seen")));
                }
            }
        } else if !rules.is_empty() && !k.blind {
            match load_missing(&mut k.audit.ctl, &rules) {
                Ok(outcomes) => {
                    let mut restored = 0;
                    let mut appeared: Vec<&str> = Vec::new();
                    let mut refused = Vec::new();
                    // A directory that went between the look and the load: waiting.
                    let gone = |r: &RuleSpec| matches!(r, RuleSpec::Connect { path, .. } if !sockets::dir_exists(path));
                    for (r, o) in rules.iter().zip(&outcomes) {
                        match o {
                            Load::Added => {
                                // Ours now, whatever it was at start: removed on exit.
                                if !k.audit.added.contains(r) {
                                    k.audit.added.push(r.clone());
                                }
                                if let Some(i) = k.refused_reported.iter().position(|x| x == r) {
                                    // Refused before, taken now (a module loaded, say).
                                    k.refused_reported.remove(i);
                                    info!("the kernel now takes {}", r.describe());
                                    continue;
                                }
                                match r {
                                    RuleSpec::Connect { path, .. }
                                        if !k.wanted_before.contains(r) =>
                                    {
                                        if !appeared.contains(&path.as_str()) {
                                            appeared.push(path);
                                        }
                                    }
                                    _ => restored += 1,
                                }
                            }
                            Load::Refused(_) if gone(r) => {}
                            Load::Refused(why)
                                if !is_required(r) && !k.refused_reported.contains(r) =>
                            {
                                k.refused_reported.push(r.clone());
                                refused.push((r.clone(), why.clone()));
                            }
                            _ => {}
                        }
                    }
                    let required: Vec<String> = rules
                        .iter()
                        .zip(&outcomes)
                        .filter_map(|(r, o)| match o {
                            Load::Refused(why) if is_required(r) && !gone(r) => {
                                Some(format!("{}: {why}", r.describe()))
                            }
                            _ => None,
                        })
                        .collect();
                    if restored > 0 {
                        health.push(h("rules_restored", HealthLevel::Warning, format!("{restored} sockwatch audit rule(s) had been removed; loaded them again")).with("restored", restored));
                    }
                    for path in appeared {
                        // Once per socket: a directory made and removed over and
                        // over (a user's, under /run/user) must not flood.
                        if k.announced.iter().any(|a| a == path) {
                            debug!(
                                "{path}: its directory appeared again; its connect rules are loaded"
                            );
                            continue;
                        }
                        k.announced.push(path.to_string());
                        health.push(
                            h(
                                "socket_watched",
                                HealthLevel::Info,
                                format!(
                                    "{path}: its directory appeared; its connect rules are loaded"
                                ),
                            )
                            .with("socket", path)
                            .with("runtime", crate::core::runtimes::runtime_of(path)),
                        );
                    }
                    if !refused.is_empty() {
                        health.push(refused_health(&host, &refused));
                    }
                    if !required.is_empty() && !k.missing_reported {
                        k.missing_reported = true;
                        health.push(h(
                            "rules_missing",
                            HealthLevel::Error,
                            format!("required rules cannot be loaded: {}", required.join("; ")),
                        ));
                    } else if required.is_empty() {
                        k.missing_reported = false;
                    }
                    k.wanted_before = rules;
                    k.hand_over_duplicates(now, &mut health, &h);
                }
                Err(e) => health.push(h("rules_unreadable", HealthLevel::Error, e.to_string())),
            }
        }
        self.check_task_never(enabled, &mut health);
        self.report(health);
    }

    /// Task-list never rules: reported while loaded, or deleted at once with
    /// --remove-task-never. Tasks created while one was loaded stay unaudited
    /// until they restart; the containers that have such processes are named.
    fn check_task_never(&mut self, enabled: u32, health: &mut Vec<Health>) {
        // Before the listing: a rule absent from it was loaded after this.
        let ticks = proc::boot_ticks_now();
        let k = &mut self.keeper;
        let found = match audit_rules::task_never_rules(&mut k.audit.ctl) {
            Ok(f) => f,
            Err(e) => {
                health.push(self.health("rules_unreadable", HealthLevel::Error, e.to_string()));
                return;
            }
        };
        let previous = k.last_check_ticks.replace(ticks);
        let seen = std::mem::take(&mut k.task_never_seen);
        let remove = k.remove_task_never && enabled != 2;
        let mut still = Vec::new();
        for (text, raw) in found {
            let new = !seen.contains(&raw);
            if !remove {
                if new && self.keeper.remove_task_never {
                    health.push(
                        self.health("audit_task_never", HealthLevel::Error, format!("a never rule on audit's task list is loaded ({text}) and cannot be removed: the audit configuration is locked until reboot; no task created while it is loaded is audited"))
                            .with("rules", vec![text.clone()])
                            .with("removed", false),
                    );
                } else if new {
                    health.push(
                        self.health(
                            "audit_task_never",
                            HealthLevel::Error,
                            format!("a never rule on audit's task list is loaded ({text}): no task created while it is loaded gets an audit context, so no connect of theirs is ever seen; it usually comes from {TASK_NEVER_SOURCE}; remove it, or run sockwatch with --remove-task-never"),
                        )
                        .with("rules", vec![text.clone()])
                        .with("removed", false),
                    );
                }
                still.push(raw);
                continue;
            }
            match self.keeper.audit.ctl.del_rule_raw(&raw) {
                Ok(()) => {
                    // New since the last check: loaded after it. Otherwise it may
                    // have been there since boot.
                    let from = if new { previous } else { None };
                    // After the removal: a task created up to it may be unaudited.
                    let until = proc::boot_ticks_now();
                    let (names, n) = self.containers_json(blind::containers_started(
                        &proc::processes(),
                        from,
                        until,
                    ));
                    health.push(
                        self.health(
                            "audit_task_never",
                            HealthLevel::Warning,
                            format!("removed a never rule on audit's task list ({text}); tasks created while it was loaded stay unaudited until they restart: {n} container(s) have processes started then (restart them); it usually comes from {TASK_NEVER_SOURCE}, and comes back when the rules are reloaded"),
                        )
                        .with("rules", vec![text.clone()])
                        .with("removed", true)
                        .with("containers", names)
                        .with("containers_total", n),
                    );
                }
                Err(e) => {
                    // Said once, while it stays.
                    if new {
                        health.push(
                            self.health("audit_task_never", HealthLevel::Error, format!("a never rule on audit's task list is loaded ({text}) and cannot be removed ({e}): no task created while it is loaded is audited"))
                                .with("rules", vec![text.clone()])
                                .with("removed", false),
                        );
                    }
                    still.push(raw);
                }
            }
        }
        self.keeper.task_never_seen = still;
    }

    /// A health event stamped now, from this host.
    fn health(&self, event: &'static str, level: HealthLevel, message: String) -> Health {
        Health::new(clock::now_micros(), event, level, message, &self.hostname)
    }

    /// Containers for a health event: id, runtime, name (from the runtime's state)
    /// and the number of processes concerned; at most 100 (the total is given
    /// beside them).
    fn containers_json(
        &mut self,
        list: Vec<(crate::core::cgroup::Container, usize)>,
    ) -> (serde_json::Value, usize) {
        const SHOWN: usize = 100;
        let total = list.len();
        let out: Vec<serde_json::Value> = list
            .into_iter()
            .take(SHOWN)
            .map(|(c, n)| {
                let name = self.meta.lookup(&c).and_then(|m| m.name);
                serde_json::json!({"id": c.id, "runtime": c.runtime.as_str(), "name": name, "processes": n})
            })
            .collect();
        (serde_json::Value::Array(out), total)
    }

    /// What fanotify saw happen to the socket files. Returns the sockets to add
    /// to the watch (a user's rootless ones, when their directory appeared).
    fn on_file_changes(&mut self, changes: Vec<fswatch::Change>) -> Vec<String> {
        let mut add = Vec::new();
        for change in changes {
            let now_time = clock::now_micros();
            match change {
                fswatch::Change::Directory { path } => {
                    debug!(
                        "{}: a directory on its way appeared or went; checking its rules",
                        path.display()
                    );
                    self.keeper.dir_check = true;
                    // Its rules went with the directory (the kernel drops a path
                    // rule whose directory is deleted): loading them again is the
                    // socket appearing, not a restore after someone removed them.
                    let p = path.to_string_lossy();
                    self.keeper
                        .wanted_before
                        .retain(|r| !matches!(r, RuleSpec::Connect { path, .. } if *path == p));
                    let changed = sockets::refresh(&mut self.watched);
                    self.socket_changes(changed);
                }
                fswatch::Change::UserDir(uid) => {
                    let new: Vec<String> = crate::core::runtimes::rootless(uid)
                        .into_iter()
                        .filter(|p| !self.keeper.sockets.contains(p))
                        .collect();
                    if !new.is_empty() {
                        let users = self
                            .keeper
                            .sockets
                            .iter()
                            .filter(|p| p.starts_with(crate::core::runtimes::USER_RUN))
                            .count()
                            / crate::core::runtimes::ROOTLESS.len();
                        if users >= sockets::MAX_USERS {
                            warn!(
                                "not watching the rootless sockets of user {uid}: already {users} users' are watched"
                            );
                            continue;
                        }
                        info!(
                            "user {uid}'s runtime directory appeared: watching {}",
                            new.join(", ")
                        );
                        for p in &new {
                            self.watched.extend(sockets::watch(std::slice::from_ref(p)));
                            self.keeper.sockets.push(p.clone());
                        }
                        add.extend(new);
                    }
                    // Its rules and marks wait until logind's tmpfs is on it.
                    self.keeper.user_appeared(uid, Instant::now());
                }
                fswatch::Change::Overflow => {
                    // A directory may have appeared or gone unseen: the rules are
                    // due, and one loaded now may be a socket appearing.
                    self.keeper.check = true;
                    self.keeper.wanted_before.retain(|r| matches!(r, RuleSpec::Uring));
                    self.keeper.fan_overflows += 1;
                    let n = self.keeper.fan_overflows;
                    if n.is_power_of_two() {
                        let ev = Health::new(now_time, "fanotify_overflow", HealthLevel::Error, format!("fanotify's queue overflowed ({n} time(s) so far): socket changes may have been missed"), &self.hostname)
                            .with("overflows", n);
                        self.report(vec![ev]);
                    }
                }
                fswatch::Change::Perms { path, old, new, pid } => {
                    let path = path.to_string_lossy().into_owned();
                    // The runtime setting up its own socket (dockerd binds it, then
                    // sets its group and mode) is not a finding.
                    if self.is_owner(&path, pid) {
                        debug!("{path}: permissions set by its runtime (pid {pid})");
                        continue;
                    }
                    let world = new.mode & 0o002 != 0 && old.is_none_or(|o| o.mode & 0o002 == 0);
                    let sig = if world { &SOCKET_WORLD_WRITABLE } else { &SOCKET_PERMISSIONS };
                    let op = if old.is_some_and(|o| o.uid != new.uid || o.gid != new.gid) {
                        "chown"
                    } else {
                        "chmod"
                    };
                    let details = serde_json::json!({
                        "old": old.map(|o| serde_json::json!({"mode": format!("{:04o}", o.mode), "uid": o.uid, "gid": o.gid})),
                        "new": {"mode": format!("{:04o}", new.mode), "uid": new.uid, "gid": new.gid},
                        "world_writable": new.mode & 0o002 != 0,
                    });
                    self.file_finding(sig, op, &path, pid, details);
                }
                fswatch::Change::Removed { ref path, pid }
                | fswatch::Change::Appeared { ref path, pid } => {
                    let (op, what) = match change {
                        fswatch::Change::Removed { .. } => ("delete", "deleted or moved away"),
                        _ => ("create", "created or moved into place"),
                    };
                    let path = path.to_string_lossy().into_owned();
                    // Always a health event: a re-created socket can get the same
                    // inode number back, so the identity alone may not change.
                    let mut changed = sockets::refresh(&mut self.watched);
                    if !changed.iter().any(|(p, _, _)| *p == path) {
                        let now = self.watched.iter().find(|w| w.path == path).and_then(|w| w.id);
                        changed.push((path.clone(), now, now));
                    }
                    self.socket_changes(changed);
                    let created = op == "create";
                    // A process on its way out (its memory, and so its exe link,
                    // already gone; or a zombie) is as gone as one that exited.
                    let alive = pid > 0 && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok();
                    let owner = self.is_owner(&path, pid);
                    if !crate::core::signature::is_replacement_finding(created, owner, alive) {
                        debug!(
                            "{path}: {what} by pid {pid} (its runtime, or a process already gone): no finding"
                        );
                    } else {
                        let details = serde_json::json!({"change": what, "present_now": std::path::Path::new(&path).exists()});
                        self.file_finding(&SOCKET_REPLACED, op, &path, pid, details);
                    }
                }
            }
        }
        add
    }

    /// Whether `pid` may set up or re-create the socket at `path`: a configured
    /// runtime, proven on the host side; for a user's rootless socket, that user's
    /// own process outside any container.
    fn is_owner(&self, path: &str, pid: i32) -> bool {
        proc::is_socket_owner(&self.proc, pid, &self.socket_owners)
            || crate::core::runtimes::user_of(path).is_some_and(|uid| proc::is_users_own(pid, uid))
    }

    fn file_finding(
        &mut self,
        sig: &'static crate::core::signature::Signature,
        op: &'static str,
        path: &str,
        pid: i32,
        details: serde_json::Value,
    ) {
        let actor = proc::actor(pid);
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut origin = self.attributor.attribute(actor.pid, actor.ppid, at, &self.proc);
        if let Origin::Container(a) = &mut origin {
            a.meta = self.meta.lookup(&a.container);
        }
        let file = self
            .watched
            .iter()
            .find(|w| w.path == path)
            .and_then(|w| w.id.or(w.previous.last().copied()));
        let f = finding::file_finding(
            sig,
            op,
            path,
            file,
            &actor,
            &origin,
            details,
            clock::now_micros(),
            &self.hostname,
        );
        self.stats.findings += 1;
        if allow::allowed(&self.allow, &f) {
            self.stats.allowed += 1;
            return;
        }
        let mut out = std::mem::take(&mut self.emitted);
        self.dedup.offer(f, Instant::now(), &mut out);
        self.emitted = out;
        self.emit();
    }

    /// ENOBUFS on sockwatch's own socket, reported at most every 10 s: it happens
    /// when sockwatch is already behind, so it must cost next to nothing.
    fn report_enobufs(&mut self, now: Instant) {
        let k = &mut self.keeper;
        let n = self.stats.lost_enobufs - k.enobufs_reported;
        k.enobufs_reported = self.stats.lost_enobufs;
        k.enobufs_next = now + ENOBUFS_EVERY;
        let ev = Health::new(
            clock::now_micros(),
            "records_lost",
            HealthLevel::Error,
            format!("{n} overflow(s) of sockwatch's audit socket (ENOBUFS): connects may have been missed"),
            &self.hostname,
        )
        .with("source", "enobufs")
        .with("overflows", n)
        .with("overflows_total", self.stats.lost_enobufs);
        self.report(vec![ev]);
    }

    /// A watched socket was re-created (a runtime restart) or went away: matching
    /// follows the new identity, and the change is a health event.
    fn socket_changes(&mut self, changes: Vec<sockets::Change>) {
        let health = changes
            .into_iter()
            .map(|(path, old, new)| {
                let inode =
                    |f: Option<FileId>| f.map_or(serde_json::Value::Null, |f| f.inode.into());
                Health::new(
                    clock::now_micros(),
                    "socket_changed",
                    HealthLevel::Info,
                    if old == new {
                        format!(
                            "watched socket {path} was deleted or re-created (now {})",
                            sockets::describe(new)
                        )
                    } else {
                        format!(
                            "watched socket {path} changed from {} to {}; now matching the new one",
                            sockets::describe(old),
                            sockets::describe(new)
                        )
                    },
                    &self.hostname,
                )
                .with("socket", path)
                .with("old_inode", inode(old))
                .with("new_inode", inode(new))
            })
            .collect();
        self.report(health);
    }

    fn report(&mut self, health: Vec<Health>) {
        for ev in health {
            match ev.level {
                HealthLevel::Error => error!("health: {}", ev.message),
                HealthLevel::Warning => warn!("health: {}", ev.message),
                HealthLevel::Info => info!("health: {}", ev.message),
            }
            self.stats.health_events += 1;
            self.outputs.emit(&Report::Health(ev));
        }
    }

    fn periodic_stats(&mut self, now: Instant) {
        match self.stats_due {
            Some(due) if now >= due => {
                info!("stats: {}", self.stats);
                self.reported = self.stats.clone();
                self.stats_due = None;
            }
            None if self.stats != self.reported => self.stats_due = Some(now + STATS_EVERY),
            _ => {}
        }
    }

    fn emit(&mut self) {
        for f in std::mem::take(&mut self.emitted) {
            self.stats.findings_emitted += 1;
            self.outputs.emit(&Report::Finding(Box::new(f)));
        }
        self.stats.output_errors = self.outputs.counters.failed;
        self.stats.output_dropped = self.outputs.counters.dropped;
    }

    fn handle_closed(&mut self) {
        let closed = std::mem::take(&mut self.closed);
        for ev in &closed {
            self.stats.events += 1;
            match ev.closed_by {
                Close::Timeout => self.stats.events_timed_out += 1,
                Close::Evicted => self.stats.events_evicted += 1,
                _ => {}
            }
            if ev.records.iter().any(is_audit_change) {
                self.keeper.check = true;
            }
            if let Some(c) = connect::extract(ev) {
                self.stats.connects += 1;
                self.on_connect(&c);
            }
        }
        self.closed = closed;
        self.closed.clear();
    }

    fn on_connect(&mut self, c: &ConnectEvent) {
        let resolved = self.resolve_without_path(c);
        let mut target = detect::target(c, &self.watched, resolved);
        if let Err(skip) = target {
            if detect::worth_refresh(c, skip) {
                let changed = sockets::refresh(&mut self.watched);
                if !changed.is_empty() {
                    self.socket_changes(changed);
                    target = detect::target(c, &self.watched, resolved);
                }
            }
        }
        let hit = match target {
            Ok(h) => h,
            Err(skip) => return self.skip(c, skip),
        };
        let at = c.stamp.sec as f64 + f64::from(c.stamp.msec) / 1000.0;
        let mut origin = self.attributor.attribute(c.ids.pid, c.ids.ppid, at, &self.proc);
        match &mut origin {
            Origin::Container(a) => {
                if a.by != By::Pid {
                    self.stats.proc_vanished += 1;
                }
                a.meta = self.meta.lookup(&a.container);
            }
            Origin::Unknown { namespaces: None, .. } => {
                self.stats.proc_vanished += 1;
                self.stats.unattributed += 1;
                debug!(
                    "connect {}: pid {:?} gone and no ancestor tells its container",
                    c.stamp, c.ids.pid
                );
            }
            Origin::Unknown { .. } | Origin::Host => {}
        }
        let runtime_binary =
            detect::looks_like_runtime_setup(c) && proc::is_host_runtime_binary(c.ids.pid);
        if let Err(skip) = detect::judge(c, &origin, runtime_binary) {
            return self.skip(c, skip);
        }
        let cmdline = proc::full_cmdline(c.ids.pid, c.proctitle.as_deref());
        let f = finding::connect_finding(
            c,
            &hit,
            &self.watched[hit.watched].path,
            &origin,
            Extra { now: clock::now_micros(), cmdline, hostname: Some(&self.hostname) },
        );
        self.stats.findings += 1;
        if allow::allowed(&self.allow, &f) {
            self.stats.allowed += 1;
            debug!("connect {}: allowed by the allowlist ({:?})", c.stamp, f.container.name);
            return;
        }
        let mut out = std::mem::take(&mut self.emitted);
        self.dedup.offer(f, Instant::now(), &mut out);
        self.emitted = out;
        self.emit();
    }

    /// A connect with no PATH record (the kernel did not resolve a name) is matched
    /// by resolving sun_path inside the process's root, while it still exists.
    fn resolve_without_path(&self, c: &ConnectEvent) -> Option<FileId> {
        if c.paths.iter().any(|p| p.inode.is_some()) {
            return None;
        }
        let (Some(pid), Some(SockAddr::Unix(path))) = (c.ids.pid, &c.addr) else { return None };
        proc::resolve_in(pid, c.cwd.as_deref(), path).ok()
    }

    fn skip(&mut self, c: &ConnectEvent, why: Skip) {
        match why {
            Skip::NotUnixPath => self.stats.skipped_not_unix += 1,
            Skip::NotWatched => self.stats.skipped_not_watched += 1,
            Skip::HostProcess => self.stats.skipped_host += 1,
            Skip::RuntimeSetup => self.stats.skipped_runtime_setup += 1,
        }
        debug!(
            "connect {} by pid {:?} ({}) skipped: {}",
            c.stamp,
            c.ids.pid,
            String::from_utf8_lossy(c.comm.as_deref().unwrap_or_default()),
            why.as_str()
        );
    }

    fn reopen_outputs(&mut self) {
        self.outputs.reopen();
        info!("SIGHUP: outputs reopened");
    }
}

/// A CONFIG_CHANGE record about the enabled flag or the rules: any removal, an
/// addition of a rule with sockwatch's key (another loader's copy of one of ours
/// makes a duplicate, see `core::rules::copies`), and any addition to the task
/// list (a never rule there blinds audit, see `core::blind`).
fn is_audit_change(r: &Record) -> bool {
    r.rtype == types::CONFIG_CHANGE && {
        let op = r.raw("op").unwrap_or_default();
        // A failed add (res=0: its directory is gone, say) is logged too; it
        // loaded nothing, and checking on it would retry the add at once, forever.
        let done = || r.raw("res").is_some_and(|v| v == b"1");
        let ours = || r.raw("key").is_some_and(|k| k == b"\"sockwatch\"");
        let task_list = || r.raw("list").is_some_and(|l| l == b"1");
        op == b"set" && r.raw("audit_enabled").is_some()
            || op == b"remove_rule"
            || op == b"\"remove_rule\""
            || (op == b"add_rule" || op == b"\"add_rule\"") && done() && (ours() || task_list())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_changes_that_call_for_a_check() {
        let capture = include_bytes!("../../tests/data/records-6.18.txt");
        let changes: Vec<String> = capture
            .split(|&b| b == b'\n')
            .filter_map(|l| Record::parse_line(l).ok())
            .filter(is_audit_change)
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        // sockwatch's own exit in the capture: seven rules removed, audit switched off.
        assert_eq!(
            changes
                .iter()
                .filter(|c| c.starts_with("auid=") && c.contains("op=remove_rule"))
                .count(),
            7,
            "{changes:#?}"
        );
        assert_eq!(
            changes.iter().filter(|c| c.starts_with("op=set audit_enabled=0")).count(),
            1,
            "{changes:#?}"
        );
        let ours = Record::parse_line(
            b"type=1305 audit(1.000:1): op=add_rule key=\"sockwatch\" list=4 res=1",
        )
        .unwrap();
        assert!(
            is_audit_change(&ours),
            "someone may have loaded a second copy of one of our rules"
        );
        let failed = Record::parse_line(
            b"type=1305 audit(1.000:1): op=add_rule key=\"sockwatch\" list=4 res=0",
        )
        .unwrap();
        assert!(
            !is_audit_change(&failed),
            "a failed add changed nothing (and re-checking would loop)"
        );
        let other =
            Record::parse_line(b"type=1305 audit(1.000:1): op=add_rule key=\"www\" list=4 res=1")
                .unwrap();
        assert!(!is_audit_change(&other), "others' rules are theirs");
        // auditctl -a never,task
        let never = Record::parse_line(b"type=1305 audit(1.000:1): auid=0 ses=1 subj=unconfined op=add_rule key=(null) list=1 res=1").unwrap();
        assert!(is_audit_change(&never), "a task-list rule may blind audit");
        let exit_rule = Record::parse_line(
            b"type=1305 audit(1.000:1): auid=0 ses=1 op=add_rule key=(null) list=4 res=1",
        )
        .unwrap();
        assert!(!is_audit_change(&exit_rule));
        let backlog = Record::parse_line(
            b"type=1305 audit(1.000:2): op=set audit_backlog_limit=8192 old=64 res=1",
        )
        .unwrap();
        assert!(!is_audit_change(&backlog));
    }
}
