//! Names, images and labels of containers, read from the runtimes' on-disk state
//! (never from their API sockets, which are what sockwatch guards), and cached by
//! container id. An entry is re-read when its file changes and dropped when the
//! container is gone.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::core::cgroup::{Container, Runtime};
use crate::core::runtime_state::{
    Meta, containerd_meta, docker_meta, oci_annotations, podman_meta,
};

const CAPACITY: usize = 1024;
/// A runtime's state file larger than this is not read: whoever creates a
/// container chooses how much goes into it (labels, environment, annotations).
/// Docker's config.v2.json and an OCI config.json take a few KiB; Podman's
/// containers.json about 2 KiB per container.
pub const MAX_STATE_FILE: u64 = 8 << 20;
/// How long an answer stands before the files are looked at again. Without it a
/// client connecting in a loop costs two stats per connect (a found container)
/// or a failed read of every runtime's state (a container no runtime describes);
/// a rename shows up at most this late.
const RECHECK: Duration = Duration::from_secs(1);

pub struct MetaCache {
    docker_root: PathBuf,
    storage_root: PathBuf,
    containerd_state: PathBuf,
    cache: HashMap<String, Entry>,
    /// Containers no runtime's state described, and when that was found.
    misses: HashMap<String, Instant>,
    recheck: Duration,
}

struct Entry {
    checked: Instant,
    meta: Meta,
    /// Exists exactly as long as the container does.
    probe: PathBuf,
    /// The file the description was read from, and its mtime then.
    source: PathBuf,
    mtime: Option<SystemTime>,
}

impl MetaCache {
    /// `docker_root` is dockerd's data-root (/var/lib/docker); `storage_root` is
    /// containers/storage's graph root (/var/lib/containers/storage), which Podman
    /// and CRI-O share; `containerd_state` is containerd's state dir (/run/containerd).
    pub fn new(
        docker_root: PathBuf,
        storage_root: PathBuf,
        containerd_state: PathBuf,
    ) -> MetaCache {
        MetaCache {
            docker_root,
            storage_root,
            containerd_state,
            cache: HashMap::new(),
            misses: HashMap::new(),
            recheck: RECHECK,
        }
    }

    pub fn lookup(&mut self, c: &Container) -> Option<Meta> {
        let now = Instant::now();
        if let Some(e) = self.cache.get_mut(&c.id) {
            if now.duration_since(e.checked) < self.recheck {
                return Some(e.meta.clone());
            }
            let fresh = e.probe.exists()
                && fs::metadata(&e.source).and_then(|m| m.modified()).ok() == e.mtime;
            if fresh {
                e.checked = now;
                return Some(e.meta.clone());
            }
            // Gone, or changed: either way the old description no longer holds.
            self.cache.remove(&c.id);
        }
        let recheck = self.recheck;
        if self.misses.get(&c.id).is_some_and(|t| now.duration_since(*t) < recheck) {
            return None;
        }
        let Some(found) = self.read(c) else {
            if self.misses.len() >= CAPACITY {
                self.misses.clear();
            }
            self.misses.insert(c.id.clone(), now);
            return None;
        };
        self.misses.remove(&c.id);
        let (meta, probe, source) = found;
        let mtime = fs::metadata(&source).and_then(|m| m.modified()).ok();
        if self.cache.len() >= CAPACITY {
            self.cache.retain(|_, e| e.probe.exists());
            if self.cache.len() >= CAPACITY {
                self.cache.clear();
            }
        }
        self.cache
            .insert(c.id.clone(), Entry { checked: now, meta: meta.clone(), probe, source, mtime });
        Some(meta)
    }

    fn read(&self, c: &Container) -> Option<(Meta, PathBuf, PathBuf)> {
        match c.runtime {
            Runtime::Docker => self.docker(&c.id),
            Runtime::Podman | Runtime::Crio => self.storage(&c.id),
            Runtime::Containerd | Runtime::Nerdctl => self.containerd(&c.id),
            Runtime::Kubernetes => self.containerd(&c.id).or_else(|| self.storage(&c.id)),
            Runtime::Lxc | Runtime::Nspawn => None,
        }
    }

