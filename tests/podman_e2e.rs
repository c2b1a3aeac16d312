//! End-to-end with real Podman (tests/env/setup-podman.sh installs it and builds
//! `localhost/sockwatch-test`): a Podman container reaching the Docker socket is
//! attributed to the Podman container, by id, name and image, whether the client
//! runs inside it or through `podman exec` and exits at once.

mod common;

use std::time::Duration;

use common::*;

const IMAGE: &str = "localhost/sockwatch-test:latest";

#[test]
fn podman_containers_reaching_the_socket_are_attributed() {
    if !privileged("podman end-to-end")
        || !runtime_ready("podman", IMAGE, "tests/env/setup-podman.sh")
    {
        return;
    }
    let t = AuditTest::begin("podman");
    let dir = t.dir.clone();
    let client = build_client(&dir);
    let d = Daemon::start(&dir, &[]);
    let name = format!("sw-podman-{:x}", rand64());
    let vol = format!("{}:/client:ro", client.display());
    // Inside: the container's own shell starts a client that exits at once.
    let out = run(
        "podman",
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "-v",
            &vol,
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            IMAGE,
            "sh",
            "-c",
            "sleep 1; /client /var/run/docker.sock; sleep 60",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(id.len(), 64);
    let f = d.wait_finding("podman run", Duration::from_secs(15), |f| {
        f["container"]["id"] == id.as_str()
    });
    // Through podman exec.
    const N: usize = 5;
    for _ in 0..N {
        assert!(run("podman", &["exec", &id, "/client", "/var/run/docker.sock"]).status.success());
    }
    d.wait_finding("podman exec", Duration::from_secs(15), |_| {
        d.findings().iter().filter(|f| f["container"]["id"] == id.as_str()).count() > N
    });
    let (st, log) = d.stop();
    run("podman", &["rm", "-f", "-t", "0", &id]);
    assert!(st.success(), "{log}");
    assert_eq!(f["container"]["runtime"], "podman");
    let all: Vec<serde_json::Value> = findings_in(&dir.join("findings.jsonl"))
        .into_iter()
        .filter(|f| f["process"]["comm"] == "client")
        .collect();
    assert_eq!(all.len(), N + 1, "{all:#?}");
    for f in &all {
        assert_eq!(f["container"]["id"], id.as_str());
        assert_eq!(f["container"]["runtime"], "podman");
        assert_eq!(f["container"]["name"], name.as_str());
        assert_eq!(f["container"]["image"], IMAGE);
    }
    t.end();
}
