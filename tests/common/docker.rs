//! Containers for the Docker end-to-end tests: the test image with the host's
//! tools mounted read-only, started detached and removed however a test ends.

use super::{run, runtime_ready};

pub const IMAGE: &str = "sockwatch-test:latest";
/// Host tools, read-only, so the busybox image can run the docker CLI and socat.
pub const TOOLS: [&str; 6] = ["-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro"];

/// dockerd is up and the image is built (tests/env/setup-docker.sh), or the test
/// skips (fails under CI=true).
pub fn docker_ready() -> bool {
    runtime_ready("docker", IMAGE, "tests/env/setup-docker.sh")
}

/// `docker run -d` with the tools mounted; returns the full container id.
pub fn docker_run(volumes: &[&str], script: &str) -> String {
    let mut args = vec!["run", "-d", "--network", "none"];
    args.extend_from_slice(&TOOLS);
    args.extend_from_slice(volumes);
    args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
    let out = run("docker", &args);
    assert!(out.status.success(), "docker run failed: {}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(id.len(), 64, "docker run -d prints the full id: {id:?}");
    id
}

/// `docker run -d` of the test image with the static client at /client and
/// Docker's socket mounted where the docker CLI looks for it; the container is
/// removed however the test ends (`.0` is its full id).
pub fn docker_run_with_socket(client: &std::path::Path, argv: &[&str]) -> Removed {
    let vol = format!("{}:/client:ro", client.display());
    let mut args = vec![
        "run",
        "-d",
        "--network",
        "none",
        "-v",
        &vol,
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        IMAGE,
    ];
    args.extend_from_slice(argv);
    let out = run("docker", &args);
    assert!(out.status.success(), "docker run failed: {}", String::from_utf8_lossy(&out.stderr));
    Removed(String::from_utf8(out.stdout).unwrap().trim().to_string())
}

/// Removes the container however the test ends.
pub struct Removed(pub String);

impl Drop for Removed {
    fn drop(&mut self) {
        run("docker", &["rm", "-f", &self.0]);
    }
}
