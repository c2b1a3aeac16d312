//! `/proc/PID/cgroup` text to a container: `cgroup::container_of` over the
//! whole file and `cgroup::container_in_path` on each line's path. A container
//! named by id has a full 64-hex id; one named by name (LXC, systemd-nspawn) a
//! printable one; a pod uid is a UUID.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwatch::core::cgroup::{Container, Runtime, container_in_path, container_of, hex64};

fn check(c: &Container) {
    match c.runtime {
        Runtime::Lxc | Runtime::Nspawn => {
            assert!(!c.id.is_empty() && !c.id.chars().any(char::is_control), "{c:?}");
        }
        _ => assert!(hex64(c.id.as_bytes()).is_some(), "{c:?}"),
    }
    if let Some(uid) = &c.pod_uid {
        assert!(
            uid.len() == 36 && uid.chars().all(|ch| ch.is_ascii_hexdigit() || ch == '-'),
            "pod uid {uid:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = container_of(data);
    if let Some(c) = &whole {
        check(c);
    }
    let mut first = None;
    for line in data.split(|&b| b == b'\n') {
        if let Some(c) = container_in_path(line) {
            check(&c);
        }
        let mut parts = line.splitn(3, |&b| b == b':');
        if let (Some(_), Some(_), Some(path)) = (parts.next(), parts.next(), parts.next())
            && first.is_none()
        {
            first = container_in_path(path);
        }
    }
    assert_eq!(whole, first, "container_of is not the first line's container");
});