    /// Whether dockerd paused the container itself (`docker pause`); `None`
    /// when Docker does not describe it.
    pub fn docker_paused(&self, id: &str) -> Option<bool> {
        let path = self.docker_root.join("containers").join(id).join("config.v2.json");
        crate::core::runtime_state::docker_paused(&read_capped(&path)?)
    }

    fn docker(&self, id: &str) -> Option<(Meta, PathBuf, PathBuf)> {
        let path = self.docker_root.join("containers").join(id).join("config.v2.json");
        let meta = docker_meta(&read_capped(&path)?)?;
        Some((meta, path.clone(), path))
    }

    /// containerd's task bundles, one directory per namespace (k8s.io, default, ...).
    fn containerd(&self, id: &str) -> Option<(Meta, PathBuf, PathBuf)> {
        let tasks = self.containerd_state.join("io.containerd.runtime.v2.task");
        for ns in fs::read_dir(&tasks).ok()?.flatten() {
            let bundle = ns.path().join(id);
            let config = bundle.join("config.json");
            if let Some(meta) = read_capped(&config).and_then(|j| containerd_meta(&j)) {
                return Some((meta, bundle, config));
            }
        }
        None
    }

    /// containers/storage keeps one containers.json per storage driver
    /// (`overlay-containers`, `vfs-containers`, ...): find the one that has `id`.
    fn storage(&self, id: &str) -> Option<(Meta, PathBuf, PathBuf)> {
        for entry in fs::read_dir(&self.storage_root).ok()?.flatten() {
            let dir = entry.path();
            if !dir.file_name().is_some_and(|n| n.to_string_lossy().ends_with("-containers")) {
                continue;
            }
            let path = dir.join("containers.json");
            if !dir.join(id).is_dir() {
                continue;
            }
            let Some(mut meta) = read_capped(&path).and_then(|j| podman_meta(&j, id)) else {
                continue;
            };
            meta.labels = labels(&dir.join(id).join("userdata/config.json"));
            return Some((meta.bounded(), dir.join(id), path));
        }
        None
    }
}

