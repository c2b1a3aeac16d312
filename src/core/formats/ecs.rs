//! A finding or health event as an Elastic Common Schema 8.x document: ECS
//! field names nested as objects, categorization from ECS's allowed values,
//! and sockwatch's own fields under `sockwatch`. Absent values are left out,
//! never written as null. tests/formats.rs checks every field against the
//! published ECS definitions (tests/data/schema).

use serde_json::{Map, Value};

use super::super::finding::Finding;
use super::super::health::{Event, Health};
use super::super::signature::Summary;
use super::{
    Mapped, basename, level_severity, put, sockwatch_fields, tactic_url, tactics, technique_url,
};

/// The ECS version the documents conform to (`ecs.version`).
pub const VERSION: &str = "8.11.0";

/// `event.category` and `event.type` of a finding: an alert from an
/// intrusion detection, about a connection (TRC-1019) or a file (the socket's
/// mode changed, or it was created or deleted).
pub fn categorization(f: &Finding) -> (&'static [&'static str], &'static [&'static str]) {
    match f.signature.summary {
        Summary::Connect => (&["intrusion_detection", "network"], &["info", "connection"]),
        Summary::Permissions => (&["intrusion_detection", "file"], &["info", "change"]),
        Summary::Replaced if f.operation == "create" => {
            (&["intrusion_detection", "file"], &["info", "creation"])
        }
        Summary::Replaced => (&["intrusion_detection", "file"], &["info", "deletion"]),
    }
}

pub fn finding(f: &Finding) -> Value {
    let mut d = Map::new();
    let sig = f.signature;
    put(&mut d, "@timestamp", f.time.as_str());
    put(&mut d, "message", f.message.as_str());
    put(&mut d, "ecs.version", VERSION);
    let (category, types) = categorization(f);
    put(&mut d, "event.kind", "alert");
    put(&mut d, "event.category", category.to_vec());
    put(&mut d, "event.type", types.to_vec());
    put(&mut d, "event.outcome", if f.outcome.success { "success" } else { "failure" });
    put(&mut d, "event.action", f.operation);
    put(&mut d, "event.module", "sockwatch");
    put(&mut d, "event.dataset", "sockwatch.finding");
    put(&mut d, "event.severity", sig.severity);
    put(&mut d, "log.level", f.priority);
    if let Some(errno) = &f.outcome.errno {
        put(&mut d, "error.code", errno.as_str());
    }
    put(&mut d, "rule.id", sig.id);
    put(&mut d, "rule.name", sig.name);
    put(&mut d, "rule.category", sig.category);
    put(&mut d, "rule.version", sig.version.to_string());
    put(&mut d, "rule.ruleset", "sockwatch");
    let technique = sig.mitre.technique_id;
    let tactics = tactics(technique);
    put(&mut d, "threat.framework", "MITRE ATT&CK");
    put(&mut d, "threat.technique.id", vec![technique]);
    put(&mut d, "threat.technique.name", vec![sig.technique]);
    put(&mut d, "threat.technique.reference", vec![technique_url(technique)]);
    put(&mut d, "threat.tactic.id", tactics.iter().map(|t| t.0).collect::<Vec<_>>());
    put(&mut d, "threat.tactic.name", tactics.iter().map(|t| t.1).collect::<Vec<_>>());
    put(
        &mut d,
        "threat.tactic.reference",
        tactics.iter().map(|t| tactic_url(t.0)).collect::<Vec<_>>(),
    );
    // The host marker and an unknown container are not containers: their
    // runtime and why stay under sockwatch.container.
    let c = &f.container;
    if let (Some(id), false) = (&c.id, c.is_host()) {
        put(&mut d, "container.id", id.as_str());
        put(&mut d, "container.runtime", c.runtime.as_str());
        if let Some(name) = &c.name {
            put(&mut d, "container.name", name.as_str());
        }
        if let Some(image) = &c.image {
            put(&mut d, "container.image.name", image.as_str());
        }
        if let Some(digest) = &c.image_id {
            put(&mut d, "container.image.hash.all", vec![digest.as_str()]);
        }
    }
    let p = &f.process;
    if let Some(pid) = p.pid {
        put(&mut d, "process.pid", pid);
    }
    if let Some(ppid) = p.ppid {
        put(&mut d, "process.parent.pid", ppid);
    }
    if let Some(exe) = &p.exe {
        put(&mut d, "process.executable", exe.as_str());
    }
    if let Some(comm) = &p.comm {
        put(&mut d, "process.name", comm.as_str());
    }
    if !p.cmdline.is_empty() {
        put(&mut d, "process.args", p.cmdline.clone());
        put(&mut d, "process.args_count", p.cmdline.len());
    }
    if let Some(cwd) = &p.cwd {
        put(&mut d, "process.working_directory", cwd.as_str());
    }
    if let Some(uid) = p.uid {
        put(&mut d, "process.real_user.id", uid.to_string());
        put(&mut d, "user.id", uid.to_string());
    }
    if let Some(euid) = p.euid {
        put(&mut d, "process.user.id", euid.to_string());
        put(&mut d, "user.effective.id", euid.to_string());
    }
    if let Some(h) = &f.host.hostname {
        put(&mut d, "host.hostname", h.as_str());
        put(&mut d, "host.name", h.as_str());
    }
    let s = &f.socket;
    // The file is the watched socket on the host; the name the process
    // connected to (relative, or an alias) is sockwatch.socket.path. A scan
    // given only an identity (`--socket-inode MAJ:MIN:INODE`) has no path:
    // the identity is then in file.device and file.inode alone.
    if s.watched.starts_with('/') {
        put(&mut d, "file.path", s.watched.as_str());
        put(&mut d, "file.name", basename(&s.watched));
        if let Some((dir, _)) = s.watched.rsplit_once('/') {
            put(&mut d, "file.directory", if dir.is_empty() { "/" } else { dir });
        }
    }
    put(&mut d, "file.type", "socket");
    if s.inode != 0 {
        put(&mut d, "file.inode", s.inode.to_string());
    }
    if !s.dev.is_empty() {
        put(&mut d, "file.device", s.dev.as_str());
    }
    put(
        &mut d,
        "sockwatch",
        sockwatch_fields(f, Mapped { argv: true, image: true, cwd_euid: true }),
    );
    Value::Object(d)
}

