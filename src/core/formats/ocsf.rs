//! A finding as an OCSF 1.3.0 Detection Finding (class 2004), a health event
//! as an OCSF Base Event (class 0). Health events are sockwatch's word about
//! the host's audit setup and its own blind spots: neither a finding nor
//! activity of a monitored entity, and OCSF 1.3 has no class for a sensor's
//! own state (Application Lifecycle is install, start, stop...), so they are
//! Base Events of activity Other, named in `activity_name`; a Base Event takes
//! no `host` profile, so the host name is `unmapped.sockwatch.hostname`. tests/formats.rs
//! validates both against the published JSON schemas (tests/data/schema).

use serde_json::{Map, Value, json};

use super::super::finding::Finding;
use super::super::health::Health;
use super::super::time;
use super::{
    ATTACK_VERSION, Mapped, basename, level_severity, put, sockwatch_fields, tactic_url, tactics,
    technique_url,
};

pub const VERSION: &str = "1.3.0";

/// OCSF's severity (`severity_id`, caption) for a signature's severity (0-3,
/// above is worse): Informational, Low, Medium, High, Critical.
pub fn severity(s: u8) -> (u8, &'static str) {
    match s {
        0 => (1, "Informational"),
        1 => (2, "Low"),
        2 => (3, "Medium"),
        3 => (4, "High"),
        _ => (5, "Critical"),
    }
}

/// `profiles`: those whose attributes the event uses (`host` adds `device`
/// to a Detection Finding; a Base Event takes no such profile).
fn metadata(profiles: &[&str]) -> Value {
    json!({
        "version": VERSION,
        "profiles": profiles,
        "product": {
            "name": "sockwatch",
            "vendor_name": "sockwatch",
            "version": env!("CARGO_PKG_VERSION"),
        },
    })
}

/// RFC 3339 to epoch milliseconds; a time that does not parse (never one
/// sockwatch wrote) is 0 rather than a refused event.
fn millis(t: &str) -> u64 {
    time::parse_instant(t).unwrap_or(0)
}

/// `hostname` holds only a DNS name (the schema's pattern): a host name
/// that is not one is the device's `name` alone.
fn device(hostname: Option<&str>) -> Option<Value> {
    let h = hostname?;
    let mut d = json!({"name": h, "type_id": 0, "type": "Unknown"});
    if is_dns_name(h) {
        d["hostname"] = h.into();
    }
    Some(d)
}

