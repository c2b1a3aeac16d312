//! Health events: what sockwatch says about itself when the host changes under
//! it (audit switched off, rules wiped, records lost) and what it did about it. A
//! monitor that may have gone blind must say so. They go to every output, marked
//! `"kind": "health"`, and are never mixed up with findings.

use std::collections::BTreeMap;

use serde::Serialize;

use super::finding::Host;

/// The journal's MESSAGE_ID of every health event (packaging/sockwatch.catalog
/// explains it); each signature has its own (`core::signature`).
pub const MESSAGE_ID: &str = "c5f7e0a2b7f94c1c9a3d1e6b8f2d4a90";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    /// As a syslog priority.
    pub fn priority(self) -> u8 {
        match self {
            Level::Info => 6,
            Level::Warning => 4,
            Level::Error => 3,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub kind: &'static str,
    pub time: String,
    /// What happened, as a stable name: `audit_disabled`, `audit_enabled`,
    /// `rules_missing`, `rules_restored`, `records_lost`, `socket_changed`, ...
    pub event: &'static str,
    pub level: Level,
    pub message: String,
    pub details: BTreeMap<&'static str, serde_json::Value>,
    pub host: Host,
}

impl Health {
    pub fn new(
        time: String,
        event: &'static str,
        level: Level,
        message: String,
        hostname: &str,
    ) -> Health {
        Health {
            kind: "health",
            time,
            event,
            level,
            message,
            details: BTreeMap::new(),
            host: Host { hostname: Some(hostname.to_string()) },
        }
    }

    pub fn with(mut self, key: &'static str, value: impl Into<serde_json::Value>) -> Health {
        self.details.insert(key, value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_kind_health() {
        let h = Health::new(
            "2026-11-28T00:00:00.000000Z".into(),
            "audit_disabled",
            Level::Warning,
            "audit was switched off".into(),
            "h",
        )
        .with("enabled", 0)
        .with("restored", true);
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(v["kind"], "health");
        assert_eq!(v["event"], "audit_disabled");
        assert_eq!(v["level"], "warning");
        assert_eq!(v["details"], serde_json::json!({"enabled": 0, "restored": true}));
        assert!(v.get("signature").is_none(), "never mistaken for a finding");
    }
}
