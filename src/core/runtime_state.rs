//! What container runtimes write down about their containers, read without ever
//! talking to them (the API socket is the very thing guarded): a container's name,
//! image and labels from the runtime's on-disk state, and which container a
//! runtime's monitor process (containerd shim, conmon) is looking after, from its
//! command line.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::cgroup::{Container, Runtime, hex64};

/// A container's description, as far as the runtime's state tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub name: Option<String>,
    pub image: Option<String>,
    /// The image's content digest, `sha256:` and 64 hex digits: unlike a tag,
    /// nobody can give another image this one.
    pub image_id: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// A name, image or label was longer than kept (see `Meta::bounded`).
    pub truncated: bool,
}

/// What is kept of a container's description: whoever creates a container
/// chooses its name, image reference and labels, and every finding carries them.
pub const MAX_NAME: usize = 256;
pub const MAX_IMAGE: usize = 512;
pub const MAX_LABELS: usize = 64;
pub const MAX_LABEL_KEY: usize = 256;
pub const MAX_LABEL_VALUE: usize = 1024;

/// `s` cut to at most `max` bytes on a character boundary; whether it was cut.
fn cut(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
}

impl Meta {
    /// The description within the bounds above, marked when anything was cut.
    /// Labels whose key is too long are dropped (a cut key would be another
    /// label); the Kubernetes pod labels are kept first.
    pub fn bounded(mut self) -> Meta {
        let mut t = false;
        if let Some(n) = self.name.as_mut() {
            t |= cut(n, MAX_NAME);
        }
        if let Some(i) = self.image.as_mut() {
            t |= cut(i, MAX_IMAGE);
        }
        let all = std::mem::take(&mut self.labels);
        let total = all.len();
        let (pod, rest): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|(k, _)| k.starts_with("io.kubernetes.pod."));
        for (k, mut v) in pod.into_iter().chain(rest) {
            if k.len() > MAX_LABEL_KEY || self.labels.len() >= MAX_LABELS {
                continue;
            }
            t |= cut(&mut v, MAX_LABEL_VALUE);
            self.labels.insert(k, v);
        }
        t |= self.labels.len() < total;
        self.truncated |= t;
        self
    }

    pub fn pod_name(&self) -> Option<&str> {
        self.labels.get("io.kubernetes.pod.name").map(String::as_str)
    }

    pub fn pod_namespace(&self) -> Option<&str> {
        self.labels.get("io.kubernetes.pod.namespace").map(String::as_str)
    }
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(rename = "Name")]
    name: Option<String>,
    /// The image id (`sha256:...`).
    #[serde(rename = "Image")]
    image: Option<String>,
    #[serde(rename = "Config")]
    config: Option<DockerInner>,
}

#[derive(Deserialize)]
struct DockerInner {
    #[serde(rename = "Image")]
    image: Option<String>,
    #[serde(rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

/// Parses Docker's `containers/<id>/config.v2.json`. The name loses Docker's
/// leading '/'; the image is the reference the user ran (`Config.Image`), not the
/// image id.
pub fn docker_meta(json: &[u8]) -> Option<Meta> {
    let c: DockerConfig = serde_json::from_slice(json).ok()?;
    let inner = c.config;
    Some(
        Meta {
            name: c.name.map(|n| n.strip_prefix('/').map(str::to_string).unwrap_or(n)),
            image: inner.as_ref().and_then(|i| i.image.clone()),
            image_id: c.image.as_deref().and_then(image_id),
            labels: inner.and_then(|i| i.labels).unwrap_or_default(),
            truncated: false,
        }
        .bounded(),
    )
}

/// Whether Docker's `config.v2.json` says dockerd paused the container
/// (`docker pause`): its own freeze, which `docker unpause` undoes.
pub fn docker_paused(json: &[u8]) -> Option<bool> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(rename = "State")]
        state: State,
    }
    #[derive(Deserialize)]
    struct State {
        #[serde(rename = "Paused", default)]
        paused: bool,
    }
    serde_json::from_slice::<Config>(json).ok().map(|c| c.state.paused)
}

