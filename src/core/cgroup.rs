//! Maps the text of `/proc/<pid>/cgroup` to the container the process runs in.
//!
//! Every runtime names a container's cgroup after the container (by id, or by name
//! for LXC and systemd-nspawn), so it can be read back without asking the runtime.
//! Lines are `HIERARCHY:CONTROLLERS:PATH` (cgroup v1) or `0::PATH` (v2); every line
//! is looked at, because on hybrid hosts a runtime may use only v1 hierarchies.
//! Within a path the outermost match wins: with a runtime nested in a container,
//! the outer container is the one the host's runtime knows.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Docker,
    Podman,
    Containerd,
    Crio,
    Nerdctl,
    /// A container id directly under a Kubernetes pod's cgroup: the CRI runtime
    /// is not named there.
    Kubernetes,
    Lxc,
    Nspawn,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Containerd => "containerd",
            Runtime::Crio => "crio",
            Runtime::Nerdctl => "nerdctl",
            Runtime::Kubernetes => "kubernetes",
            Runtime::Lxc => "lxc",
            Runtime::Nspawn => "systemd-nspawn",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Container {
    pub runtime: Runtime,
    /// The full 64-hex id; for LXC and systemd-nspawn, the container's name.
    pub id: String,
    /// The Kubernetes pod's uid, when the cgroup path names the pod.
    pub pod_uid: Option<String>,
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

pub fn container_in_path(path: &[u8]) -> Option<Container> {
    container_dir(path).map(|(c, _)| c)
}

/// The container named in a cgroup path and the path of the container's own
/// cgroup: the path up to the component that names it. Processes may sit in
/// cgroups below it (a runtime's `init` or `container` leaf, or cgroups the
/// container made itself); the runtime freezes and accounts the container there.
pub fn container_dir(path: &[u8]) -> Option<(Container, &[u8])> {
    // cgroup v2 marks a removed cgroup that still has a dying process.
    let path = path.strip_suffix(b" (deleted)").unwrap_or(path);
    // Each component with the offset just past it.
    let mut comps: Vec<(&[u8], usize)> = Vec::new();
    let mut start = 0;
    for part in path.split(|&b| b == b'/') {
        let end = start + part.len();
        if !part.is_empty() {
            comps.push((part, end));
        }
        start = end + 1;
    }
    (0..comps.len()).find_map(|i| {
        let parent = i.checked_sub(1).map(|p| comps[p].0);
        let (runtime, id) = component(comps[i].0, parent)?;
        // systemd-nspawn's supervisor runs in the machine's scope, outside it.
        if runtime == Runtime::Nspawn && comps.get(i + 1).map(|c| c.0) == Some(&b"supervisor"[..]) {
            return None;
        }
        // The pod is an ancestor of the container's cgroup; anything below the
        // container's is the container's to name.
        let pod_uid = comps[..=i].iter().find_map(|c| pod_uid(c.0));
        Some((Container { runtime, id, pod_uid }, &path[..comps[i].1]))
    })
}

fn component(comp: &[u8], parent: Option<&[u8]>) -> Option<(Runtime, String)> {
    let scope = comp.strip_suffix(b".scope").unwrap_or(comp);
    let prefixed = |prefix: &[u8]| scope.strip_prefix(prefix).and_then(hex64);
    // systemd driver: <runtime>-<id>.scope. The monitors (libpod-conmon-,
    // crio-conmon-) fail hex64 because of the "conmon-" after the prefix.
    for (prefix, runtime) in [
        (&b"docker-"[..], Runtime::Docker),
        (b"libpod-", Runtime::Podman),
        (b"cri-containerd-", Runtime::Containerd),
        (b"crio-", Runtime::Crio),
        (b"nerdctl-", Runtime::Nerdctl),
    ] {
        if let Some(id) = prefixed(prefix) {
            return Some((runtime, id));
        }
    }
    // kubelet's systemd notation: <pod slice>:cri-containerd:<id> (or :crio:).
    if let Some(pos) = find(comp, b":cri-containerd:") {
        return hex64(&comp[pos + 16..]).map(|id| (Runtime::Containerd, id));
    }
    if let Some(pos) = find(comp, b":crio:") {
        return hex64(&comp[pos + 6..]).map(|id| (Runtime::Crio, id));
    }
    // cgroupfs driver: /docker/<id>; a bare id directly under a pod's cgroup.
    match parent {
        Some(b"docker") => return hex64(comp).map(|id| (Runtime::Docker, id)),
        Some(p) if pod_uid(p).is_some() => return hex64(comp).map(|id| (Runtime::Kubernetes, id)),
        _ => {}
    }
    // LXC: /lxc/<name>, /lxc.payload/<name> (the monitor lives in lxc.monitor*).
    if matches!(parent, Some(b"lxc") | Some(b"lxc.payload")) {
        return name(comp).map(|n| (Runtime::Lxc, n));
    }
    if let Some(n) = comp.strip_prefix(b"lxc.payload.") {
        return name(n).map(|n| (Runtime::Lxc, n));
    }
    // systemd-nspawn: machine.slice/machine-<name>.scope, with systemd's \x2d escapes.
    if parent == Some(b"machine.slice") {
        if let Some(n) = scope.strip_prefix(b"machine-").filter(|_| comp.ends_with(b".scope")) {
            // libvirt's VMs live there too (machine-qemu\x2d1\x2dvm.scope).
            let n = unescape(n);
            if n.starts_with(b"qemu-") || n.starts_with(b"lxc-") {
                return None;
            }
            return name(&n).map(|n| (Runtime::Nspawn, n));
        }
    }
    None
}

/// The pod uid in `pod<uid>` (cgroupfs) or `kubepods-<qos>-pod<uid>.slice`
/// (systemd, with '_' for '-').
fn pod_uid(comp: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(comp).ok()?;
    // In kubelet's `<pod slice>:<runtime>:<id>` the pod is the part before ':'.
    let s = s.split(':').next().unwrap_or(s);
    let s = s.strip_suffix(".slice").unwrap_or(s);
    let uid = match s.rfind("-pod") {
        Some(i) if s.starts_with("kubepods") => &s[i + 4..],
        _ => s.strip_prefix("pod")?,
    };
    let uid = uid.replace('_', "-");
    let ok = uid.len() == 36 && uid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    ok.then_some(uid)
}

/// A full container id: 64 lowercase hex digits.
pub fn hex64(s: &[u8]) -> Option<String> {
    if s.len() == 64 && s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        String::from_utf8(s.to_vec()).ok()
    } else {
        None
    }
}

