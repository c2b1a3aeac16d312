//! Findings and health events in the shapes of two published schemas, for
//! consumers that ingest them as they are: the Elastic Common Schema
//! (`ecs`) and OCSF's Detection Finding (`ocsf`). Native JSON (`Finding`'s own
//! serialization) stays the definition of a finding; these are views of it,
//! made with serde_json on the opt-in path, never on the default one.
//!
//! Both map a signature's MITRE technique to the ATT&CK tactics it serves
//! (`tactics`), and keep what the schema has no field for under sockwatch's own
//! name (`sockwatch.*` in ECS, `unmapped.sockwatch` in OCSF), so no part of a
//! finding is lost.

pub mod ecs;
pub mod ocsf;

use serde_json::{Map, Value};

use super::finding::Finding;
use super::health::Level;

/// The ATT&CK tactics (id, name) of the techniques the signatures name, as
/// ATT&CK files each technique (enterprise matrix). A signature's own
/// `category` is Tracee's word and not always ATT&CK's: T1222 is Defense
/// Evasion only, T1557 Credential Access and Collection.
pub fn tactics(technique_id: &str) -> &'static [(&'static str, &'static str)] {
    match technique_id {
        "T1068" => &[("TA0004", "Privilege Escalation")],
        "T1222" => &[("TA0005", "Defense Evasion")],
        "T1557" => &[("TA0006", "Credential Access"), ("TA0009", "Collection")],
        _ => &[],
    }
}

/// A health event's level on the signatures' severity scale (0 to 3, higher
/// is worse), so that one severity field orders findings and health events
/// alike: the level and a signature of that severity have the same priority
/// word (`signature::priority`).
pub fn level_severity(l: Level) -> u8 {
    match l {
        Level::Info => 0,
        Level::Warning => 2,
        Level::Error => 3,
    }
}

/// The ATT&CK version the technique and tactic ids above are checked against.
pub const ATTACK_VERSION: &str = "16.1";

pub fn technique_url(id: &str) -> String {
    format!("https://attack.mitre.org/techniques/{id}/")
}

pub fn tactic_url(id: &str) -> String {
    format!("https://attack.mitre.org/tactics/{id}/")
}

/// The last component of a path (the whole of it when it has no slash).
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Which of the finding's own fields a mapping carries in the schema's: they
/// are left out of `sockwatch_fields`, the others kept there.
pub struct Mapped {
    /// The argv, whole (ECS's `process.args`; OCSF's `cmd_line` is one string,
    /// which loses where each argument ends).
    pub argv: bool,
    /// The image's name (OCSF has an image only with its digest).
    pub image: bool,
    /// The working directory and the effective uid (ECS's
    /// `process.working_directory` and `user.effective.id`; OCSF's process has
    /// neither). A non-UTF-8 directory's exact bytes (`cwd_hex`) stay.
    pub cwd_euid: bool,
}

/// What the schema has no field for, kept under sockwatch's name: the
/// native finding's own fields, less those the mapping carries (pid, ppid,
/// uid, comm and exe; the container's id, name and digest; and what `mapped`
/// says), so that nothing of the finding is lost and little is said twice.
pub fn sockwatch_fields(f: &Finding, mapped: Mapped) -> Value {
    let mut m = Map::new();
    m.insert("priority".into(), f.priority.into());
    m.insert("source".into(), f.source.into());
    m.insert("operation".into(), f.operation.into());
    m.insert("count".into(), f.count.into());
    let sig = f.signature;
    m.insert(
        "signature".into(),
        serde_json::json!({"event": sig.event, "attack_pattern": sig.mitre.attack_pattern}),
    );
    m.insert("outcome".into(), to_value(&f.outcome));
    m.insert("socket".into(), to_value(&f.socket));
    if let Some(a) = &f.audit {
        m.insert("audit".into(), to_value(a));
    }
    if let Some(d) = &f.details {
        m.insert("details".into(), d.clone());
    }
    if let Some(r) = &f.response {
        m.insert("response".into(), to_value(r));
    }
    let mut process = to_value(&f.process);
    if let Some(p) = process.as_object_mut() {
        for k in ["pid", "ppid", "uid", "comm", "exe"] {
            p.remove(k);
        }
        if mapped.argv {
            p.remove("cmdline");
        }
        if mapped.cwd_euid {
            p.remove("cwd");
            p.remove("euid");
        }
    }
    m.insert("process".into(), process);
    let mut container = to_value(&f.container);
    if let Some(c) = container.as_object_mut() {
        for k in ["id", "name", "image_id"] {
            c.remove(k);
        }
        if mapped.image {
            c.remove("image");
        }
    }
    m.insert("container".into(), container);
    Value::Object(m)
}

