//! A finding's JSON line, written by hand. Every connect a container makes is
//! one of these, and through serde a finding cost a sixth of the live daemon's
//! time: every key escaped as if it were data, every string scanned twice. This
//! writes the same bytes (the test below holds it to serde's output, field for
//! field, with hostile strings), keys as literals, the signature from its
//! cache. `Finding`'s `Serialize` stays the definition of the format.

use super::finding::{ContainerInfo, Finding, Process, Socket};
use super::json::{self, write_str, write_u64};
use super::signature;

impl Finding {
    /// Appends the finding as one line of JSON (no newline).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"kind\":");
        write_str(out, self.kind);
        out.extend_from_slice(b",\"time\":");
        write_str(out, &self.time);
        out.extend_from_slice(b",\"signature\":");
        match signature::cached_json(self.signature) {
            Some(j) => out.extend_from_slice(j.as_bytes()),
            None => serde(out, self.signature),
        }
        out.extend_from_slice(b",\"priority\":");
        write_str(out, self.priority);
        out.extend_from_slice(b",\"message\":");
        write_str(out, &self.message);
        out.extend_from_slice(b",\"source\":");
        write_str(out, self.source);
        out.extend_from_slice(b",\"operation\":");
        write_str(out, self.operation);
        out.extend_from_slice(b",\"outcome\":{\"success\":");
        out.extend_from_slice(if self.outcome.success { b"true" } else { b"false" });
        out.extend_from_slice(b",\"errno\":");
        opt_str(out, self.outcome.errno.as_deref());
        out.extend_from_slice(b"},\"socket\":");
        socket(out, &self.socket);
        out.extend_from_slice(b",\"process\":");
        process(out, &self.process);
        out.extend_from_slice(b",\"container\":");
        container(out, &self.container);
        out.extend_from_slice(b",\"audit\":");
        match &self.audit {
            Some(a) => {
                out.extend_from_slice(b"{\"serial\":");
                write_u64(out, a.serial);
                out.extend_from_slice(b",\"time\":");
                write_str(out, &a.time);
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"host\":{\"hostname\":");
        opt_str(out, self.host.hostname.as_deref());
        out.extend_from_slice(b"},\"count\":");
        write_u64(out, self.count);
        if let Some(d) = &self.details {
            out.extend_from_slice(b",\"details\":");
            serde(out, d);
        }
        if let Some(r) = &self.response {
            out.extend_from_slice(b",\"response\":");
            serde(out, r);
        }
        out.push(b'}');
    }
}

/// What is rare or nested beyond reason goes through serde, same bytes.
fn serde<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing into a Vec cannot fail, and these types always serialize.
    let _ = json::to_writer(&mut *out, v);
}

fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn opt_u32(out: &mut Vec<u8>, n: Option<u32>) {
    match n {
        Some(n) => write_u64(out, u64::from(n)),
        None => out.extend_from_slice(b"null"),
    }
}

/// `,"key":"value"` when there is a value (serde's skip_serializing_if).
fn field_if(out: &mut Vec<u8>, key: &[u8], s: Option<&str>) {
    if let Some(s) = s {
        out.extend_from_slice(key);
        write_str(out, s);
    }
}

fn str_array(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, s);
    }
    out.push(b']');
}

fn socket(out: &mut Vec<u8>, s: &Socket) {
    out.extend_from_slice(b"{\"path\":");
    write_str(out, &s.path);
    field_if(out, b",\"path_hex\":", s.path_hex.as_deref());
    out.extend_from_slice(b",\"watched\":");
    write_str(out, &s.watched);
    out.extend_from_slice(b",\"runtime\":");
    opt_str(out, s.runtime);
    out.extend_from_slice(b",\"dev\":");
    write_str(out, &s.dev);
    out.extend_from_slice(b",\"inode\":");
    write_u64(out, s.inode);
    out.push(b'}');
}

fn process(out: &mut Vec<u8>, p: &Process) {
    out.extend_from_slice(b"{\"pid\":");
    opt_u32(out, p.pid);
    out.extend_from_slice(b",\"ppid\":");
    opt_u32(out, p.ppid);
    out.extend_from_slice(b",\"uid\":");
    opt_u32(out, p.uid);
    out.extend_from_slice(b",\"euid\":");
    opt_u32(out, p.euid);
    out.extend_from_slice(b",\"auid\":");
    opt_u32(out, p.auid);
    out.extend_from_slice(b",\"comm\":");
    opt_str(out, p.comm.as_deref());
    field_if(out, b",\"comm_hex\":", p.comm_hex.as_deref());
    out.extend_from_slice(b",\"exe\":");
    opt_str(out, p.exe.as_deref());
    field_if(out, b",\"exe_hex\":", p.exe_hex.as_deref());
    out.extend_from_slice(b",\"cwd\":");
    opt_str(out, p.cwd.as_deref());
    field_if(out, b",\"cwd_hex\":", p.cwd_hex.as_deref());
    out.extend_from_slice(b",\"cmdline\":");
    str_array(out, &p.cmdline);
    if let Some(h) = &p.cmdline_hex {
        out.extend_from_slice(b",\"cmdline_hex\":");
        str_array(out, h);
    }
    if p.cmdline_truncated {
        out.extend_from_slice(b",\"cmdline_truncated\":true");
    }
    out.push(b'}');
}