/// A container name: printable, non-empty UTF-8.
fn name(s: &[u8]) -> Option<String> {
    let n = std::str::from_utf8(s).ok()?;
    (!n.is_empty() && n.chars().all(|c| !c.is_control())).then(|| n.to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// systemd unit-name unescaping: `\xNN` to the byte.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'x') {
            if let Some(b) = s
                .get(i + 2..i + 4)
                .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
            {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1c2b9a8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170615f4e3";
    const POD: &str = "0d3b1c7e-59a4-4f1e-9a57-2c1d3e4f5a6b";

    fn c(runtime: Runtime, id: &str) -> Option<Container> {
        Some(Container { runtime, id: id.into(), pod_uid: None })
    }

    fn k(runtime: Runtime, id: &str) -> Option<Container> {
        Some(Container { runtime, id: id.into(), pod_uid: Some(POD.into()) })
    }

    #[test]
    fn table() {
        use Runtime::*;
        let pod_sd = POD.replace('-', "_");
        #[rustfmt::skip]
        let cases: Vec<(String, Option<Container>)> = vec![
            // Docker: cgroup v1 with the cgroupfs driver, as Debian's docker.io on this host.
            (format!("12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n0::/docker/{ID}\n"), c(Docker, ID)),
            // Docker: v2, systemd driver; and a process in a nested cgroup of it.
            (format!("0::/system.slice/docker-{ID}.scope\n"), c(Docker, ID)),
            (format!("0::/system.slice/docker-{ID}.scope/init\n"), c(Docker, ID)),
            // Podman: cgroupfs (libpod_parent), systemd, systemd with .scope/container.
            (format!("0::/libpod_parent/libpod-{ID}\n"), c(Podman, ID)),
            (format!("0::/machine.slice/libpod-{ID}.scope\n"), c(Podman, ID)),
            (format!("0::/machine.slice/libpod-{ID}.scope/container\n"), c(Podman, ID)),
            (format!("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container\n"), c(Podman, ID)),
            // Podman's conmon is the monitor, not the container.
            (format!("0::/machine.slice/libpod-conmon-{ID}.scope\n"), None),
            ("0::/libpod_parent/conmon\n".into(), None),
            // containerd / Kubernetes, systemd driver: the pod uid comes with it.
            (format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{pod_sd}.slice/cri-containerd-{ID}.scope\n"), k(Containerd, ID)),
            (format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{pod_sd}.slice:cri-containerd:{ID}\n"), k(Containerd, ID)),
            // Kubernetes, cgroupfs driver: a bare id under the pod (any CRI runtime).
            (format!("4:memory:/kubepods/burstable/pod{POD}/{ID}\n"), k(Kubernetes, ID)),
            (format!("0::/kubepods/pod{POD}/{ID}\n"), k(Kubernetes, ID)),
            // The pause (sandbox) container is a container of the pod like the rest.
            (format!("0::/kubepods/besteffort/pod{POD}/{}\n", "a".repeat(64)), k(Kubernetes, &"a".repeat(64))),
            // The pod's own cgroup, without a container: not a container.
            (format!("0::/kubepods/burstable/pod{POD}\n"), None),
            // CRI-O; its conmon is not the container.
            (format!("0::/kubepods.slice/kubepods-pod{pod_sd}.slice/crio-{ID}.scope\n"), k(Crio, ID)),
            (format!("0::/kubepods.slice/kubepods-pod{pod_sd}.slice/crio-conmon-{ID}.scope\n"), None),
            (format!("0::/system.slice/crio-{ID}.scope\n"), c(Crio, ID)),
            // nerdctl.
            (format!("0::/system.slice/nerdctl-{ID}.scope\n"), c(Nerdctl, ID)),
            // LXC: v1 and v2 layouts; the monitor is not the container.
            ("3:pids:/lxc/web01\n".into(), c(Lxc, "web01")),
            ("0::/lxc.payload/web01\n".into(), c(Lxc, "web01")),
            ("0::/lxc.payload.web01\n".into(), c(Lxc, "web01")),
            ("0::/lxc.payload.web01/init.scope\n".into(), c(Lxc, "web01")),
            ("0::/lxc.monitor.web01\n".into(), None),
            // systemd-nspawn, with systemd's escaping of '-'.
            ("0::/machine.slice/machine-build\\x2dbox.scope/payload\n".into(), c(Nspawn, "build-box")),
            ("1:name=systemd:/machine.slice/machine-deb.scope\n".into(), c(Nspawn, "deb")),
            ("0::/machine.slice/machine-deb.scope/supervisor\n".into(), None),
            ("0::/machine.slice/machine-qemu\\x2d1\\x2dvm.scope/libvirt/emulator\n".into(), None),
            // A dying process in a removed cgroup (v2).
            (format!("0::/docker/{ID} (deleted)\n"), c(Docker, ID)),
            // A pod-like directory below the container is the container's own doing.
            (format!("0::/docker/{ID}/pod{POD}/x\n"), c(Docker, ID)),
            // Host processes.
            ("0::/\n".into(), None),
            ("0::/init.scope\n".into(), None),
            ("0::/system.slice/docker.service\n".into(), None),
            ("0::/system.slice/containerd.service\n".into(), None),
            ("0::/machine.slice\n".into(), None),
            ("12:pids:/user.slice\n1:name=systemd:/user.slice/user-0.slice/session-1.scope\n".into(), None),
            // Not 64 hex: too short, upper case, not hex, too long.
            ("0::/docker/3f1c2b9a8e7d\n".into(), None),
            (format!("0::/docker/{}\n", ID.to_uppercase()), None),
            (format!("0::/docker/{}\n", ID.replace('3', "z")), None),
            (format!("0::/system.slice/docker-{ID}0.scope\n"), None),
            // A directory that merely looks like it.
            (format!("0::/notdocker/{ID}\n"), None),
            (format!("0::/pod-not-a-uid/{ID}\n"), None),
            // Nesting: Docker in Docker, Podman in Docker: the outer one.
            (format!("0::/docker/{ID}/docker/{}\n", "a".repeat(64)), c(Docker, ID)),
            (format!("0::/docker/{ID}/libpod_parent/libpod-{}\n", "b".repeat(64)), c(Docker, ID)),
            // Garbage.
            ("\u{fffd}::::\n\n:".into(), None),
            ("".into(), None),
        ];
        for (text, want) in cases {
            assert_eq!(container_of(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn the_containers_own_cgroup_is_the_path_up_to_its_name() {
        let cases = [
            (format!("/docker/{ID}"), format!("/docker/{ID}")),
            (
                format!("/system.slice/docker-{ID}.scope/init"),
                format!("/system.slice/docker-{ID}.scope"),
            ),
            (
                format!("/machine.slice/libpod-{ID}.scope/container"),
                format!("/machine.slice/libpod-{ID}.scope"),
            ),
            (format!("/docker/{ID}/docker/{}", "a".repeat(64)), format!("/docker/{ID}")),
            (format!("//docker//{ID}//x (deleted)"), format!("//docker//{ID}")),
            ("/lxc.payload.web01/init.scope".into(), "/lxc.payload.web01".into()),
        ];
        for (path, want) in cases {
            let (_, dir) = container_dir(path.as_bytes()).unwrap();
            assert_eq!(String::from_utf8_lossy(dir), want, "{path}");
        }
        assert!(container_dir(b"/system.slice/docker.service").is_none());
    }

    #[test]
    fn non_utf8_lines_do_not_hide_a_match() {
        let mut text = b"5:cpu:/\xff\xfe\n".to_vec();
        text.extend_from_slice(format!("0::/docker/{ID}\n").as_bytes());
        assert_eq!(container_of(&text), c(Runtime::Docker, ID));
        assert_eq!(container_of(b"0::/lxc/\xff\xfe\n"), None);
    }
}
