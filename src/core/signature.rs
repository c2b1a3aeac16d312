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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_deletions_and_creations_are_sw_1002() {
        // (created, by_owner, actor_alive) -> finding
        let table = [
            ((true, false, true), true),
            ((true, false, false), true),
            ((true, true, true), false),
            ((false, false, true), true),
            ((false, false, false), false),
            ((false, true, true), false),
        ];
        for ((created, owner, alive), want) in table {
            assert_eq!(
                is_replacement_finding(created, owner, alive),
                want,
                "created={created} owner={owner} alive={alive}"
            );
        }
    }
}
