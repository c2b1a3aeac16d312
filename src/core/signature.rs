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
    mitre: Mitre { technique_id: "T1222", attack_pattern: "attack-pattern--65917ae0-b854-4139-83fe-bf2441cf0196" },
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
    mitre: Mitre { technique_id: "T1557", attack_pattern: "attack-pattern--035bb001-ab69-4a0b-9f6c-2de8b09e1b9d" },
};