fn container(out: &mut Vec<u8>, c: &ContainerInfo) {
    out.extend_from_slice(b"{\"id\":");
    opt_str(out, c.id.as_deref());
    out.extend_from_slice(b",\"runtime\":");
    write_str(out, &c.runtime);
    field_if(out, b",\"name\":", c.name.as_deref());
    field_if(out, b",\"image\":", c.image.as_deref());
    field_if(out, b",\"image_id\":", c.image_id.as_deref());
    if !c.labels.is_empty() {
        out.extend_from_slice(b",\"labels\":");
        serde(out, &c.labels);
    }
    if c.metadata_truncated {
        out.extend_from_slice(b",\"metadata_truncated\":true");
    }
    if let Some(p) = &c.pod {
        out.extend_from_slice(b",\"pod\":");
        serde(out, p);
    }
    if let Some(n) = &c.namespaces {
        out.extend_from_slice(b",\"namespaces\":");
        serde(out, n);
    }
    out.extend_from_slice(b",\"attributed_by\":");
    opt_str(out, c.attributed_by);
    field_if(out, b",\"note\":", c.note);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::super::finding::{Audit, NamespaceIds, Pod, tests::sample};
    use super::super::signature::SOCKET_REPLACED;
    use super::*;

    fn both(f: &Finding) -> (String, String) {
        let mut mine = Vec::new();
        f.write_json(&mut mine);
        (String::from_utf8(mine).unwrap(), json::to_string(f).unwrap())
    }

    #[test]
    fn writes_what_serde_writes() {
        let nasty = "a\"b\\c\n\u{1b}[31m\u{7f}\u{9b}\u{202e}é 漢 🦀";
        let plain = sample();
        let mut full = sample();
        full.outcome.errno = Some("EACCES".into());
        full.socket.path = nasty.into();
        full.socket.path_hex = Some("ff00".into());
        full.socket.runtime = Some("docker");
        let p = &mut full.process;
        (p.pid, p.ppid, p.uid, p.euid, p.auid) = (None, Some(0), Some(u32::MAX), None, Some(7));
        p.comm = Some(nasty.into());
        p.comm_hex = Some("00".into());
        p.exe = None;
        p.exe_hex = Some("01".into());
        p.cwd = Some(String::new());
        p.cwd_hex = Some("02".into());
        p.cmdline = vec![nasty.into(), String::new(), "x".into()];
        p.cmdline_hex = Some(vec!["ff".into(), String::new()]);
        p.cmdline_truncated = true;
        let c = &mut full.container;
        c.id = Some("0123abcd".into());
        c.runtime = "docker".into();
        c.name = Some(nasty.into());
        c.image = Some("busybox:latest".into());
        c.image_id = Some("sha256:00".into());
        c.labels.insert("b\u{2028}".into(), nasty.into());
        c.labels.insert("a".into(), String::new());
        c.metadata_truncated = true;
        c.pod = Some(Pod { uid: Some("u".into()), name: None, namespace: Some(nasty.into()) });
        c.namespaces = Some(NamespaceIds { mnt: u64::MAX, pid: 0 });
        c.attributed_by = Some("ancestor");
        c.note = Some("a note");
        full.audit = Some(Audit { serial: u64::MAX, time: nasty.into() });
        full.host.hostname = None;
        full.count = 0;
        full.details = Some(serde_json::json!({"old_mode": "0660", "x": [1, null, nasty]}));
        let plan = crate::core::respond::Plan::Freeze(crate::core::respond::Target {
            hierarchy: crate::core::respond::Hierarchy::V1,
            path: nasty.into(),
        });
        let mut r = crate::core::respond::Response::new(
            crate::core::respond::Mode::Freeze,
            &plan,
            "failed",
        );
        r.error = Some(nasty.into());
        r.latency_us = Some(u64::MAX);
        full.response = Some(r);
        full.priority = "critical";
        full.message = nasty.into();
        let mut other_sig = sample();
        other_sig.signature = &SOCKET_REPLACED;
        other_sig.audit = None;
        other_sig.container =
            super::super::finding::container_info(&super::super::origin::Origin::Host);
        other_sig.summarize();
        for f in [&plain, &full, &other_sig] {
            let (mine, serde) = both(f);
            assert_eq!(mine, serde);
        }
    }
}
