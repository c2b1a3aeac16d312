//! SW-1001 "Runtime socket permissions changed" and SW-1002 "Runtime socket
//! replaced": what happened to a watched socket file (as fanotify saw it, and
//! what the I/O side found out about who did it) -> a finding's signature,
//! operation and details, or nothing. The definitions are in `signature`.

use serde::Serialize;

use super::signature::{
    SOCKET_PERMISSIONS, SOCKET_REPLACED, SOCKET_WORLD_WRITABLE, Signature, is_replacement_finding,
};

/// A socket file's owner and mode, to tell what a FAN_ATTRIB changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perms {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What fanotify reported about the socket file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Its mode, owner or group changed (`old`: what it was, when known).
    Perms { old: Option<Perms>, new: Perms },
    /// It was deleted, or moved away.
    Removed,
    /// It was created, or moved into place.
    Appeared,
}

/// What the I/O side found out about the process that did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// A configured runtime proven on the host side, or, for a user's rootless
    /// socket, that user's own process outside any container.
    pub owner: bool,
    /// Still running when sockwatch looked (its exe link readable).
    pub alive: bool,
}

/// A socket's permissions as a finding shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mode {
    /// Octal, four digits: `0660`.
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
}

impl From<Perms> for Mode {
    fn from(p: Perms) -> Mode {
        Mode { mode: format!("{:04o}", p.mode), uid: p.uid, gid: p.gid }
    }
}

/// The `details` of a socket-file finding; their JSON shape is part of the
/// stable finding format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Details {
    Perms { old: Option<Mode>, new: Mode, world_writable: bool },
    Replaced { change: &'static str, present_now: bool },
}

#[derive(Debug, Clone)]
pub struct Verdict {
    pub signature: &'static Signature,
    /// `chmod`, `chown`, `delete` or `create`.
    pub operation: &'static str,
    pub details: Details,
}

impl Verdict {
    pub fn details_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.details).unwrap_or(serde_json::Value::Null)
    }
}

/// The whole decision. `present_now`: whether the path exists as sockwatch
/// looks (for a replacement's details). `None`: no finding (the runtime setting
/// up or restarting its own socket, or a deletion by a process already gone).
pub fn judge(event: Event, actor: Actor, present_now: bool) -> Option<Verdict> {
    match event {
        // The runtime setting up its own socket (dockerd binds it, then sets its
        // group and mode) is not a finding.
        Event::Perms { .. } if actor.owner => None,
        Event::Perms { old, new } => {
            let world = new.mode & 0o002 != 0 && old.is_none_or(|o| o.mode & 0o002 == 0);
            let owner_changed = old.is_some_and(|o| o.uid != new.uid || o.gid != new.gid);
            Some(Verdict {
                signature: if world { &SOCKET_WORLD_WRITABLE } else { &SOCKET_PERMISSIONS },
                operation: if owner_changed { "chown" } else { "chmod" },
                details: Details::Perms {
                    old: old.map(Mode::from),
                    new: new.into(),
                    world_writable: new.mode & 0o002 != 0,
                },
            })
        }
        Event::Removed | Event::Appeared => {
            let created = event == Event::Appeared;
            if !is_replacement_finding(created, actor.owner, actor.alive) {
                return None;
            }
            Some(Verdict {
                signature: &SOCKET_REPLACED,
                operation: if created { "create" } else { "delete" },
                details: Details::Replaced { change: change(created), present_now },
            })
        }
    }
}

/// How a replacement's details name the change.
pub fn change(created: bool) -> &'static str {
    if created { "created or moved into place" } else { "deleted or moved away" }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn p(mode: u32, uid: u32, gid: u32) -> Perms {
        Perms { mode, uid, gid }
    }
    const OWNER: Actor = Actor { owner: true, alive: true };
    const OTHER: Actor = Actor { owner: false, alive: true };
    const GONE: Actor = Actor { owner: false, alive: false };

    #[test]
    fn table() {
        let sock = Some(p(0o660, 0, 998));
        // (event, actor, expected (id, severity, operation) or no finding)
        type Row = (Event, Actor, Option<(&'static str, u8, &'static str)>);
        let cases: &[Row] = &[
            (
                Event::Perms { old: sock, new: p(0o666, 0, 998) },
                OTHER,
                Some(("SW-1001", 3, "chmod")),
            ),
            (Event::Perms { old: sock, new: p(0o666, 0, 998) }, OWNER, None),
            (
                Event::Perms { old: sock, new: p(0o660, 0, 1000) },
                OTHER,
                Some(("SW-1001", 2, "chown")),
            ),
            (
                Event::Perms { old: sock, new: p(0o640, 0, 998) },
                GONE,
                Some(("SW-1001", 2, "chmod")),
            ),
            // Already world-writable: a further change is not a new exposure.
            (
                Event::Perms { old: Some(p(0o666, 0, 0)), new: p(0o667, 0, 0) },
                OTHER,
                Some(("SW-1001", 2, "chmod")),
            ),
            // Unknown before: world-writable now is the exposure.
            (Event::Perms { old: None, new: p(0o666, 0, 0) }, OTHER, Some(("SW-1001", 3, "chmod"))),
            (Event::Appeared, OTHER, Some(("SW-1002", 3, "create"))),
            (Event::Appeared, GONE, Some(("SW-1002", 3, "create"))),
            (Event::Appeared, OWNER, None),
            (Event::Removed, OTHER, Some(("SW-1002", 3, "delete"))),
            (Event::Removed, GONE, None),
            (Event::Removed, OWNER, None),
        ];
        for (i, (ev, actor, want)) in cases.iter().enumerate() {
            let got = judge(*ev, *actor, true)
                .map(|v| (v.signature.id, v.signature.severity, v.operation));
            assert_eq!(got, *want, "case {i}: {ev:?} by {actor:?}");
        }
    }

    #[test]
    fn details_keep_their_json_shape() {
        let v =
            judge(Event::Perms { old: Some(p(0o660, 0, 998)), new: p(0o666, 0, 0) }, OTHER, true)
                .unwrap();
        assert_eq!(
            v.details_json().to_string(),
            r#"{"new":{"gid":0,"mode":"0666","uid":0},"old":{"gid":998,"mode":"0660","uid":0},"world_writable":true}"#
        );
        let v = judge(Event::Perms { old: None, new: p(0o660, 0, 0) }, OTHER, true).unwrap();
        assert_eq!(v.details_json()["old"], serde_json::Value::Null);
        let v = judge(Event::Removed, OTHER, false).unwrap();
        assert_eq!(
            v.details_json().to_string(),
            r#"{"change":"deleted or moved away","present_now":false}"#
        );
    }
}
