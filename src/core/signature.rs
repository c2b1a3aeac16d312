//! The metadata of the signatures sockwatch implements, kept identical to the
//! reference (Tracee's TRC-1019) so findings can be correlated with it.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Mitre {
    pub technique_id: &'static str,
    pub attack_pattern: &'static str,
}

#[derive(Debug, Serialize)]
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
