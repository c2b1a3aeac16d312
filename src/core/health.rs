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

/// Every health event sockwatch emits, by its stable name. The docs list each
/// (the man page's list is generated from `Event::ALL`, and a test holds the
/// README to it), so a new event cannot go undocumented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    AuditDisabled,
    AuditEnabled,
    AuditUnreadable,
    RulesRestored,
    RulesMissing,
    RulesRefused,
    RulesUnreadable,
    RegistrationLost,
    RecordsLost,
    SocketChanged,
    SocketWatched,
    AuditTaskNever,
    AuditEnabledLate,
    X32Enabled,
    HostNamespacesUnknown,
    ProcessEventsLost,
    FanotifyOverflow,
    ConnectUnchecked,
    ResponseFailed,
    ContainerReleased,
}

impl Event {
    pub const ALL: [Event; 20] = [
        Event::AuditDisabled,
        Event::AuditEnabled,
        Event::AuditUnreadable,
        Event::RulesRestored,
        Event::RulesMissing,
        Event::RulesRefused,
        Event::RulesUnreadable,
        Event::RegistrationLost,
        Event::RecordsLost,
        Event::SocketChanged,
        Event::SocketWatched,
        Event::AuditTaskNever,
        Event::AuditEnabledLate,
        Event::X32Enabled,
        Event::HostNamespacesUnknown,
        Event::ProcessEventsLost,
        Event::FanotifyOverflow,
        Event::ConnectUnchecked,
        Event::ResponseFailed,
        Event::ContainerReleased,
    ];

    /// Its position in `ALL`: the index of the per-event counters (`core::stats`).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name outputs carry (`event`, `HEALTH_EVENT`, syslog's `event=`).
    pub fn name(self) -> &'static str {
        match self {
            Event::AuditDisabled => "audit_disabled",
            Event::AuditEnabled => "audit_enabled",
            Event::AuditUnreadable => "audit_unreadable",
            Event::RulesRestored => "rules_restored",
            Event::RulesMissing => "rules_missing",
            Event::RulesRefused => "rules_refused",
            Event::RulesUnreadable => "rules_unreadable",
            Event::RegistrationLost => "registration_lost",
            Event::RecordsLost => "records_lost",
            Event::SocketChanged => "socket_changed",
            Event::SocketWatched => "socket_watched",
            Event::AuditTaskNever => "audit_task_never",
            Event::AuditEnabledLate => "audit_enabled_late",
            Event::X32Enabled => "x32_enabled",
            Event::HostNamespacesUnknown => "host_namespaces_unknown",
            Event::ProcessEventsLost => "process_events_lost",
            Event::FanotifyOverflow => "fanotify_overflow",
            Event::ConnectUnchecked => "connect_unchecked",
            Event::ResponseFailed => "response_failed",
            Event::ContainerReleased => "container_released",
        }
    }

    /// What it means, in a line, for the man page.
    pub fn about(self) -> &'static str {
        match self {
            Event::AuditDisabled => {
                "audit was switched off; turned back on unless keep_audit_state is set"
            }
            Event::AuditEnabled => "audit is on again after being off",
            Event::AuditUnreadable => "audit's state could not be read (AUDIT_GET failed)",
            Event::RulesRestored => "sockwatch's rules were removed and are loaded again",
            Event::RulesMissing => {
                "a rule that is required cannot be loaded (refused, or the configuration is locked)"
            }
            Event::RulesRefused => {
                "the kernel refused a rule (for example the io_uring rule on a kernel without that list)"
            }
            Event::RulesUnreadable => "the loaded rules could not be listed",
            Event::RegistrationLost => {
                "in unicast mode, sockwatch is no longer the registered audit daemon"
            }
            Event::RecordsLost => {
                "audit records were lost: the kernel's lost counter rose, or sockwatch's socket overflowed (ENOBUFS)"
            }
            Event::SocketChanged => "a watched socket was re-created with a new inode",
            Event::SocketWatched => {
                "a watched socket's directory appeared and its rules are loaded"
            }
            Event::AuditTaskNever => {
                "a never rule on audit's task list blinds audit for every task created while it is loaded"
            }
            Event::AuditEnabledLate => {
                "audit was first enabled after boot: processes started before then are never audited"
            }
            Event::X32Enabled => {
                "the kernel runs x32 programs, whose connects match no syscall rule"
            }
            Event::HostNamespacesUnknown => {
                "neither PID 1's nor kthreadd's namespaces can be read (CAP_SYS_PTRACE missing): no process counts as in the host's mount namespace"
            }
            Event::ProcessEventsLost => {
                "process connector events were lost; the process history is rebuilt"
            }
            Event::FanotifyOverflow => {
                "fanotify's queue overflowed: changes to the socket files may have been missed"
            }
            Event::ConnectUnchecked => {
                "a connect's address could not be resolved in time (a stalled file system); it was not checked"
            }
            Event::ResponseFailed => {
                "--respond could not freeze the container or kill the process (the finding says why)"
            }
            Event::ContainerReleased => "`sockwatch release` thawed a container that was frozen",
        }
    }
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub kind: &'static str,
    pub time: String,
    /// What happened.
    pub event: Event,
    pub level: Level,
    pub message: String,
    pub details: BTreeMap<&'static str, serde_json::Value>,
    pub host: Host,
}

impl Health {
    pub fn new(
        time: String,
        event: Event,
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
            Event::AuditDisabled,
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

    #[test]
    fn the_index_is_the_position_in_all() {
        for (i, e) in Event::ALL.iter().enumerate() {
            assert_eq!(e.index(), i, "{}", e.name());
        }
    }

    #[test]
    fn every_event_has_its_own_name() {
        let mut names: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Event::ALL.len());
        assert!(
            names.iter().all(|n| n
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()))
        );
    }
}