/// These types always serialize (`Finding`'s own test holds them to it).
fn to_value<T: serde::Serialize + ?Sized>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Inserts `value` at the dotted `path` of `obj`, making the objects on the
/// way; used by both mappings so that a field is named once, as the schema
/// names it.
pub(crate) fn put(obj: &mut Map<String, Value>, path: &str, value: impl Into<Value>) {
    let mut parts = path.split('.').peekable();
    let mut at = obj;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            at.insert(p.to_string(), value.into());
            return;
        }
        let next = at.entry(p.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        at = next.as_object_mut().expect("made an object just above");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::signature::ALL;

    #[test]
    fn every_signature_has_its_tactics() {
        for s in ALL {
            assert!(!tactics(s.mitre.technique_id).is_empty(), "{}", s.id);
        }
        assert_eq!(tactics("T1068"), [("TA0004", "Privilege Escalation")]);
        assert_eq!(tactics("T1557").len(), 2);
        assert!(tactics("T0000").is_empty());
    }

    #[test]
    fn levels_are_on_the_signatures_scale() {
        use crate::core::signature::priority;
        for l in [Level::Info, Level::Warning, Level::Error] {
            let word = serde_json::to_value(l).unwrap();
            assert_eq!(priority(level_severity(l)).name, word.as_str().unwrap());
        }
    }

    /// What a mapping carries is left out, the rest kept: the exact argv
    /// stays where the schema has only a joined string, the image's name
    /// where the schema could not take it.
    #[test]
    fn sockwatch_fields_keep_what_is_not_mapped() {
        let f = crate::core::finding::tests::sample();
        let both = sockwatch_fields(&f, Mapped { argv: true, image: true, cwd_euid: true });
        let p = &both["process"];
        assert!(p.get("pid").is_none() && p.get("exe").is_none() && p.get("cmdline").is_none());
        assert!(p.get("cwd").is_none() && p.get("euid").is_none());
        assert_eq!(p["auid"], 4294967295u32);
        assert_eq!(p["exe_hex"], "2f746d702ffffe657865");
        assert_eq!(both["container"]["runtime"], "unknown");
        assert_eq!(both["signature"]["event"], "docker_abuse");
        assert_eq!(both["audit"]["serial"], 777);
        assert_eq!(both["socket"]["watched"], "/run/docker.sock");
        let mut g = f.clone();
        g.container.image = Some("nginx:1.27".into());
        let neither = sockwatch_fields(&g, Mapped { argv: false, image: false, cwd_euid: false });
        assert_eq!(neither["process"]["cmdline"][2], "UNIX-CONNECT:/tmp/x.sock");
        assert_eq!(neither["process"]["cwd"], "/");
        assert_eq!(neither["container"]["image"], "nginx:1.27");
    }

    #[test]
    fn put_builds_nested_objects() {
        let mut m = Map::new();
        put(&mut m, "a.b.c", 1);
        put(&mut m, "a.b.d", "x");
        put(&mut m, "e", true);
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"a": {"b": {"c": 1, "d": "x"}}, "e": true})
        );
        assert_eq!(basename("/run/docker.sock"), "docker.sock");
        assert_eq!(basename("x"), "x");
    }
}
