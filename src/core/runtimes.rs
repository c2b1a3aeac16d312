//! The container runtimes' API sockets that are watched when none are
//! configured, and which runtime a socket belongs to (`socket.runtime` in a
//! finding). Whoever reaches any of them can start a privileged container.

/// A runtime's socket at a fixed host path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub path: &'static str,
    pub runtime: &'static str,
}

pub const KNOWN: &[Known] = &[
    Known { path: "/run/docker.sock", runtime: "docker" },
    Known { path: "/run/containerd/containerd.sock", runtime: "containerd" },
    Known { path: "/run/docker/containerd/containerd.sock", runtime: "containerd (docker's)" },
    Known { path: "/run/crio/crio.sock", runtime: "crio" },
    Known { path: "/run/podman/podman.sock", runtime: "podman" },
    Known { path: "/run/cri-dockerd.sock", runtime: "cri-dockerd" },
    Known { path: "/run/k3s/containerd/containerd.sock", runtime: "containerd (k3s)" },
    Known { path: "/run/buildkit/buildkitd.sock", runtime: "buildkit" },
];

/// Where each user's runtime directory lives (`$XDG_RUNTIME_DIR`).
pub const USER_RUN: &str = "/run/user";

/// Rootless runtimes' sockets, under a user's runtime directory.
pub const ROOTLESS: &[Known] = &[
    Known { path: "docker.sock", runtime: "docker (rootless)" },
    Known { path: "podman/podman.sock", runtime: "podman (rootless)" },
];

/// The default set: every fixed socket, and the rootless ones of each user whose
/// runtime directory exists (`uids`).
pub fn default_set(uids: &[u32]) -> Vec<String> {
    let mut out: Vec<String> = KNOWN.iter().map(|k| k.path.to_string()).collect();
    for uid in uids {
        out.extend(rootless(*uid));
    }
    out
}

/// The rootless sockets of one user.
pub fn rootless(uid: u32) -> Vec<String> {
    ROOTLESS.iter().map(|k| format!("{USER_RUN}/{uid}/{}", k.path)).collect()
}

/// A user's id from the name of an entry in /run/user.
pub fn user_dir(name: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(name).ok()?;
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The user whose runtime directory holds `path`, if it is under /run/user/UID.
pub fn user_of(path: &str) -> Option<u32> {
    let rest = path.strip_prefix(USER_RUN)?.strip_prefix('/')?;
    user_dir(rest.split('/').next()?.as_bytes())
}

/// How long a new user runtime directory may stay a plain directory before it is
/// taken as it is. systemd-logind makes it and then mounts a tmpfs on it: a rule
/// or a mark placed in between would stay on the directory underneath, hidden.
pub const USER_DIR_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Whether a user's runtime directory is ready to carry rules and marks: it is a
/// mount point now, or it has been a plain directory for the whole grace period
/// (no logind, or no tmpfs). One that was a mount point and no longer is, is
/// going away (the user logged out).
pub fn user_dir_ready(is_mount: bool, unmounted: bool, age: std::time::Duration) -> bool {
    is_mount || (!unmounted && age >= USER_DIR_GRACE)
}

/// The runtime a watched socket belongs to: by its known path, else by the name
/// runtimes give their sockets; `None` when neither says.
pub fn runtime_of(path: &str) -> Option<&'static str> {
    if let Some(k) = KNOWN.iter().find(|k| k.path == path) {
        return Some(k.runtime);
    }
    if let Some(rest) = path.strip_prefix(USER_RUN).and_then(|r| r.strip_prefix('/')) {
        if let Some((uid, tail)) = rest.split_once('/') {
            if user_dir(uid.as_bytes()).is_some() {
                if let Some(k) = ROOTLESS.iter().find(|k| k.path == tail) {
                    return Some(k.runtime);
                }
            }
        }
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    Some(match name {
        "docker.sock" => "docker",
        "containerd.sock" => "containerd",
        "crio.sock" => "crio",
        "podman.sock" => "podman",
        "cri-dockerd.sock" => "cri-dockerd",
        "buildkitd.sock" => "buildkit",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_and_runtimes() {
        let set = default_set(&[1000, 0]);
        assert_eq!(set.len(), KNOWN.len() + 4);
        assert!(set.contains(&"/run/user/1000/podman/podman.sock".to_string()));
        assert!(set.contains(&"/run/user/0/docker.sock".to_string()));
        let cases = [
            ("/run/docker.sock", Some("docker")),
            ("/run/docker/containerd/containerd.sock", Some("containerd (docker's)")),
            ("/run/k3s/containerd/containerd.sock", Some("containerd (k3s)")),
            ("/run/user/1000/docker.sock", Some("docker (rootless)")),
            ("/run/user/1000/podman/podman.sock", Some("podman (rootless)")),
            ("/run/user/x/podman/podman.sock", Some("podman")),
            ("/srv/elsewhere/docker.sock", Some("docker")),
            ("/tmp/app.sock", None),
        ];
        for (p, want) in cases {
            assert_eq!(runtime_of(p), want, "{p}");
        }
        for k in KNOWN {
            assert!(k.path.starts_with("/run/") && k.path.ends_with(".sock"));
        }
    }

    #[test]
    fn user_runtime_directories_wait_for_their_mount() {
        use std::time::Duration;
        assert_eq!(user_of("/run/user/1000/podman/podman.sock"), Some(1000));
        assert_eq!(user_of("/run/docker.sock"), None);
        assert_eq!(user_of("/run/userx/1/docker.sock"), None);
        // (is_mount, unmounted, age) -> ready
        let table = [
            ((true, false, Duration::ZERO), true),
            ((false, false, Duration::ZERO), false),
            ((false, false, Duration::from_millis(499)), false),
            ((false, false, USER_DIR_GRACE), true),
            ((false, true, Duration::from_secs(60)), false),
        ];
        for ((m, u, age), want) in table {
            assert_eq!(user_dir_ready(m, u, age), want, "mount={m} unmounted={u} age={age:?}");
        }
    }

    #[test]
    fn user_dirs_are_numeric_only() {
        assert_eq!(user_dir(b"1000"), Some(1000));
        assert_eq!(user_dir(b"0"), Some(0));
        for bad in [&b""[..], b"10a", b"-1", b"..", b"99999999999", b"\xff"] {
            assert_eq!(user_dir(bad), None, "{bad:?}");
        }
    }
}
