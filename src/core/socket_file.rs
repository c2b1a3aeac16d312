//! SW-1001 "Runtime socket permissions changed" and SW-1002 "Runtime socket
//! replaced": what happened to a watched socket file (as fanotify saw it, and
//! what the I/O side found out about who did it) -> a finding's signature,
//! operation and details, or nothing. The definitions are in `signature`.

use serde::Serialize;

use super::signature::{
    SOCKET_PERMISSIONS, SOCKET_REPLACED, SOCKET_WORLD_WRITABLE, Signature, is_replacement_finding,
};

/// A socket file's owner, mode and access ACL, to tell what a FAN_ATTRIB
/// changed (`setfacl -m u:1000:rw` changes neither mode nor owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perms {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub acl: Acl,
}

/// Named entries kept from an access ACL, at most: more is marked, not kept.
pub const ACL_MAX: usize = 8;

/// One entry of a POSIX access ACL: a named user or group and its rwx bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AclEntry {
    /// `ACL_USER` (2) or `ACL_GROUP` (8).
    pub tag: u16,
    pub id: u32,
    pub perm: u16,
}

/// The named user and group entries of a socket's access ACL and its mask, from
/// the `system.posix_acl_access` attribute. The owner, group and other entries
/// are the mode's bits, already compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Acl {
    pub entries: [AclEntry; ACL_MAX],
    pub len: u8,
    /// There were more named entries than `ACL_MAX`.
    pub more: bool,
    /// The mask entry's bits (`None`: no mask, so no named entries either).
    pub mask: Option<u16>,
}

const ACL_USER: u16 = 0x02;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;

impl Acl {
    /// Parses the kernel's xattr form: a 4-byte version (2), then 8-byte entries
    /// (tag u16, perm u16, id u32), little-endian. `None` for anything else.
    pub fn parse(raw: &[u8]) -> Option<Acl> {
        let (head, body) = raw.split_at_checked(4)?;
        if u32::from_le_bytes(head.try_into().ok()?) != 2 || body.len() % 8 != 0 {
            return None;
        }
        let mut acl = Acl::default();
        for e in body.chunks_exact(8) {
            let tag = u16::from_le_bytes([e[0], e[1]]);
            let perm = u16::from_le_bytes([e[2], e[3]]);
            let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
            match tag {
                ACL_MASK => acl.mask = Some(perm),
                ACL_USER | ACL_GROUP if usize::from(acl.len) < ACL_MAX => {
                    acl.entries[usize::from(acl.len)] = AclEntry { tag, id, perm };
                    acl.len += 1;
                }
                ACL_USER | ACL_GROUP => acl.more = true,
                _ => {}
            }
        }
        Some(acl)
    }

    pub fn entries(&self) -> &[AclEntry] {
        &self.entries[..usize::from(self.len)]
    }

    /// `user:1000:rw-`, `group:998:r--`, as getfacl writes them (effective bits:
    /// the mask applied), then `mask::rw-`.
    pub fn texts(&self) -> Vec<String> {
        let bits = |p: u16| {
            format!(
                "{}{}{}",
                if p & 4 != 0 { 'r' } else { '-' },
                if p & 2 != 0 { 'w' } else { '-' },
                if p & 1 != 0 { 'x' } else { '-' }
            )
        };
        let mask = self.mask.unwrap_or(7);
        let mut out: Vec<String> = self
            .entries()
            .iter()
            .map(|e| {
                let kind = if e.tag == ACL_USER { "user" } else { "group" };
                format!("{kind}:{}:{}", e.id, bits(e.perm & mask))
            })
            .collect();
        if self.more {
            out.push("...".into());
        }
        if let Some(m) = self.mask {
            out.push(format!("mask::{}", bits(m)));
        }
        out
    }

    /// Whether some named user or group may write (so connect) to the socket.
    pub fn grants_write(&self) -> bool {
        let mask = self.mask.unwrap_or(7);
        self.more || self.entries().iter().any(|e| e.perm & mask & 2 != 0)
    }
}