#[derive(Deserialize)]
struct PodmanEntry {
    id: String,
    /// The image id (64 hex digits).
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    /// A JSON document in a string.
    #[serde(default)]
    metadata: String,
}

#[derive(Deserialize, Default)]
struct PodmanMetadata {
    #[serde(rename = "image-name")]
    image_name: Option<String>,
    name: Option<String>,
}

/// Finds container `id` in containers/storage's `<driver>-containers/containers.json`.
pub fn podman_meta(containers_json: &[u8], id: &str) -> Option<Meta> {
    let all: Vec<PodmanEntry> = serde_json::from_slice(containers_json).ok()?;
    let e = all.into_iter().find(|e| e.id == id)?;
    let md: PodmanMetadata = serde_json::from_str(&e.metadata).unwrap_or_default();
    Some(
        Meta {
            name: e.names.into_iter().next().or(md.name),
            image: md.image_name,
            image_id: e.image.as_deref().and_then(image_id),
            labels: BTreeMap::new(),
            truncated: false,
        }
        .bounded(),
    )
}

#[derive(Deserialize)]
struct OciConfig {
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The annotations of an OCI runtime config (containers/storage's
/// `userdata/config.json`, containerd's bundle `config.json`).
pub fn oci_annotations(config_json: &[u8]) -> BTreeMap<String, String> {
    serde_json::from_slice::<OciConfig>(config_json).map(|c| c.annotations).unwrap_or_default()
}

/// A container's description from the CRI annotations containerd writes into the
/// bundle's OCI config (Kubernetes), or nerdctl's.
pub fn containerd_meta(config_json: &[u8]) -> Option<Meta> {
    let anns = oci_annotations(config_json);
    let get = |k: &str| anns.get(k).cloned();
    let mut labels = BTreeMap::new();
    for (from, to) in [
        ("io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"),
        ("io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"),
        ("io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"),
    ] {
        if let Some(v) = get(from) {
            labels.insert(to.to_string(), v);
        }
    }
    let meta = Meta {
        name: get("io.kubernetes.cri.container-name").or_else(|| get("nerdctl/name")),
        image: get("io.kubernetes.cri.image-name"),
        image_id: None,
        labels,
        truncated: false,
    }
    .bounded();
    (meta != Meta::default()).then_some(meta)
}

/// An image id as `sha256:` and 64 lower-case hex digits, from either form the
/// runtimes write (`sha256:HEX`, or the bare digits); anything else is `None`.
pub fn image_id(s: &str) -> Option<String> {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// What kind of runtime process an argv's program is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExeKind {
    /// containerd-shim*, conmon: stays beside a container for its lifetime.
    Monitor,
    /// runc, crun: runs briefly to create a container or start a process in one.
    RuntimeTool,
    /// A runtime's daemon or launcher (dockerd, containerd, podman, crio,
    /// lxc-start, systemd-nspawn) or a tool that enters containers (nsenter):
    /// what it starts may run in a container that is gone by the time /proc is
    /// read, so as the nearest living ancestor it proves nothing either way.
    Launcher,
    Other,
}

pub fn exe_kind(argv: &[Vec<u8>]) -> ExeKind {
    let base = exe_base(argv);
    if base.starts_with(b"containerd-shim") || base == b"conmon" {
        ExeKind::Monitor
    } else if matches!(base, b"runc" | b"crun") || base.starts_with(b"runc:[") {
        ExeKind::RuntimeTool
    } else if matches!(
        base,
        b"dockerd"
            | b"containerd"
            | b"podman"
            | b"crio"
            | b"lxc-start"
            | b"systemd-nspawn"
            | b"nsenter"
    ) {
        ExeKind::Launcher
    } else {
        ExeKind::Other
    }
}

fn exe_base(argv: &[Vec<u8>]) -> &[u8] {
    let Some(exe) = argv.first() else { return b"" };
    exe.rsplit(|&b| b == b'/').next().unwrap_or(exe)
}

/// The container a runtime monitor process looks after, from its argv: the
/// containerd shim's `-id` (Docker runs one shim per container in namespace
/// "moby"), conmon's `-c`/`--cid`, or the container id that ends `runc exec`.
/// Kubernetes groups a pod's containers under one shim whose id is the pod
/// sandbox's, so namespace k8s.io tells nothing. The caller must first make sure
/// the process really is the host's runtime binary: any process can set its argv.
pub fn monitored_container(argv: &[Vec<u8>]) -> Option<Container> {
    let base = exe_base(argv);
    let arg = |names: &[&[u8]]| {
        argv.windows(2)
            .find(|w| names.contains(&w[0].as_slice()))
            .and_then(|w| std::str::from_utf8(&w[1]).ok())
    };
    let id = |s: &str| hex64(s.as_bytes());
    let joined = || argv.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>().join(" ");
    let container = |runtime, id| Some(Container { runtime, id, pod_uid: None });
    match exe_kind(argv) {
        ExeKind::Monitor if base.starts_with(b"containerd-shim") => {
            let runtime = match arg(&[b"-namespace", b"--namespace"]) {
                Some("moby") => Runtime::Docker,
                Some("k8s.io") => return None,
                _ => Runtime::Containerd,
            };
            container(runtime, id(arg(&[b"-id", b"--id"])?)?)
        }
        ExeKind::Monitor => {
            // Podman passes its own binary as the exit command; CRI-O does not.
            let podman = argv.iter().any(|a| a.ends_with(b"/podman") || a == b"podman");
            let runtime = if podman { Runtime::Podman } else { Runtime::Crio };
            container(runtime, id(arg(&[b"-c", b"--cid"])?)?)
        }
        // `runc ... exec ... --detach <id>`: often the parent of a `docker exec` or
        // `podman exec` process while it runs. Which runtime called it shows only in
        // its state paths; when they say nothing, neither does this.
        ExeKind::RuntimeTool if argv.iter().any(|a| a == b"exec") => {
            let all = joined();
            let runtime = if all.contains("/runtime-runc/moby") || all.contains("/moby/") {
                Runtime::Docker
            } else if all.contains("containers/storage") || all.contains("libpod") {
                Runtime::Podman
            } else if all.contains("/crio") {
                Runtime::Crio
            } else {
                return None;
            };
            container(runtime, id(std::str::from_utf8(argv.last()?).ok()?)?)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "f31fb7b9b844b23cba450801d322d8329ff9d2799ea13ee693eec09e73ea8871";

    fn argv(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn what_a_container_creator_chooses_is_bounded_and_marked() {
        let mut labels: BTreeMap<String, String> =
            (0..200).map(|i| (format!("l{i:03}"), "v".repeat(10))).collect();
        labels.insert("io.kubernetes.pod.name".into(), "p".into());
        labels.insert("k".repeat(300), "dropped".into());
        labels.insert("big".into(), "é".repeat(1000));
        let m = Meta {
            name: Some("n".repeat(1000)),
            image: Some("i".repeat(100)),
            labels,
            ..Meta::default()
        }
        .bounded();
        assert!(m.truncated);
        assert_eq!(m.name.as_ref().unwrap().len(), MAX_NAME);
        assert_eq!(m.image.as_ref().unwrap().len(), 100);
        assert_eq!(m.labels.len(), MAX_LABELS);
        assert_eq!(m.pod_name(), Some("p"), "the pod's labels are kept first");
        assert!(m.labels.keys().all(|k| k.len() <= MAX_LABEL_KEY));
        if let Some(v) = m.labels.get("big") {
            assert!(v.len() <= MAX_LABEL_VALUE && v.chars().all(|c| c == 'é'));
        }
        let small = Meta { name: Some("web".into()), ..Meta::default() }.bounded();
        assert!(!small.truncated);
        // Through Docker's state file: a label set of any size comes out bounded.
        let many: Vec<String> = (0..5000).map(|i| format!("\"k{i}\":\"v\"")).collect();
        let json =
            format!(r#"{{"Name":"/x","Config":{{"Image":"i","Labels":{{{}}}}}}}"#, many.join(","));
        let m = docker_meta(json.as_bytes()).unwrap();
        assert!(m.truncated && m.labels.len() == MAX_LABELS);
    }

    #[test]
    fn docker_pause_state() {
        let paused = br#"{"State":{"Running":true,"Paused":true},"Name":"/x"}"#;
        assert_eq!(docker_paused(paused), Some(true));
        assert_eq!(docker_paused(br#"{"State":{"Running":true,"Paused":false}}"#), Some(false));
        assert_eq!(docker_paused(br#"{"State":{}}"#), Some(false));
        assert_eq!(docker_paused(b"{"), None);
    }

    #[test]
    fn docker_config() {
        let json = format!(
            r#"{{"ID":"{ID}","Name":"/web-1","Image":"sha256:0123","Config":{{"Image":"bb:test","Labels":{{"io.kubernetes.pod.name":"p","io.kubernetes.pod.namespace":"ns","x":"y"}}}},"State":{{"Running":true}}}}"#
        );
        let m = docker_meta(json.as_bytes()).unwrap();
        assert_eq!(m.name.as_deref(), Some("web-1"));
        assert_eq!(m.image.as_deref(), Some("bb:test"));
        assert_eq!((m.pod_name(), m.pod_namespace()), (Some("p"), Some("ns")));
        assert_eq!(m.labels.len(), 3);
        assert_eq!(m.image_id, None, "a short id is not an image id");
        let full = json.replace("sha256:0123", &format!("sha256:{}", "A".repeat(64)));
        let m = docker_meta(full.as_bytes()).unwrap();
        assert_eq!(m.image_id, Some(format!("sha256:{}", "a".repeat(64))));
        let bare = docker_meta(br#"{"Name":"/x","Config":{"Image":"i","Labels":null}}"#).unwrap();
        assert!(bare.labels.is_empty());
        assert_eq!(docker_meta(b"{not json"), None);
        assert_eq!(docker_meta(b"[]"), None);
    }

    #[test]
    fn podman_containers_json() {
        let json = format!(
            r#"[{{"id":"{}","names":["other"],"metadata":"{{}}"}},
                {{"id":"{ID}","names":["swtest-1"],"image":"abc","metadata":"{{\"image-name\":\"localhost/sockwatch-test:latest\",\"name\":\"swtest-1\"}}"}}]"#,
            "0".repeat(64)
        );
        let m = podman_meta(json.as_bytes(), ID).unwrap();
        assert_eq!(m.name.as_deref(), Some("swtest-1"));
        assert_eq!(m.image.as_deref(), Some("localhost/sockwatch-test:latest"));
        assert_eq!(podman_meta(json.as_bytes(), &"1".repeat(64)), None);
        assert_eq!(podman_meta(b"garbage", ID), None);
        let anns = oci_annotations(
            br#"{"ociVersion":"1.0","annotations":{"io.kubernetes.pod.name":"p"}}"#,
        );
        assert_eq!(anns.get("io.kubernetes.pod.name").map(String::as_str), Some("p"));
        assert!(oci_annotations(b"{}").is_empty());
    }

    #[test]
    fn containerd_bundle() {
        let json = br#"{"ociVersion":"1.1.0","annotations":{"io.kubernetes.cri.container-type":"container",
            "io.kubernetes.cri.container-name":"app","io.kubernetes.cri.image-name":"registry.k8s.io/app:1",
            "io.kubernetes.cri.sandbox-name":"app-7d9f","io.kubernetes.cri.sandbox-namespace":"prod"}}"#;
        let m = containerd_meta(json).unwrap();
        assert_eq!(
            (m.name.as_deref(), m.image.as_deref()),
            (Some("app"), Some("registry.k8s.io/app:1"))
        );
        assert_eq!((m.pod_name(), m.pod_namespace()), (Some("app-7d9f"), Some("prod")));
        assert_eq!(containerd_meta(br#"{"annotations":{}}"#), None);
        assert_eq!(containerd_meta(b"nope"), None);
    }

    #[test]
    fn monitors() {
        let shim = argv(&format!(
            "/usr/bin/containerd-shim-runc-v2 -namespace moby -id {ID} -address /run/docker/containerd/containerd.sock"
        ));
        assert_eq!(
            monitored_container(&shim),
            Some(Container { runtime: Runtime::Docker, id: ID.into(), pod_uid: None })
        );
        let k8s = argv(&format!(
            "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id {ID} -address /run/containerd/containerd.sock"
        ));
        assert_eq!(monitored_container(&k8s), None, "a pod's shared shim names the sandbox");
        let podman = argv(&format!(
            "/usr/bin/conmon --api-version 1 -c {ID} -u {ID} -r /usr/bin/crun -b /x -n swtest-1 --exit-command /usr/bin/podman --exit-command-arg --root"
        ));
        assert_eq!(monitored_container(&podman).map(|c| c.runtime), Some(Runtime::Podman));
        let crio = argv(&format!(
            "/usr/bin/conmon -b /x -c {ID} -n k8s_x -r /usr/bin/runc --log-path /var/log/pods/x"
        ));
        assert_eq!(monitored_container(&crio).map(|c| c.runtime), Some(Runtime::Crio));
        assert_eq!(monitored_container(&argv("/usr/bin/conmon -c short")), None);
        let runc = argv(&format!(
            "runc --root /var/run/docker/runtime-runc/moby --log x/moby/y/log.json --log-format json exec --process /tmp/runc-process1 --detach --pid-file x.pid {ID}"
        ));
        assert_eq!(
            monitored_container(&runc),
            Some(Container { runtime: Runtime::Docker, id: ID.into(), pod_uid: None })
        );
        let prunc = argv(&format!(
            "/usr/bin/runc --log-format=json --log /var/lib/containers/storage/overlay-containers/{ID}/userdata/e/oci-log exec --pid-file p --process q --detach {ID}"
        ));
        assert_eq!(monitored_container(&prunc).map(|c| c.runtime), Some(Runtime::Podman));
        assert_eq!(
            monitored_container(&argv(&format!("runc run {ID}"))),
            None,
            "only exec says which container it joins"
        );
        assert_eq!(
            monitored_container(&argv(&format!("runc --root /x exec --detach {ID}"))),
            None,
            "no runtime named"
        );
        assert_eq!(exe_kind(&argv("/usr/bin/conmon -c x")), ExeKind::Monitor);
        assert_eq!(exe_kind(&argv("/usr/sbin/runc exec")), ExeKind::RuntimeTool);
        assert_eq!(exe_kind(&argv("/bin/sh")), ExeKind::Other);
        assert_eq!(exe_kind(&argv("/usr/bin/containerd")), ExeKind::Launcher);
        assert_eq!(exe_kind(&argv("/usr/bin/containerd-shim-runc-v2 -id x")), ExeKind::Monitor);
        assert_eq!(exe_kind(&[]), ExeKind::Other);
        assert_eq!(monitored_container(&argv(&format!("/bin/sh -c {ID}"))), None);
        assert_eq!(monitored_container(&argv("/usr/bin/containerd-shim-runc-v2 -id")), None);
        assert_eq!(monitored_container(&[]), None);
    }
}
