//! `--respond`: freezes the container (or kills the process) behind a
//! TRC-1019 finding, before the finding is written, and records what was done
//! in it. What to do is `core::respond::plan`; the writes are `io::freezer`'s.
//! A response that fails is a health event; the finding goes out either way.

use crate::core::connect::ConnectEvent;
use crate::core::finding::Finding;
use crate::core::health::{Event, Health, Level};
use crate::core::origin::{Origin, ProcView};
use crate::core::respond::{self, Guard, Mode, Plan, Policy, Response};
use crate::io::freezer::{self, Cgroups, Killed, State};
use crate::{info, warn};

use super::Daemon;

/// What the daemon holds for responses: the settings, the freezers' mounts,
/// and the cgroups never to freeze.
pub(super) struct Responder {
    pub policy: Policy,
    pub cgroups: Cgroups,
    pub guard: Guard,
}

impl Responder {
    /// Finds the freezers and what they must never freeze; says at start what
    /// will be done, and warns when a freezer is missing.
    pub fn new(policy: Policy) -> Responder {
        let cgroups = Cgroups::discover();
        let own = freezer::cgroup_of(std::process::id()).unwrap_or_default();
        let init = freezer::cgroup_of(1).unwrap_or_default();
        let guard = Guard::new(&[&own, &init]);
        let f = cgroups.freezers();
        if policy.mode == Mode::Freeze && !f.v1 && !f.v2 {
            warn!("--respond freeze: no cgroup freezer is mounted here; every freeze will fail");
        }
        let how = match (policy.mode, policy.dry_run) {
            (Mode::None, _) => None,
            (Mode::Freeze, false) => Some("freezing the container"),
            (Mode::Kill, false) => Some("killing the process"),
            (_, true) => Some("dry run: deciding only"),
        };
        if let Some(how) = how {
            info!(
                "respond: {how} on each TRC-1019 finding{} (freezers: v1 {}, v2 {})",
                if policy.unknown { ", unknown origins included" } else { "" },
                if f.v1 { "yes" } else { "no" },
                if f.v2 { "yes" } else { "no" },
            );
        }
        Responder { policy, cgroups, guard }
    }
}

impl Daemon {
    /// Acts on a finding about to be written, and records the response in it.
    /// Returns the health event of a response that failed, to be reported after
    /// the finding.
    pub(super) fn respond(
        &mut self,
        c: &ConnectEvent,
        origin: &Origin,
        f: &mut Finding,
    ) -> Option<Health> {
        let r = self.responder.as_ref()?;
        let pid = c.ids.pid;
        // The file that names the container: the client's, else (it exited)
        // its parent's. `plan` takes it only if it names this container.
        let cgroup = match origin {
            Origin::Host => None,
            // Its own, or none: a parent may be a host process.
            Origin::Unknown { .. } => pid.and_then(freezer::cgroup_of),
            Origin::Container(_) => pid
                .and_then(freezer::cgroup_of)
                .filter(|t| named_by(origin, t))
                .or_else(|| c.ids.ppid.and_then(freezer::cgroup_of).filter(|t| named_by(origin, t)))
                .or_else(|| self.container_cgroup(origin)),
        };
        let plan = respond::plan(
            &r.policy,
            origin,
            pid,
            cgroup.as_deref(),
            r.cgroups.freezers(),
            &r.guard,
        );
        let mode = r.policy.mode;
        let mut resp = match (&plan, r.policy.dry_run) {
            (Plan::Skip(_), _) => Response::new(mode, &plan, "skipped"),
            (_, true) => {
                info!("respond (dry run): would be {}", what(&plan, f));
                Response::new(mode, &plan, "dry_run")
            }
            (Plan::Freeze(t), false) => match r.cgroups.freeze(t) {
                Ok(State::Frozen) => Response::new(mode, &plan, "frozen"),
                Ok(_) => Response::new(mode, &plan, "freezing"),
                Err(e) => failed(mode, &plan, e),
            },
            (Plan::Kill(p), false) => {
                let at = c.stamp.sec as f64 + f64::from(c.stamp.msec) / 1000.0;
                match freezer::kill(*p, at, |p| self.proc.start_time(p)) {
                    Ok(Killed::Killed) => Response::new(mode, &plan, "killed"),
                    Ok(Killed::Gone) => Response::new(mode, &plan, "gone"),
                    Err(e) => failed(mode, &plan, e),
                }
            }
        };
        let now = crate::io::clock::unix_micros();
        resp.latency_us = Some(respond::latency_us(c.stamp.sec, c.stamp.msec, now));
        self.count_response(resp.result);
        if resp.result == "failed" {
            let ev = self
                .health(
                    Event::ResponseFailed,
                    Level::Error,
                    format!(
                        "{} failed: {}",
                        what(&plan, f),
                        resp.error.as_deref().unwrap_or_default()
                    ),
                )
                .with("action", resp.action)
                .with("cgroup", resp.cgroup.clone())
                .with("pid", pid)
                .with("container_id", f.container.id.clone())
                .with("error", resp.error.clone());
            f.response = Some(resp);
            f.summarize();
            return Some(ev);
        }
        f.response = Some(resp);
        f.summarize();
        None
    }

    fn count_response(&mut self, result: &str) {
        let s = &mut self.stats;
        match result {
            "frozen" | "freezing" => s.responses_frozen += 1,
            "killed" => s.responses_killed += 1,
            "failed" => s.responses_failed += 1,
            _ => {}
        }
    }

    /// A container's cgroup when neither the client nor its parent can show it
    /// any more (attributed from the cache or a monitor): its cgroups are
    /// searched for by id, once, bounded.
    fn container_cgroup(&self, origin: &Origin) -> Option<Vec<u8>> {
        let Origin::Container(a) = origin else { return None };
        let r = self.responder.as_ref()?;
        let (all, _) = r.cgroups.containers();
        let lines: Vec<String> = all
            .into_iter()
            .filter(|(c, _)| c.id == a.container.id && c.runtime == a.container.runtime)
            .map(|(_, t)| match t.hierarchy {
                respond::Hierarchy::V2 => format!("0::{}", t.path),
                respond::Hierarchy::V1 => format!("1:freezer:{}", t.path),
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n").into_bytes())
    }
}

/// Whether a cgroup file shows the process in the attributed container.
fn named_by(origin: &Origin, text: &[u8]) -> bool {
    match origin {
        Origin::Container(a) => crate::core::cgroup::container_of(text)
            .is_some_and(|c| c.id == a.container.id && c.runtime == a.container.runtime),
        Origin::Unknown { .. } | Origin::Host => false,
    }
}

fn failed(mode: Mode, plan: &Plan, e: std::io::Error) -> Response {
    let mut r = Response::new(mode, plan, "failed");
    r.error = Some(e.to_string());
    r
}

/// What the plan does, for the log and health events.
fn what(plan: &Plan, f: &Finding) -> String {
    let who = match (&f.container.name, &f.container.id) {
        (Some(n), _) => format!("container {n}"),
        (None, Some(id)) => format!("container {}", &id[..id.len().min(12)]),
        (None, None) => "the process's cgroup".to_string(),
    };
    match plan {
        Plan::Freeze(t) => format!("freezing {who} ({} {})", t.hierarchy.as_str(), t.path),
        Plan::Kill(p) => format!("killing pid {p} in {who}"),
        Plan::Skip(why) => format!("nothing ({why})"),
    }
}
