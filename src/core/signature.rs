//! The metadata of the signatures sockwatch implements, kept identical to the
//! reference (Tracee's TRC-1019) so findings can be correlated with it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Mitre {
    pub technique_id: &'static str,
    pub attack_pattern: &'static str,
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
};

/// sockwatch's own: a watched socket's mode, owner or group changed.
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
};

/// SW-1001 when the change makes the socket writable by everyone.
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

/// Every signature, for the cache of their JSON.
static ALL: [&Signature; 4] =
    [&DOCKER_ABUSE, &SOCKET_PERMISSIONS, &SOCKET_WORLD_WRITABLE, &SOCKET_REPLACED];

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
    fn the_cached_json_is_the_signatures_own() {
        for s in ALL {
            assert_eq!(cached_json(s), Some(serde_json::to_string(s).unwrap().as_str()));
        }
        static OTHER: Signature = Signature { id: "X-1", ..DOCKER_ABUSE };
        assert_eq!(cached_json(&OTHER), None, "a copy is not in the table");
    }
}