/// What fanotify reported about the socket file. Short-lived, one at a time: the
/// size of a permission change (two ACLs) does not matter.
#[allow(clippy::large_enum_variant)]
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

impl Actor {
    /// Reads who did it, then whether it still runs, in that order: a runtime
    /// that deletes its socket and exits (Docker's containerd does) can be gone
    /// by the second read. Read the other way, it would look like a living
    /// process that is no owner, a stranger; read this way, an owner that exits
    /// mid-check is simply gone, which a deletion allows. A permissions change
    /// is judged by who did it alone.
    pub fn read(event: Event, owner: impl FnOnce() -> bool, alive: impl FnOnce() -> bool) -> Actor {
        let owner = owner();
        let alive = match event {
            Event::Perms { .. } => true,
            Event::Removed | Event::Appeared => alive(),
        };
        Actor { owner, alive }
    }
}

/// A socket's permissions as a finding shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mode {
    /// Octal, four digits: `0660`.
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
    /// The access ACL's named entries and mask, when it has any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<String>,
}

impl From<Perms> for Mode {
    fn from(p: Perms) -> Mode {
        Mode { mode: format!("{:04o}", p.mode), uid: p.uid, gid: p.gid, acl: p.acl.texts() }
    }
}

/// The `details` of a socket-file finding; their JSON shape is part of the
/// stable finding format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Details {
    Perms {
        old: Option<Mode>,
        new: Mode,
        world_writable: bool,
        /// Some named user or group may write to it through the ACL now.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        acl_grants_write: bool,
    },
    Replaced {
        change: &'static str,
        present_now: bool,
    },
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
            // Named ACL entries changed: setfacl. The mask alone changes with a
            // chmod of the group bits, so it does not count.
            let entries_changed = old.is_some_and(|o| {
                o.acl.entries() != new.acl.entries() || o.acl.more != new.acl.more
            });
            let operation = if owner_changed {
                "chown"
            } else if entries_changed {
                "setfacl"
            } else {
                "chmod"
            };
            Some(Verdict {
                signature: if world { &SOCKET_WORLD_WRITABLE } else { &SOCKET_PERMISSIONS },
                operation,
                details: Details::Perms {
                    old: old.map(Mode::from),
                    new: new.into(),
                    world_writable: new.mode & 0o002 != 0,
                    acl_grants_write: new.acl.grants_write(),
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
        Perms {
            mode,
            uid,
            gid,
            acl: Acl {
                entries: [AclEntry { tag: 0, id: 0, perm: 0 }; ACL_MAX],
                len: 0,
                more: false,
                mask: None,
            },
        }
    }

    /// containerd deletes its socket as it exits: seen alive and as the owner
    /// by the first read, gone by the second. That is no finding.
    #[test]
    fn an_owner_exiting_between_the_reads_is_no_stranger() {
        let reads = std::cell::Cell::new(0);
        // The process answers the first read as the runtime it is, and is gone
        // for any read after that.
        let live_once = |answer: bool| {
            let n = reads.get();
            reads.set(n + 1);
            n == 0 && answer
        };
        let actor = Actor::read(Event::Removed, || live_once(true), || live_once(true));
        assert_eq!(actor, Actor { owner: true, alive: false });
        assert!(judge(Event::Removed, actor, false).is_none());
        assert_eq!(reads.get(), 2);
        // A stranger that is still there is a finding.
        let actor = Actor::read(Event::Removed, || false, || true);
        assert!(judge(Event::Removed, actor, false).is_some());
        // A permissions change never asks whether the process still runs.
        let perms = Event::Perms { old: None, new: p(0o660, 0, 998) };
        let actor = Actor::read(perms, || true, || unreachable!("not asked"));
        assert_eq!(actor, Actor { owner: true, alive: true });
    }

    /// `setfacl -m u:UID:PERM` on a 0660 root:998 socket, as the kernel stores it.
    fn acl_xattr(named: &[(u16, u32, u16)], mask: u16) -> Vec<u8> {
        let mut v = 2u32.to_le_bytes().to_vec();
        let mut push = |tag: u16, perm: u16, id: u32| {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        };
        push(0x01, 6, u32::MAX);
        for &(tag, id, perm) in named {
            push(tag, perm, id);
        }
        push(0x04, 6, u32::MAX);
        push(ACL_MASK, mask, u32::MAX);
        push(0x20, 0, u32::MAX);
        v
    }

    fn with_acl(mut p: Perms, raw: &[u8]) -> Perms {
        p.acl = Acl::parse(raw).unwrap();
        p
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
            // setfacl -m u:1000:rw: mode and owner the same, the ACL grants write.
            (
                Event::Perms {
                    old: sock,
                    new: with_acl(p(0o660, 0, 998), &acl_xattr(&[(2, 1000, 6)], 6)),
                },
                OTHER,
                Some(("SW-1001", 2, "setfacl")),
            ),
            (
                Event::Perms {
                    old: sock,
                    new: with_acl(p(0o660, 0, 998), &acl_xattr(&[(2, 1000, 6)], 6)),
                },
                OWNER,
                None,
            ),
            // setfacl -m g:1000:rwx, with the mode's group bits (the mask) changed too.
            (
                Event::Perms {
                    old: sock,
                    new: with_acl(p(0o670, 0, 998), &acl_xattr(&[(8, 1000, 7)], 7)),
                },
                OTHER,
                Some(("SW-1001", 2, "setfacl")),
            ),
            // chmod g-w on a socket with an ACL: the mask changes, the entries do not.
            (
                Event::Perms {
                    old: Some(with_acl(p(0o660, 0, 998), &acl_xattr(&[(2, 1000, 6)], 6))),
                    new: with_acl(p(0o640, 0, 998), &acl_xattr(&[(2, 1000, 6)], 4)),
                },
                OTHER,
                Some(("SW-1001", 2, "chmod")),
            ),
        ];
        for (i, (ev, actor, want)) in cases.iter().enumerate() {
            let got = judge(*ev, *actor, true)
                .map(|v| (v.signature.id, v.signature.severity, v.operation));
            assert_eq!(got, *want, "case {i}: {ev:?} by {actor:?}");
        }
    }

    #[test]
    fn acls_parse_bounded_and_name_what_they_grant() {
        let a = Acl::parse(&acl_xattr(&[(2, 1000, 6), (8, 27, 4)], 6)).unwrap();
        assert_eq!(a.texts(), ["user:1000:rw-", "group:27:r--", "mask::rw-"]);
        assert!(a.grants_write());
        // The mask takes write away from every named entry.
        let masked = Acl::parse(&acl_xattr(&[(2, 1000, 6)], 4)).unwrap();
        assert_eq!(masked.texts(), ["user:1000:r--", "mask::r--"]);
        assert!(!masked.grants_write());
        // More entries than kept: marked, and counted as granting (fail closed).
        let many: Vec<(u16, u32, u16)> = (0..20).map(|i| (2, 1000 + i, 4)).collect();
        let big = Acl::parse(&acl_xattr(&many, 4)).unwrap();
        assert_eq!(big.entries().len(), ACL_MAX);
        assert!(big.more && big.grants_write());
        // Damage is None, never a panic.
        for bad in [&b""[..], b"\x02\x00\x00", b"\x03\x00\x00\x00", b"\x02\x00\x00\x00\x01"] {
            assert_eq!(Acl::parse(bad), None, "{bad:?}");
        }
        let v = judge(
            Event::Perms {
                old: Some(p(0o660, 0, 998)),
                new: with_acl(p(0o660, 0, 998), &acl_xattr(&[(2, 1000, 6)], 6)),
            },
            OTHER,
            true,
        )
        .unwrap();
        let d = v.details_json();
        assert_eq!(d["new"]["acl"], serde_json::json!(["user:1000:rw-", "mask::rw-"]));
        assert_eq!(d["acl_grants_write"], true);
        assert!(d["old"].get("acl").is_none(), "no ACL before: {d}");
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
