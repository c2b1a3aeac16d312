//! What container runtimes write down, read from disk (a container's creator
//! chooses most of it): Docker's `config.v2.json` (`docker_meta`), Podman's
//! `containers.json` (`podman_meta`), an OCI bundle's annotations
//! (`oci_annotations`, `containerd_meta`) and image ids (`image_id`). Checks
//! the documented bounds on names, images and labels, and that the result
//! makes a finding's `container` that serialises.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwatch::core::cgroup::{Container, Runtime};
use sockwatch::core::finding::container_info;
use sockwatch::core::origin::{Attribution, By, Origin};
use sockwatch::core::runtime_state::{
    MAX_IMAGE, MAX_LABEL_KEY, MAX_LABEL_VALUE, MAX_LABELS, MAX_NAME, Meta, containerd_meta,
    docker_meta, image_id, oci_annotations, podman_meta,
};

/// The container the Podman seed describes.
const ID: &str = "3f1c2b9a8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170615f4e3";

fn check_id(id: &str) {
    let hex = id.strip_prefix("sha256:").unwrap_or_else(|| panic!("image id {id:?}"));
    assert!(hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
}

fn check(meta: Meta) {
    assert!(meta.name.as_ref().is_none_or(|n| n.len() <= MAX_NAME));
    assert!(meta.image.as_ref().is_none_or(|i| i.len() <= MAX_IMAGE));
    assert!(meta.labels.len() <= MAX_LABELS);
    for (k, v) in &meta.labels {
        assert!(k.len() <= MAX_LABEL_KEY && v.len() <= MAX_LABEL_VALUE);
    }
    if let Some(id) = &meta.image_id {
        check_id(id);
    }
    let origin = Origin::Container(Attribution {
        container: Container { runtime: Runtime::Docker, id: ID.into(), pod_uid: None },
        by: By::Pid,
        meta: Some(meta),
    });
    let json = serde_json::to_string(&container_info(&origin)).expect("serialises");
    assert!(!json.bytes().any(|b| b < 0x20), "{json}");
    assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok_and(|v| v.is_object()));
}

fuzz_target!(|data: &[u8]| {
    if let Some(m) = docker_meta(data) {
        check(m);
    }
    if let Some(m) = podman_meta(data, ID) {
        check(m);
    }
    if let Some(m) = containerd_meta(data) {
        check(m);
    }
    let _ = oci_annotations(data);
    let text = String::from_utf8_lossy(data);
    for s in std::iter::once(&*text).chain(text.lines()) {
        if let Some(id) = image_id(s) {
            check_id(&id);
        }
    }
});
