//! The signatures sockwatch implements: their metadata (kept identical to the
//! reference, Tracee's TRC-1019, so findings can be correlated with it), and,
//! in one place per signature, what the human-facing outputs say about it: its
//! journal MESSAGE_ID (packaging/sockwatch.catalog explains each) and which
//! summary line it gets (`core::message`). The severity's priority name and
//! syslog level are here too.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Mitre {
    pub technique_id: &'static str,
    pub attack_pattern: &'static str,
}

/// Which one-line summary a signature's findings get (`core::message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    /// A process reached the socket: who, from where, the outcome.
    Connect,
    /// The socket's mode, owner or ACL changed: what changed, and who did it.
    Permissions,
    /// The socket was deleted or created: which, and who did it.
    Replaced,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Signature {
    pub id: &'static str,
    pub name: &'static str,
    pub event: &'static str,
    pub version: u32,
    pub severity: u8,
    pub category: &'static str,
    pub technique: &'static str,
    pub mitre: Mitre,
    /// The journal's MESSAGE_ID for its findings: 128 random bits, one per
    /// signature, so that `journalctl -x` explains each with its own catalog
    /// entry. Not in the JSON (the signature's JSON is the reference's).
    #[serde(skip)]
    pub message_id: &'static str,
    #[serde(skip)]
    pub summary: Summary,
}

/// A severity as the outputs name it: a syslog level (journald's PRIORITY,
/// syslog's PRI) and the finding's `priority` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    pub syslog: u8,
    pub name: &'static str,
}

/// Tracee's severity (0-3, higher is worse; above 3 is taken as worse still)
/// on syslog's scale, as Falco names its priorities: 0 info, 1 notice,
/// 2 warning, 3 error, anything above critical.
pub fn priority(severity: u8) -> Priority {
    let (syslog, name) = match severity {
        0 => (6, "info"),
        1 => (5, "notice"),
        2 => (4, "warning"),
        3 => (3, "error"),
        _ => (2, "critical"),
    };
    Priority { syslog, name }
}

impl Signature {
    pub fn priority(&self) -> Priority {
        priority(self.severity)
    }
}

pub static DOCKER_ABUSE: Signature = Signature {
    id: "TRC-1019",
    name: "Docker socket abuse detected",
    event: "docker_abuse",
    version: 1,
    severity: 2,
    category: "privilege-escalation",
    technique: "Exploitation for Privilege Escalation",
    mitre: Mitre {
        technique_id: "T1068",
        attack_pattern: "attack-pattern--b21c3b2d-02e6-45b1-980b-e69051040839",
    },
    message_id: "33a7ba8e4bf9478b9a8a16e90c3ca0fa",
    summary: Summary::Connect,
};

/// sockwatch's own: a watched socket's mode, owner, group or ACL changed.
pub static SOCKET_PERMISSIONS: Signature = Signature {
    id: "SW-1001",
    name: "Runtime socket permissions changed",
    event: "socket_permissions",
    version: 1,
    severity: 2,
    category: "privilege-escalation",
    technique: "File and Directory Permissions Modification",
    mitre: Mitre {
        technique_id: "T1222",
        attack_pattern: "attack-pattern--65917ae0-b854-4139-83fe-bf2441cf0196",
    },
    message_id: "926b6fdb4ed14199a6361df540002200",
    summary: Summary::Permissions,
};

/// SW-1001 when the change makes the socket writable by everyone: the same
/// signature (and MESSAGE_ID), at a higher severity.
pub static SOCKET_WORLD_WRITABLE: Signature = Signature { severity: 3, ..SOCKET_PERMISSIONS };

/// sockwatch's own: a watched socket was deleted or replaced by a process other
/// than its runtime; whoever did can sit between every client and the runtime.
pub static SOCKET_REPLACED: Signature = Signature {
    id: "SW-1002",
    name: "Runtime socket replaced",
    event: "socket_replaced",
    version: 1,
    severity: 3,
    category: "defense-evasion",
    technique: "Adversary-in-the-Middle",
    mitre: Mitre {
        technique_id: "T1557",
        attack_pattern: "attack-pattern--035bb001-ab69-4a0b-9f6c-2de8b09e1b9d",
    },
    message_id: "c70ad51e2cec49b081004934b5b5da06",
    summary: Summary::Replaced,
};