/// `event.type` of a health event: `change` when the host's audit setup or a
/// watched socket changed under sockwatch, `info` for what it found.
pub fn health_type(e: Event) -> &'static str {
    match e {
        Event::AuditDisabled
        | Event::AuditEnabled
        | Event::RulesRestored
        | Event::RegistrationLost
        | Event::SocketChanged
        | Event::SocketWatched => "change",
        _ => "info",
    }
}

/// A health event: `event.kind: event` about the host's audit configuration
/// (category `configuration`), with the level as `log.level`.
pub fn health(h: &Health) -> Value {
    let mut d = Map::new();
    put(&mut d, "@timestamp", h.time.as_str());
    put(&mut d, "message", h.message.as_str());
    put(&mut d, "ecs.version", VERSION);
    put(&mut d, "event.kind", "event");
    put(&mut d, "event.category", vec!["configuration"]);
    put(&mut d, "event.type", vec![health_type(h.event)]);
    put(&mut d, "event.action", h.event.name());
    put(&mut d, "event.module", "sockwatch");
    put(&mut d, "event.dataset", "sockwatch.health");
    put(&mut d, "event.severity", level_severity(h.level));
    put(&mut d, "log.level", serde_json::to_value(h.level).unwrap_or(Value::Null));
    if let Some(host) = &h.host.hostname {
        put(&mut d, "host.hostname", host.as_str());
        put(&mut d, "host.name", host.as_str());
    }
    put(&mut d, "sockwatch.event", h.event.name());
    if !h.details.is_empty() {
        put(&mut d, "sockwatch.details", serde_json::to_value(&h.details).unwrap_or(Value::Null));
    }
    Value::Object(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::finding::tests::sample;
    use crate::core::health::Level;
    use crate::core::signature::{ALL, DOCKER_ABUSE, SOCKET_REPLACED};

    #[test]
    fn a_connect_is_an_alert_with_its_rule_and_threat() {
        let v = finding(&sample());
        assert_eq!(v["@timestamp"], "2026-11-28T10:52:42.100000Z");
        assert_eq!(v["event"]["kind"], "alert");
        assert_eq!(v["event"]["category"], serde_json::json!(["intrusion_detection", "network"]));
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(
            (v["event"]["severity"].clone(), v["log"]["level"].clone()),
            (2.into(), "warning".into())
        );
        assert_eq!(v["error"]["code"], "ECONNREFUSED");
        assert_eq!(v["rule"]["id"], "TRC-1019");
        assert_eq!(v["threat"]["technique"]["id"], serde_json::json!(["T1068"]));
        assert_eq!(v["threat"]["tactic"]["id"], serde_json::json!(["TA0004"]));
        assert_eq!(v["threat"]["tactic"]["name"], serde_json::json!(["Privilege Escalation"]));
        assert_eq!(v["process"]["pid"], 10);
        assert_eq!(v["process"]["parent"]["pid"], 9);
        assert_eq!(v["process"]["args"][0], "socat");
        assert_eq!(v["file"]["path"], "/run/docker.sock", "the watched socket, not the alias");
        assert_eq!(v["file"]["name"], "docker.sock");
        assert_eq!(v["file"]["directory"], "/run");
        assert_eq!(v["sockwatch"]["socket"]["path"], "/tmp/x.sock");
        assert_eq!(v["host"]["hostname"], "h1");
        assert!(v.get("container").is_none(), "an unknown container has no container.*: {v}");
        assert_eq!(v["sockwatch"]["container"]["runtime"], "unknown");
        assert_eq!(v["sockwatch"]["audit"]["serial"], 777);
        assert_eq!(v["sockwatch"]["process"]["exe_hex"], "2f746d702ffffe657865");
    }

    /// Every signature gets categories, types and tactics; a socket created
    /// and one deleted differ in their type.
    #[test]
    fn table_over_the_signatures() {
        for s in ALL {
            let mut f = sample();
            f.signature = s;
            let v = finding(&f);
            assert_eq!(v["rule"]["id"], s.id);
            assert!(v["threat"]["tactic"]["id"].as_array().is_some_and(|a| !a.is_empty()));
            assert!(v["event"]["category"].as_array().is_some_and(|a| a.len() == 2));
        }
        let mut f = sample();
        f.signature = &SOCKET_REPLACED;
        f.operation = "create";
        assert_eq!(finding(&f)["event"]["type"], serde_json::json!(["info", "creation"]));
        f.operation = "delete";
        assert_eq!(finding(&f)["event"]["type"], serde_json::json!(["info", "deletion"]));
        assert_eq!(finding(&f)["threat"]["tactic"]["id"], serde_json::json!(["TA0006", "TA0009"]));
        f.signature = &DOCKER_ABUSE;
        f.outcome.success = true;
        f.outcome.errno = None;
        let v = finding(&f);
        assert_eq!(v["event"]["outcome"], "success");
        assert!(v.get("error").is_none());
    }

    #[test]
    fn health_events_are_events_about_configuration() {
        for e in Event::ALL {
            let h = Health::new(
                "2026-11-28T00:00:00.000000Z".into(),
                e,
                Level::Warning,
                "m".into(),
                "h",
            )
            .with("enabled", 0);
            let v = health(&h);
            assert_eq!(v["event"]["kind"], "event");
            assert_eq!(v["event"]["action"], e.name());
            assert_eq!(v["log"]["level"], "warning");
            assert_eq!(v["event"]["severity"], 2, "on the signatures' scale");
            assert_eq!(v["sockwatch"]["details"]["enabled"], 0);
            assert!(v["event"].get("outcome").is_none());
        }
        assert_eq!(health_type(Event::AuditDisabled), "change");
        assert_eq!(health_type(Event::RecordsLost), "info");
    }
}
