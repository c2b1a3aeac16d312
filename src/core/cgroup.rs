//! Maps the text of `/proc/<pid>/cgroup` to the container the process runs in.
//!
//! Every runtime names a container's cgroup after the container id, so the id can
//! be read back without asking the runtime. Lines are `HIERARCHY:CONTROLLERS:PATH`
//! (cgroup v1) or `0::PATH` (v2); every line is looked at, because on hybrid hosts
//! the runtime may use only the v1 hierarchies.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Docker,
    Podman,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Container {
    pub runtime: Runtime,
    /// The full 64-hex id.
    pub id: String,
}

/// The container of the process whose cgroup file is `text`; `None` for a host
/// process (or a container of a runtime not recognised).
pub fn container_of(text: &[u8]) -> Option<Container> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            // The path is everything after the second ':' (paths may hold ':').
            let mut parts = line.splitn(3, |&b| b == b':');
            let (_, _, path) = (parts.next()?, parts.next()?, parts.next()?);
            container_in_path(path)
        })
        .next()
}

/// Looks for a container id in one cgroup path, outermost first: on a nested
/// runtime the outer container is the one the host's runtime knows.
pub fn container_in_path(path: &[u8]) -> Option<Container> {
    let comps: Vec<&[u8]> = path.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect();
    for (i, comp) in comps.iter().enumerate() {
        let parent = if i > 0 { Some(comps[i - 1]) } else { None };
        if let Some(c) = component(comp, parent) {
            return Some(c);
        }
    }
    None
}

fn component(comp: &[u8], parent: Option<&[u8]>) -> Option<Container> {
    let scope = comp.strip_suffix(b".scope").unwrap_or(comp);
    // systemd driver: docker-<id>.scope; cgroupfs driver: /docker/<id>.
    if let Some(id) = scope.strip_prefix(b"docker-") {
        return hex64(id).map(|id| Container { runtime: Runtime::Docker, id });
    }
    if parent == Some(b"docker") {
        return hex64(comp).map(|id| Container { runtime: Runtime::Docker, id });
    }
    // libpod-<id>[.scope], under libpod_parent/ or machine.slice/. The monitor is
    // libpod-conmon-<id>, which hex64 rejects because of the "conmon-" in front.
    if let Some(id) = scope.strip_prefix(b"libpod-") {
        return hex64(id).map(|id| Container { runtime: Runtime::Podman, id });
    }
    None
}

fn hex64(s: &[u8]) -> Option<String> {
    if s.len() == 64 && s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Some(String::from_utf8(s.to_vec()).ok()?)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1c2b9a8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170615f4e3";

    fn docker(id: &str) -> Option<Container> {
        Some(Container { runtime: Runtime::Docker, id: id.into() })
    }

    fn podman(id: &str) -> Option<Container> {
        Some(Container { runtime: Runtime::Podman, id: id.into() })
    }

    #[test]
    fn table() {
        let cases: Vec<(String, Option<Container>)> = vec![
            // cgroup v1 with the cgroupfs driver, as Debian's docker.io on this host.
            (format!("12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n0::/docker/{ID}\n"), docker(ID)),
            // cgroup v2, systemd driver.
            (format!("0::/system.slice/docker-{ID}.scope\n"), docker(ID)),
            // v2 with a nested path inside the container's cgroup.
            (format!("0::/system.slice/docker-{ID}.scope/init\n"), docker(ID)),
            // Podman with cgroupfs (libpod_parent) and with systemd.
            (format!("0::/libpod_parent/libpod-{ID}\n"), podman(ID)),
            (format!("0::/machine.slice/libpod-{ID}.scope/container\n"), podman(ID)),
            // conmon is the monitor, not the container.
            (format!("0::/machine.slice/libpod-conmon-{ID}.scope\n"), None),
            // Host processes.
            ("0::/\n".into(), None),
            ("0::/system.slice/docker.service\n".into(), None),
            ("12:pids:/user.slice\n1:name=systemd:/user.slice/user-0.slice/session-1.scope\n".into(), None),
            // Not 64 hex: too short, upper case, not hex.
            ("0::/docker/3f1c2b9a8e7d\n".into(), None),
            (format!("0::/docker/{}\n", ID.to_uppercase()), None),
            (format!("0::/docker/{}\n", ID.replace('3', "z")), None),
            // A directory that merely looks like it.
            (format!("0::/notdocker/{ID}\n"), None),
            // Docker-in-Docker: the outer container is the one the host knows.
            (format!("0::/docker/{ID}/docker/{}\n", "a".repeat(64)), docker(ID)),
            // Garbage.
            ("\u{fffd}::::\n\n:".into(), None),
            ("".into(), None),
        ];
        for (text, want) in cases {
            assert_eq!(container_of(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn non_utf8_lines_do_not_hide_a_match() {
        let mut text = b"5:cpu:/\xff\xfe\n".to_vec();
        text.extend_from_slice(format!("0::/docker/{ID}\n").as_bytes());
        assert_eq!(container_of(&text), docker(ID));
    }
}