/// A state file, unless it is larger than `MAX_STATE_FILE` (then the container
/// goes unnamed in findings, and the log says why).
fn read_capped(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let f = fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len > MAX_STATE_FILE {
        crate::warn!(
            "{}: {len} bytes, more than the {MAX_STATE_FILE} read of a runtime's state file: \
             the container is reported without its name, image and labels",
            path.display()
        );
        return None;
    }
    let mut buf = Vec::with_capacity(len as usize);
    // The file may grow between the stat and the read.
    f.take(MAX_STATE_FILE).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// A container's labels from its OCI config's annotations (where CRI-O puts the
/// pod's name and namespace), minus the runtimes' own bookkeeping. Podman keeps
/// user labels in its database, not here.
fn labels(config: &Path) -> std::collections::BTreeMap<String, String> {
    let mut anns = read_capped(config).map(|j| oci_annotations(&j)).unwrap_or_default();
    anns.retain(|k, _| {
        !(k.starts_with("io.podman.")
            || k.starts_with("org.opencontainers.")
            || k.starts_with("io.kubernetes.cri-o.")
            || k == "io.container.manager")
    });
    anns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_file_past_the_cap_is_not_read() {
        let path = std::env::temp_dir().join(format!("sockwatch-big-{}", std::process::id()));
        fs::write(&path, br#"{"Name":"/x"}"#).unwrap();
        assert_eq!(read_capped(&path).unwrap(), br#"{"Name":"/x"}"#);
        // Sparse: no 8 MiB written.
        fs::File::options().write(true).open(&path).unwrap().set_len(MAX_STATE_FILE + 1).unwrap();
        assert_eq!(read_capped(&path), None);
        fs::File::options().write(true).open(&path).unwrap().set_len(MAX_STATE_FILE).unwrap();
        assert_eq!(read_capped(&path).map(|b| b.len()), Some(MAX_STATE_FILE as usize));
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn reads_caches_refreshes_and_drops() {
        let root = std::env::temp_dir().join(format!("sockwatch-meta-{}", std::process::id()));
        let id = "ab".repeat(32);
        let dir = root.join("docker/containers").join(&id);
        fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("config.v2.json");
        fs::write(&cfg, r#"{"Name":"/one","Config":{"Image":"img:1"}}"#).unwrap();
        let mut cache =
            MetaCache::new(root.join("docker"), root.join("storage"), root.join("containerd"));
        let c = Container { runtime: Runtime::Docker, id: id.clone(), pod_uid: None };
        assert_eq!(cache.lookup(&c).unwrap().name.as_deref(), Some("one"));
        // Within the recheck interval the answer stands without a look at the
        // files, found or not.
        fs::write(&cfg, r#"{"Name":"/later","Config":{"Image":"img:1"}}"#).unwrap();
        assert_eq!(cache.lookup(&c).unwrap().name.as_deref(), Some("one"));
        let absent = Container { runtime: Runtime::Docker, id: "ef".repeat(32), pod_uid: None };
        assert_eq!(cache.lookup(&absent), None);
        let adir = root.join("docker/containers").join(&absent.id);
        fs::create_dir_all(&adir).unwrap();
        fs::write(adir.join("config.v2.json"), r#"{"Name":"/new","Config":{"Image":"img:1"}}"#)
            .unwrap();
        assert_eq!(cache.lookup(&absent), None, "the miss is remembered for a second");
        // From here on every lookup looks.
        cache.recheck = Duration::ZERO;
        assert_eq!(cache.lookup(&absent).unwrap().name.as_deref(), Some("new"));
        // Renamed: the file changes, the cache follows.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&cfg, r#"{"Name":"/two","Config":{"Image":"img:1"}}"#).unwrap();
        let f = fs::File::options().append(true).open(&cfg).unwrap();
        f.set_modified(SystemTime::now() + std::time::Duration::from_secs(1)).unwrap();
        assert_eq!(cache.lookup(&c).unwrap().name.as_deref(), Some("two"));
        // Removed: dropped from the cache.
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(cache.lookup(&c), None);
        assert!(!cache.cache.contains_key(&id));
        // Podman's storage, any driver.
        let pdir = root.join("storage/vfs-containers");
        fs::create_dir_all(pdir.join(&id).join("userdata")).unwrap();
        fs::write(
            pdir.join("containers.json"),
            format!(r#"[{{"id":"{id}","names":["p1"],"metadata":"{{\"image-name\":\"localhost/x:1\"}}"}}]"#),
        )
        .unwrap();
        fs::write(
            pdir.join(&id).join("userdata/config.json"),
            r#"{"annotations":{"io.podman.annotations.x":"1","team":"a"}}"#,
        )
        .unwrap();
        let p = Container { runtime: Runtime::Podman, id: id.clone(), pod_uid: None };
        let m = cache.lookup(&p).unwrap();
        assert_eq!((m.name.as_deref(), m.image.as_deref()), (Some("p1"), Some("localhost/x:1")));
        assert_eq!(m.labels.keys().collect::<Vec<_>>(), ["team"]);
        // The container goes (its directory), the shared containers.json stays.
        fs::remove_dir_all(pdir.join(&id)).unwrap();
        assert_eq!(cache.lookup(&p), None);
        // containerd's bundles, for Kubernetes pods.
        let kid = "cd".repeat(32);
        let bundle = root.join("containerd/io.containerd.runtime.v2.task/k8s.io").join(&kid);
        fs::create_dir_all(&bundle).unwrap();
        fs::write(bundle.join("config.json"), r#"{"annotations":{"io.kubernetes.cri.container-name":"app","io.kubernetes.cri.sandbox-namespace":"prod"}}"#).unwrap();
        let k = Container { runtime: Runtime::Kubernetes, id: kid, pod_uid: None };
        let m = cache.lookup(&k).unwrap();
        assert_eq!((m.name.as_deref(), m.pod_namespace()), (Some("app"), Some("prod")));
        fs::remove_dir_all(&root).unwrap();
    }
}