/// Labels of letters, digits and inner hyphens, separated by dots.
fn is_dns_name(h: &str) -> bool {
    !h.is_empty()
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

pub fn finding(f: &Finding) -> Value {
    let sig = f.signature;
    let time = millis(&f.time);
    let (severity_id, severity) = severity(sig.severity);
    let technique = sig.mitre.technique_id;
    let attacks: Vec<Value> = tactics(technique)
        .iter()
        .map(|(id, name)| {
            json!({
                "version": ATTACK_VERSION,
                "technique": {"uid": technique, "name": sig.technique, "src_url": technique_url(technique)},
                "tactic": {"uid": id, "name": name, "src_url": tactic_url(id)},
            })
        })
        .collect();
    // A connect matched by the socket's inode is certain; by the rule key or
    // by name (`scan`, details.matched_by) it is likely.
    let guessed = f.details.as_ref().is_some_and(|d| d.get("matched_by").is_some());
    let (confidence_id, confidence) = if guessed { (2, "Medium") } else { (3, "High") };
    let id = f.audit.as_ref().map_or(f.socket.inode, |a| a.serial);
    let mut e = Map::new();
    put(&mut e, "activity_id", 1);
    put(&mut e, "activity_name", "Create");
    put(&mut e, "category_uid", 2);
    put(&mut e, "category_name", "Findings");
    put(&mut e, "class_uid", 2004);
    put(&mut e, "class_name", "Detection Finding");
    put(&mut e, "type_uid", 200401);
    put(&mut e, "type_name", "Detection Finding: Create");
    put(&mut e, "severity_id", severity_id);
    put(&mut e, "severity", severity);
    put(&mut e, "status_id", 1);
    put(&mut e, "status", "New");
    put(&mut e, "confidence_id", confidence_id);
    put(&mut e, "confidence", confidence);
    put(&mut e, "time", time);
    put(&mut e, "message", f.message.as_str());
    put(&mut e, "count", f.count);
    put(&mut e, "metadata", metadata(&["host"]));
    let uid = format!("{}-{time}-{id}", sig.id);
    put(&mut e, "metadata.uid", uid.as_str());
    put(&mut e, "finding_info.uid", uid);
    put(&mut e, "finding_info.title", sig.name);
    put(&mut e, "finding_info.types", vec![sig.event]);
    put(
        &mut e,
        "finding_info.analytic",
        json!({"uid": sig.id, "name": sig.name, "type_id": 1, "type": "Rule",
               "category": sig.category, "version": sig.version.to_string()}),
    );
    put(&mut e, "finding_info.attacks", attacks);
    if let Some(d) = device(f.host.hostname.as_deref()) {
        put(&mut e, "device", d);
    }
    let mut evidence = Map::new();
    // The watched socket on the host; the name the process connected to is
    // unmapped.sockwatch.socket.path.
    let s = &f.socket;
    // OCSF requires a file's name: a scan given only an identity
    // (`--socket-inode MAJ:MIN:INODE`) names it by that identity, with no path.
    let mut file = json!({"name": basename(&s.watched), "type_id": 5, "type": "Local Socket"});
    if s.watched.starts_with('/') {
        file["path"] = s.watched.as_str().into();
        if let Some((dir, _)) = s.watched.rsplit_once('/') {
            file["parent_folder"] = (if dir.is_empty() { "/" } else { dir }).into();
        }
    }
    if s.inode != 0 {
        file["uid"] = format!("{}:{}", s.dev, s.inode).into();
    }
    evidence.insert("file".into(), file);
    if let Some(p) = process(f) {
        evidence.insert("process".into(), p);
    }
    let c = &f.container;
    if let (Some(id), false) = (&c.id, c.is_host()) {
        let mut container = json!({"uid": id, "runtime": c.runtime});
        if let Some(n) = &c.name {
            container["name"] = n.as_str().into();
        }
        // OCSF's image needs its uid: the digest, when the runtime gave it.
        if let Some(digest) = &c.image_id {
            let mut image = json!({"uid": digest});
            if let Some(name) = &c.image {
                image["name"] = name.as_str().into();
            }
            container["image"] = image;
        }
        evidence.insert("container".into(), container);
    }
    put(&mut e, "evidences", vec![Value::Object(evidence)]);
    let image = c.id.is_some() && !c.is_host() && c.image_id.is_some();
    put(
        &mut e,
        "unmapped.sockwatch",
        sockwatch_fields(f, Mapped { argv: false, image, cwd_euid: false }),
    );
    Value::Object(e)
}

/// The process object, when its pid is known (OCSF needs its pid or uid).
fn process(f: &Finding) -> Option<Value> {
    let p = &f.process;
    let mut o = json!({"pid": p.pid?});
    if let Some(comm) = &p.comm {
        o["name"] = comm.as_str().into();
    }
    if let Some(exe) = &p.exe {
        o["file"] =
            json!({"path": exe, "name": basename(exe), "type_id": 1, "type": "Regular File"});
    }
    if !p.cmdline.is_empty() {
        o["cmd_line"] = p.cmdline.join(" ").into();
    }
    if let Some(uid) = p.uid {
        o["user"] = json!({"uid": uid.to_string()});
    }
    if let Some(ppid) = p.ppid {
        o["parent_process"] = json!({"pid": ppid});
    }
    Some(o)
}

pub fn health(h: &Health) -> Value {
    let (severity_id, severity) = severity(level_severity(h.level));
    let mut e = Map::new();
    put(&mut e, "activity_id", 99);
    put(&mut e, "activity_name", h.event.name());
    put(&mut e, "category_uid", 0);
    put(&mut e, "category_name", "Uncategorized");
    put(&mut e, "class_uid", 0);
    put(&mut e, "class_name", "Base Event");
    put(&mut e, "type_uid", 99);
    put(&mut e, "type_name", "Base Event: Other");
    put(&mut e, "severity_id", severity_id);
    put(&mut e, "severity", severity);
    put(&mut e, "time", millis(&h.time));
    put(&mut e, "message", h.message.as_str());
    put(&mut e, "metadata", metadata(&[]));
    if let Some(host) = &h.host.hostname {
        put(&mut e, "unmapped.sockwatch.hostname", host.as_str());
    }
    put(&mut e, "unmapped.sockwatch.event", h.event.name());
    put(&mut e, "unmapped.sockwatch.level", serde_json::to_value(h.level).unwrap_or(Value::Null));
    if !h.details.is_empty() {
        put(
            &mut e,
            "unmapped.sockwatch.details",
            serde_json::to_value(&h.details).unwrap_or(Value::Null),
        );
    }
    Value::Object(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::finding::tests::sample;
    use crate::core::health::{Event, Level};
    use crate::core::signature::{ALL, SOCKET_REPLACED};

    #[test]
    fn a_connect_is_a_detection_finding() {
        let v = finding(&sample());
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["type_uid"], 200401);
        assert_eq!(v["time"], 1_795_863_162_100u64);
        assert_eq!(v["severity_id"], 3);
        assert_eq!(v["finding_info"]["analytic"]["uid"], "TRC-1019");
        assert_eq!(v["finding_info"]["uid"], "TRC-1019-1795863162100-777");
        assert_eq!(v["finding_info"]["attacks"][0]["tactic"]["uid"], "TA0004");
        assert_eq!(v["finding_info"]["attacks"][0]["technique"]["uid"], "T1068");
        let ev = &v["evidences"][0];
        assert_eq!(
            ev["file"],
            json!({"path": "/run/docker.sock", "name": "docker.sock", "type_id": 5, "type": "Local Socket", "parent_folder": "/run", "uid": "fe:00:5"})
        );
        assert_eq!(ev["process"]["pid"], 10);
        assert_eq!(ev["process"]["parent_process"]["pid"], 9);
        assert_eq!(ev["process"]["cmd_line"], "socat - UNIX-CONNECT:/tmp/x.sock");
        assert!(ev.get("container").is_none());
        assert_eq!(v["device"]["hostname"], "h1");
        assert_eq!(v["confidence_id"], 3);
        assert_eq!(v["unmapped"]["sockwatch"]["audit"]["serial"], 777);
    }

    #[test]
    fn table_over_the_signatures_and_severities() {
        for s in ALL {
            let mut f = sample();
            f.signature = s;
            let v = finding(&f);
            assert_eq!(v["severity_id"], severity(s.severity).0, "{}", s.id);
            assert!(!v["finding_info"]["attacks"].as_array().unwrap().is_empty());
        }
        let mut f = sample();
        f.signature = &SOCKET_REPLACED;
        assert_eq!(finding(&f)["finding_info"]["attacks"].as_array().unwrap().len(), 2);
        assert_eq!(severity(0), (1, "Informational"));
        assert_eq!(severity(9), (5, "Critical"));
        f.details = Some(json!({"matched_by": "rule_key"}));
        assert_eq!(finding(&f)["confidence_id"], 2);
    }

    #[test]
    fn hostnames_that_are_not_dns_names_are_only_names() {
        assert!(is_dns_name("golden-host") && is_dns_name("a.b-c.d"));
        for bad in ["", "a_b", "-a", "a.", "a..b", "h\u{e9}"] {
            assert!(!is_dns_name(bad), "{bad:?}");
            assert!(device(Some(bad)).unwrap().get("hostname").is_none());
        }
    }

    #[test]
    fn health_events_are_base_events() {
        for e in Event::ALL {
            let h =
                Health::new("2026-11-28T00:00:00.000000Z".into(), e, Level::Error, "m".into(), "h");
            let v = health(&h);
            assert_eq!((v["class_uid"].clone(), v["type_uid"].clone()), (json!(0), json!(99)));
            assert_eq!(v["activity_name"], e.name());
            assert_eq!(v["severity_id"], 4);
        }
    }
}
