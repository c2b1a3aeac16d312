//! `sockwatch release CONTAINER`: thaws a container that `--respond freeze`
//! froze, and records it as a `container_released` health event in the
//! configured outputs. The container is found by its cgroups, by full id, a
//! unique id prefix or its name, so this works whether or not the daemon is
//! running.

use std::process::ExitCode;

use crate::cli::{ReleaseArgs, RunOptions};
use crate::config::Config;
use crate::core::cgroup::Container;
use crate::core::health::{Event, Health, Level};
use crate::core::respond::Target;
use crate::error::Error;
use crate::io::freezer::{Cgroups, State};
use crate::io::output::{Options, Outputs, Report};
use crate::io::runtime_meta::MetaCache;

pub fn main(args: &ReleaseArgs, cfg: &Config) -> Result<ExitCode, Error> {
    let o = cfg.run.clone().or(RunOptions::defaults());
    let cgroups = Cgroups::discover();
    let (all, complete) = cgroups.containers();
    if !complete {
        eprintln!(
            "sockwatch: warning: the cgroup tree is larger than searched; a container may be missed"
        );
    }
    let mut meta = MetaCache::new(
        o.docker_root.clone().unwrap_or_default(),
        o.storage_root.clone().unwrap_or_default(),
        o.containerd_state.clone().unwrap_or_default(),
    );
    let wanted = args.container.as_str();
    let mut matched: Vec<(Container, Option<String>, Vec<Target>)> = Vec::new();
    for (c, t) in all {
        if let Some(m) = matched.iter_mut().find(|m| m.0 == c) {
            m.2.push(t);
            continue;
        }
        let name = meta.lookup(&c).and_then(|m| m.name);
        let by_id = c.id == wanted || (is_hex(wanted) && c.id.starts_with(wanted));
        if by_id || name.as_deref() == Some(wanted) {
            matched.push((c, name, vec![t]));
        }
    }
    // An exact id or name wins over prefixes of other ids.
    if matched.len() > 1 {
        if let Some(i) =
            matched.iter().position(|m| m.0.id == wanted || m.1.as_deref() == Some(wanted))
        {
            matched = vec![matched.swap_remove(i)];
        }
    }
    let (c, name, targets) = match matched.len() {
        0 => {
            return Err(Error::msg(format!(
                "no container {wanted:?} has a cgroup here (give its id, a unique prefix of it, or its name)"
            )));
        }
        1 => matched.remove(0),
        _ => {
            let ids: Vec<String> = matched.iter().map(|m| m.0.id[..12].to_string()).collect();
            return Err(Error::usage(format!(
                "{wanted:?} matches {} containers ({}): give more of the id",
                ids.len(),
                ids.join(", ")
            )));
        }
    };
    let who = match &name {
        Some(n) => format!("{} container {n} ({})", c.runtime.as_str(), &c.id[..12]),
        None => format!("{} container {}", c.runtime.as_str(), &c.id[..12]),
    };
    // dockerd's own pause is its to undo: thawing it behind dockerd's back would
    // leave `docker ps` saying Paused over a running container.
    if c.runtime == crate::core::cgroup::Runtime::Docker && meta.docker_paused(&c.id) == Some(true)
    {
        eprintln!(
            "sockwatch: {who} was paused by docker (docker pause): resume it with docker unpause"
        );
        return Ok(ExitCode::FAILURE);
    }
    let mut thawed = Vec::new();
    for t in &targets {
        match cgroups.state(t) {
            Ok(State::Frozen | State::Freezing) => match cgroups.thaw(t) {
                Ok(()) => {
                    eprintln!("sockwatch: released {who}: {} {}", t.hierarchy.as_str(), t.path);
                    thawed.push(t);
                }
                Err(e) => {
                    return Err(Error::msg(format!(
                        "cannot thaw {who} ({} {}): {e}",
                        t.hierarchy.as_str(),
                        t.path
                    )));
                }
            },
            Ok(State::Thawed) => {}
            Err(e) => eprintln!(
                "sockwatch: warning: {who}: {} {}: cannot read the freezer's state: {e}",
                t.hierarchy.as_str(),
                t.path
            ),
        }
    }
    if thawed.is_empty() {
        eprintln!("sockwatch: {who} is not frozen");
        return Ok(ExitCode::FAILURE);
    }
    let hostname =
        nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let cgroups_json: Vec<serde_json::Value> = thawed
        .iter()
        .map(|t| serde_json::json!({"hierarchy": t.hierarchy.as_str(), "path": t.path}))
        .collect();
    let ev = Health::new(
        crate::io::clock::now_micros(),
        Event::ContainerReleased,
        Level::Warning,
        format!("{who} was released: its processes run again"),
        &hostname,
    )
    .with("container_id", c.id.clone())
    .with("runtime", c.runtime.as_str())
    .with("name", name)
    .with("cgroups", cgroups_json)
    .with("uid", nix::unistd::getuid().as_raw());
    record(ev, &o, hostname)
}

/// The release's health event to the configured outputs; one that cannot be
/// written is said on stderr (the thaw itself is done).
fn record(ev: Health, o: &RunOptions, hostname: String) -> Result<ExitCode, Error> {
    let specs = o.outputs.clone().unwrap_or_default();
    let opts = Options {
        syslog_format: o.syslog_format.expect("RunOptions::defaults sets every option"),
        syslog_facility: o.syslog_facility.map(|f| f.code()).unwrap_or_default(),
        jsonl_fsync: crate::io::output::jsonl::Fsync::Line,
        format: o.format.unwrap_or_default(),
        hostname,
    };
    let mut outputs = match Outputs::open(&specs, &opts) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("sockwatch: warning: the release was not recorded: opening the outputs: {e}");
            return Ok(ExitCode::SUCCESS);
        }
    };
    outputs.emit(Report::Health(ev));
    outputs.flush();
    outputs.sync();
    let lost = outputs.give_up();
    if lost > 0 {
        eprintln!(
            "sockwatch: warning: the release was not recorded in {lost} output(s) ({})",
            outputs.describe()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