/// Whether a socket deleted or created is SW-1002. Its runtime doing it is a
/// restart. A deletion by a process already gone (or exiting) when sockwatch
/// looks is a runtime shutting down (Docker's containerd removes its socket as
/// it exits): who did it cannot be proven, but deleting alone intercepts
/// nothing, and a replacement always includes a creation, which is a finding
/// whoever made it, gone or not, unless it is proven to be the runtime.
pub fn is_replacement_finding(created: bool, by_owner: bool, actor_alive: bool) -> bool {
    !by_owner && (created || actor_alive)
}

/// Every signature (SW-1001 at both its severities), for the cache of their
/// JSON and the checks of their MESSAGE_IDs.
pub static ALL: [&Signature; 4] =
    [&DOCKER_ABUSE, &SOCKET_PERMISSIONS, &SOCKET_WORLD_WRITABLE, &SOCKET_REPLACED];

/// The signatures' ids, each once (SW-1001 has two severities but one id): the
/// `signature` label of the metrics, and the index of the per-signature counters
/// (`core::stats`).
pub const IDS: [&str; 3] = [DOCKER_ABUSE.id, SOCKET_PERMISSIONS.id, SOCKET_REPLACED.id];

/// The position of a signature's id in `IDS`.
pub fn index(sig: &Signature) -> usize {
    IDS.iter().position(|id| *id == sig.id).expect("every signature's id is in IDS")
}

/// A signature's JSON never changes and is a fifth of a finding's: it is made
/// once per signature, and `core::finding_json` copies it into each finding.
/// `None` for a signature not in `ALL`.
pub fn cached_json(sig: &Signature) -> Option<&'static str> {
    static JSON: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let cached = JSON.get_or_init(|| {
        ALL.iter().map(|s| super::json::to_string(s).expect("a signature serializes")).collect()
    });
    ALL.iter().position(|s| std::ptr::eq(*s, sig)).map(|i| cached[i].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_every_signature_once() {
        for s in ALL {
            assert_eq!(IDS[index(s)], s.id);
        }
        for id in IDS {
            assert!(ALL.iter().any(|s| s.id == id), "{id}");
            assert_eq!(IDS.iter().filter(|i| **i == id).count(), 1, "{id}");
        }
    }

    #[test]
    fn the_cached_json_is_the_signatures_own() {
        for s in ALL {
            assert_eq!(cached_json(s), Some(serde_json::to_string(s).unwrap().as_str()));
        }
        static OTHER: Signature = Signature { id: "X-1", ..DOCKER_ABUSE };
        assert_eq!(cached_json(&OTHER), None, "a copy is not in the table");
    }

    #[test]
    fn severities_map_to_priorities() {
        #[rustfmt::skip]
        let table = [
            (0, 6, "info"), (1, 5, "notice"), (2, 4, "warning"),
            (3, 3, "error"), (4, 2, "critical"), (255, 2, "critical"),
        ];
        for (severity, syslog, name) in table {
            assert_eq!(priority(severity), Priority { syslog, name }, "severity {severity}");
        }
        assert_eq!(DOCKER_ABUSE.priority().name, "warning");
        assert_eq!(SOCKET_WORLD_WRITABLE.priority().name, "error");
    }

    /// One MESSAGE_ID per signature (SW-1001 keeps its own at either severity),
    /// none shared with another signature or the health events, each 128 bits
    /// in lower-case hex as journald writes them.
    #[test]
    fn each_signature_has_its_own_message_id() {
        let mut by_id: std::collections::BTreeMap<&str, &str> = Default::default();
        for s in ALL {
            assert!(
                s.message_id.len() == 32
                    && s.message_id
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{}: {}",
                s.id,
                s.message_id
            );
            let owner = by_id.entry(s.message_id).or_insert(s.id);
            assert_eq!(*owner, s.id, "{} shares its MESSAGE_ID with {owner}", s.id);
        }
        assert_eq!(by_id.len(), 3, "three signatures, three ids");
        assert!(!by_id.contains_key(crate::core::health::MESSAGE_ID));
        let json = serde_json::to_value(DOCKER_ABUSE).unwrap();
        assert!(json.get("message_id").is_none() && json.get("summary").is_none(), "{json}");
    }
}
