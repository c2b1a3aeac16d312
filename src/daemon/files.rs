//! What fanotify saw happen to the watched socket files and the directories on
//! their way: SW-1001 and SW-1002 findings (decided by `core::socket_file`),
//! socket identities followed when a runtime re-creates its socket, directories
//! appearing (the keeper loads their rules), users' runtime directories
//! appearing (their rootless sockets join the watch).

use std::time::Instant;

use crate::core::detect::FileId;
use crate::core::finding;
use crate::core::health::{Event as HealthEvent, Health, Level};
use crate::core::origin::Origin;
use crate::core::rules::RuleSpec;
use crate::core::runtimes;
use crate::core::socket_file::{self, Actor, Event};
use crate::io::fswatch::Change;
use crate::io::{clock, proc, sockets};
use crate::{debug, info, warn};

use super::Daemon;

impl Daemon {
    /// Returns the sockets to add to the watch (a user's rootless ones, when
    /// their directory appeared).
    pub(super) fn on_file_changes(&mut self, changes: Vec<Change>) -> Vec<String> {
        let mut add = Vec::new();
        for change in changes {
            match change {
                Change::Directory { path } => {
                    debug!(
                        "{}: a directory on its way appeared or went; checking its rules",
                        path.display()
                    );
                    self.keeper.dir_check = true;
                    self.keeper.forget(&path.to_string_lossy());
                    let changed = sockets::refresh(&mut self.watched);
                    self.socket_changes(changed);
                }
                Change::UserDir(uid) => add.extend(self.on_user_dir(uid)),
                Change::Overflow => self.on_overflow(),
                Change::Perms { path, old, new, pid } => {
                    let path = path.to_string_lossy().into_owned();
                    self.on_socket_file(&path, pid, Event::Perms { old, new });
                }
                Change::Removed { path, pid } => {
                    self.on_socket_file(&path.to_string_lossy(), pid, Event::Removed)
                }
                Change::Appeared { path, pid } => {
                    self.on_socket_file(&path.to_string_lossy(), pid, Event::Appeared)
                }
            }
        }
        add
    }

    /// A user's runtime directory appeared: its rootless sockets are watched
    /// (returned, to be marked), bounded in number of users.
    fn on_user_dir(&mut self, uid: u32) -> Vec<String> {
        let new: Vec<String> = runtimes::rootless(uid)
            .into_iter()
            .filter(|p| !self.keeper.sockets.contains(p))
            .collect();
        if !new.is_empty() {
            let users =
                self.keeper.sockets.iter().filter(|p| p.starts_with(runtimes::USER_RUN)).count()
                    / runtimes::ROOTLESS.len();
            if users >= sockets::MAX_USERS {
                warn!(
                    "not watching the rootless sockets of user {uid}: already {users} users' are watched"
                );
                return Vec::new();
            }
            info!("user {uid}'s runtime directory appeared: watching {}", new.join(", "));
            for p in &new {
                self.watched.extend(sockets::watch(std::slice::from_ref(p)));
                self.keeper.sockets.push(p.clone());
            }
        }
        // Its rules and marks wait until logind's tmpfs is on it.
        self.keeper.user_appeared(uid, Instant::now());
        new
    }

    /// A directory may have appeared or gone unseen: the rules are due, and one
    /// loaded now may be a socket appearing.
    fn on_overflow(&mut self) {
        self.keeper.check = true;
        self.keeper.rules.wanted_before.retain(|r| matches!(r, RuleSpec::Uring));
        self.keeper.fan_overflows += 1;
        let n = self.keeper.fan_overflows;
        if n.is_power_of_two() {
            let ev = self
                .health(
                    HealthEvent::FanotifyOverflow,
                    Level::Error,
                    format!("fanotify's queue overflowed ({n} time(s) so far): socket changes may have been missed"),
                )
                .with("overflows", n);
            self.report(vec![ev]);
        }
    }

    /// A socket file's permissions changed, or it was deleted or created.
    fn on_socket_file(&mut self, path: &str, pid: i32, event: Event) {
        if matches!(event, Event::Removed | Event::Appeared) {
            // Always a health event: a re-created socket can get the same inode
            // number back, so the identity alone may not change.
            let mut changed = sockets::refresh(&mut self.watched);
            if !changed.iter().any(|(p, _, _)| p == path) {
                let now = self.watched.iter().find(|w| w.path == path).and_then(|w| w.id);
                changed.push((path.to_string(), now, now));
            }
            self.socket_changes(changed);
        }
        // A process on its way out (its memory, and so its exe link, already
        // gone; or a zombie) is as gone as one that exited.
        let actor = Actor::read(
            event,
            || self.is_owner(path, pid),
            || pid > 0 && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok(),
        );
        let replaced = matches!(event, Event::Removed | Event::Appeared);
        let present_now = replaced && std::path::Path::new(path).exists();
        let Some(verdict) = socket_file::judge(event, actor, present_now) else {
            if replaced {
                let what = socket_file::change(event == Event::Appeared);
                debug!(
                    "{path}: {what} by pid {pid} (its runtime, or a process already gone): no finding"
                );
            } else {
                debug!("{path}: permissions set by its runtime (pid {pid})");
            }
            return;
        };
        self.file_finding(&verdict, path, pid);
    }

    /// Whether `pid` may set up or re-create the socket at `path`: a configured
    /// runtime, proven on the host side; for a user's rootless socket, that user's
    /// own process outside any container.
    fn is_owner(&self, path: &str, pid: i32) -> bool {
        proc::is_socket_owner(&self.proc, pid, &self.socket_owners)
            || runtimes::user_of(path).is_some_and(|uid| proc::is_users_own(pid, uid))
    }

    fn file_finding(&mut self, verdict: &socket_file::Verdict, path: &str, pid: i32) {
        let actor = proc::actor(pid);
        let mut origin =
            self.attributor.attribute(actor.pid, actor.ppid, clock::unix_secs(), &self.proc);
        if let Origin::Container(a) = &mut origin {
            a.meta = self.meta.lookup(&a.container);
        }
        let file = self
            .watched
            .iter()
            .find(|w| w.path == path)
            .and_then(|w| w.id.or(w.previous.last().copied()));
        let f = finding::file_finding(
            verdict.signature,
            verdict.operation,
            path,
            file,
            &actor,
            &origin,
            verdict.details_json(),
            clock::now_micros(),
            &self.hostname,
        );
        if !self.is_allowed(&f) {
            self.offer(f, Instant::now());
        }
    }

    /// A watched socket was re-created (a runtime restart) or went away: matching
    /// follows the new identity, and the change is a health event.
    pub(super) fn socket_changes(&mut self, changes: Vec<sockets::Change>) {
        let inode = |f: Option<FileId>| f.map_or(serde_json::Value::Null, |f| f.inode.into());
        let health: Vec<Health> = changes
            .into_iter()
            .map(|(path, old, new)| {
                let message = if old == new {
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
                };
                self.health(HealthEvent::SocketChanged, Level::Info, message)
                    .with("socket", path)
                    .with("old_inode", inode(old))
                    .with("new_inode", inode(new))
            })
            .collect();
        self.report(health);
    }
}
