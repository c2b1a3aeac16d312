//! End-to-end with a real dockerd and real containers. The README's test command
//! starts dockerd and builds the `sockwatch-test` image (tests/env/setup-docker.sh)
//! before this runs.

mod common;

use std::os::unix::net::UnixListener;
use std::time::Duration;

use common::docker::*;
use common::*;

/// Waits for the container to exit, removes it, and returns its exit code.
fn docker_wait(id: &str) -> i64 {
    let out = run("docker", &["wait", id]);
    let code = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(-1);
    if code != 0 {
        eprintln!(
            "container {id} logs:\n{}",
            String::from_utf8_lossy(&run("docker", &["logs", id]).stderr)
        );
    }
    run("docker", &["rm", "-f", id]);
    code
}

#[test]
fn real_docker_containers_reaching_the_socket_are_reported_and_nothing_else() {
    if !privileged("docker end-to-end") || !docker_ready() {
        return;
    }
    let t = AuditTest::begin("docker");
    let dir = t.dir.clone();
    let rules_before = sockwatch_rules_loaded();
    let decoy_dir = dir.join("decoy");
    std::fs::create_dir_all(&decoy_dir).unwrap();
    let decoy = decoy_dir.join("docker.sock");
    let _decoy = UnixListener::bind(&decoy).unwrap();

    // Watches the default socket, /run/docker.sock (given as /var/run/docker.sock).
    let d = Daemon::start(&dir, &["--socket", "/var/run/docker.sock"]);
    assert!(d.log().contains("watching /run/docker.sock"), "{}", d.log());

    // (c) the docker CLI on the host: no finding.
    assert!(run("docker", &["version"]).status.success());
    // (d) a container connecting to another unix socket, even one named docker.sock
    //     and mounted where docker's would be: no finding.
    let decoy_vol = format!("{}:/var/run/docker.sock", decoy.display());
    let d_id =
        docker_run(&["-v", &decoy_vol], "socat -u /dev/null UNIX-CONNECT:/var/run/docker.sock");
    assert_eq!(docker_wait(&d_id), 0, "the decoy connect itself worked");

    // (a) the docker CLI inside a container with the socket mounted.
    let a_id = docker_run(
        &["-v", "/var/run/docker.sock:/var/run/docker.sock"],
        "/usr/bin/docker version --format '{{.Server.Version}}' && sleep 1",
    );
    // (b) the socket mounted at another path, reached with socat.
    let b_id = docker_run(
        &["-v", "/var/run/docker.sock:/tmp/x.sock"],
        "socat -u /dev/null UNIX-CONNECT:/tmp/x.sock && sleep 1",
    );

    let fa = d.wait_finding("(a) docker CLI in a container", Duration::from_secs(15), |f| {
        f["container"]["id"] == a_id.as_str()
    });
    assert_eq!(fa["container"]["runtime"], "docker");
    assert_eq!(fa["socket"]["path"], "/var/run/docker.sock");
    assert_eq!(fa["socket"]["watched"], "/run/docker.sock");
    assert_eq!(fa["process"]["exe"], "/usr/bin/docker");
    assert_eq!(fa["container"]["image"], IMAGE);
    assert_eq!(fa["container"]["labels"]["org.sockwatch.test"], "1");
    assert!(
        fa["container"]["name"].as_str().is_some_and(|n| !n.is_empty() && !n.starts_with('/')),
        "{fa:#}"
    );
    let fb = d.wait_finding("(b) socket mounted as /tmp/x.sock", Duration::from_secs(15), |f| {
        f["container"]["id"] == b_id.as_str()
    });
    assert_eq!(fb["socket"]["path"], "/tmp/x.sock");
    assert_eq!(fb["socket"]["inode"], fa["socket"]["inode"]);
    assert_eq!(docker_wait(&a_id), 0);
    assert_eq!(docker_wait(&b_id), 0);

    let (status, log) = d.stop();
    // (e) SIGTERM: exit 0, and no sockwatch rule is left.
    assert!(status.success(), "exit status {status}; log:\n{log}");
    assert_eq!(sockwatch_rules_loaded(), rules_before, "no rule of this run is left loaded");

    // Exactly the containers of (a) and (b); nothing from (c) or (d).
    let all = findings_in(&dir.join("findings.jsonl"));
    assert!(!all.is_empty());
    for f in &all {
        let id = f["container"]["id"].as_str().unwrap_or_default();
        assert!(id == a_id || id == b_id, "unexpected finding: {f:#}");
    }
    let lat: Vec<f64> = all.iter().map(latency_ms).collect();
    eprintln!(
        "docker e2e: {} finding(s); latency time - audit.time: min {:.1} ms, max {:.1} ms",
        all.len(),
        lat.iter().cloned().fold(f64::INFINITY, f64::min),
        lat.iter().cloned().fold(0.0, f64::max)
    );
    t.end();
}

#[test]
fn docker_exec_of_a_client_that_exits_at_once_is_attributed() {
    if !privileged("docker exec end-to-end") || !docker_ready() {
        return;
    }
    let t = AuditTest::begin("docker-exec");
    let dir = t.dir.clone();
    let client = build_client(&dir);
    let d = Daemon::start(&dir, &[]);
    let name = format!("sw-exec-{:x}", rand64());
    let vol = format!("{}:/client:ro", client.display());
    let out = run(
        "docker",
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
            "sleep",
            "60",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    const N: usize = 10;
    for _ in 0..N {
        assert!(run("docker", &["exec", &id, "/client", "/var/run/docker.sock"]).status.success());
    }
    d.wait_finding("all execs", Duration::from_secs(15), |_| {
        d.findings().iter().filter(|f| f["container"]["id"] == id.as_str()).count() >= N
    });
    let (st, log) = d.stop();
    run("docker", &["rm", "-f", &id]);
    assert!(st.success(), "{log}");
    let mine: Vec<_> =
        d_findings(&dir).into_iter().filter(|f| f["process"]["comm"] == "client").collect();
    assert_eq!(mine.len(), N, "one finding per exec: {mine:#?}");
    for f in &mine {
        assert_eq!(f["container"]["id"], id.as_str());
        assert_eq!(f["container"]["name"], name.as_str());
        assert_eq!(f["container"]["image"], IMAGE);
    }
    t.end();
}

fn d_findings(dir: &std::path::Path) -> Vec<serde_json::Value> {
    findings_in(&dir.join("findings.jsonl"))
}

/// The packaged unit gives sockwatch a private mount namespace (ProtectSystem=,
/// PrivateTmp=, PrivateMounts=) with /usr read-only. There, comparing a process's
/// namespaces with sockwatch's own makes every runtime monitor look foreign, and
/// clients that are gone before /proc is read fell through to "host". Run it the
/// same way here: short-lived `docker exec` clients and one-shot containers must
/// all be reported, host clients must not, and the socket-owner check must still
/// tell a runtime from anyone else.
#[test]
fn in_a_private_mount_namespace_short_lived_clients_are_all_reported() {
    if !privileged("private mount namespace end-to-end")
        || !docker_ready()
        || !have("/usr/bin/python3", "private mount namespace end-to-end")
    {
        return;
    }
    // A root-owned interpreter from the system directories, by its real name.
    let python = std::fs::canonicalize("/usr/bin/python3").unwrap();
    let python_name = python.file_name().unwrap().to_str().unwrap().to_string();
    let t = AuditTest::begin("privns");
    let dir = t.dir.clone();
    let client = build_client(&dir);
    let other = dir.join("other.sock");
    drop(UnixListener::bind(&other).unwrap());
    let wrapper = [
        "unshare",
        "-m",
        "--propagation",
        "slave",
        "sh",
        "-c",
        "mount --bind /usr /usr && mount -o remount,bind,ro /usr && exec \"$0\" \"$@\"",
    ];
    let extra = [
        "--socket",
        "/run/docker.sock",
        "--socket",
        other.to_str().unwrap(),
        "--socket-owner",
        "dockerd",
        "--socket-owner",
        &python_name,
    ];
    let d = Daemon::start_wrapped(&dir, &wrapper, &extra, &[]);
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
    assert_ne!(
        ns(&d.child.id().to_string()),
        ns("self"),
        "sockwatch runs in a mount namespace of its own"
    );
    assert!(
        run("sh", &["-c", &format!("grep -q ' /usr .* ro,' /proc/{}/mountinfo", d.child.id())])
            .status
            .success(),
        "/usr is read-only for sockwatch"
    );

    let vol = format!("{}:/client:ro", client.display());
    let sock = "/var/run/docker.sock:/var/run/docker.sock";
    let out = run(
        "docker",
        &["run", "-d", "--network", "none", "-v", &vol, "-v", sock, IMAGE, "sleep", "120"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let long = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let _removed = Removed(long.clone());
    const EXECS: usize = 20;
    for _ in 0..EXECS {
        assert!(
            run("docker", &["exec", &long, "/client", "/var/run/docker.sock"]).status.success()
        );
    }
    // One-shot containers whose PID 1 connects and exits: nothing of them is left.
    const ONE_SHOT: usize = 5;
    let mut one_shot = Vec::new();
    for i in 0..ONE_SHOT {
        let cid = dir.join(format!("cid{i}"));
        let cidfile = cid.to_str().unwrap();
        let out = run(
            "docker",
            &[
                "run",
                "--rm",
                "--cidfile",
                cidfile,
                "--network",
                "none",
                "-v",
                &vol,
                "-v",
                sock,
                IMAGE,
                "/client",
                "/var/run/docker.sock",
            ],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        one_shot.push(std::fs::read_to_string(&cid).unwrap().trim().to_string());
    }
    // A host client: no finding.
    assert!(run("docker", &["version"]).status.success());

    let execs = |all: &[serde_json::Value]| {
        all.iter()
            .filter(|f| f["container"]["id"] == long.as_str() && f["process"]["comm"] == "client")
            .count()
    };
    d.wait_finding("every short-lived client", Duration::from_secs(20), |_| {
        let all = d.findings();
        execs(&all) >= EXECS
            && one_shot.iter().all(|id| all.iter().any(|f| f["container"]["id"] == id.as_str()))
    });

    // The socket-owner check: a declared owner (a root-owned system binary)
    // re-creating a watched socket is no finding; the same interpreter copied
    // elsewhere is no owner.
    let recreate = |python: &str| {
        let code = format!(
            "import os,socket,time; os.unlink({p:?}); socket.socket(socket.AF_UNIX).bind({p:?}); time.sleep(0.5)",
            p = other.to_str().unwrap()
        );
        let out = run(python, &["-c", &code]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    recreate(python.to_str().unwrap());
    let impostor = dir.join(&python_name);
    std::fs::copy(&python, &impostor).unwrap();
    recreate(impostor.to_str().unwrap());
    let t0 = std::time::Instant::now();
    let file = d.findings.clone();
    let replaced = || {
        records_in(&file)
            .into_iter()
            .filter(|r| r["signature"]["id"] == "SW-1002")
            .collect::<Vec<_>>()
    };
    while replaced().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no SW-1002 for the impostor; log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");

    let all = findings_in(&dir.join("findings.jsonl"));
    let reported_execs = execs(&all);
    let reported_one_shot = one_shot
        .iter()
        .filter(|id| all.iter().any(|f| f["container"]["id"] == id.as_str()))
        .count();
    eprintln!(
        "private mount namespace: {reported_execs}/{EXECS} docker exec clients and {reported_one_shot}/{ONE_SHOT} one-shot containers reported"
    );
    assert_eq!(reported_execs, EXECS, "{all:#?}");
    for f in &all {
        let id = f["container"]["id"].as_str().unwrap_or_default();
        assert!(
            id == long || one_shot.iter().any(|o| o == id),
            "a finding for no container of this test (the host's docker version?): {f:#}"
        );
    }
    // The impostor's delete and create, each a finding; none for the owner.
    let sw1002 = replaced();
    let ops: Vec<&str> = sw1002.iter().filter_map(|f| f["operation"].as_str()).collect();
    assert_eq!(
        ops,
        ["delete", "create"],
        "the owner's re-creation is no finding, the impostor's is: {sw1002:#?}"
    );
    assert!(
        sw1002.iter().all(|f| f["process"]["exe"] == impostor.to_str().unwrap()),
        "{sw1002:#?}"
    );
    t.end();
}

/// A container's own output reaches the journal through Docker's journald log
/// driver. Output that forges whole audit records (the records of a real connect
/// to the socket) is not taken for records by `scan` over `journalctl -o short`:
/// every forged line is counted and named. The same lines without the journal's
/// prefix would make a finding.
#[test]
fn scan_does_not_take_a_containers_logged_records_for_audit_records() {
    if !privileged("forged records in the journal") || !docker_ready() || !journald_ready() {
        return;
    }
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let tag = format!("forge-{:x}", rand64());
    let out = run(
        "docker",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--log-driver=journald",
            "--log-opt",
            &format!("tag={tag}"),
            "-v",
            &format!("{data}:/data:ro"),
            IMAGE,
            "sh",
            "-c",
            "grep ':42)' /data/records-6.18.txt",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(printed >= 3, "the container printed the event's records");
    let mut journal = String::new();
    for _ in 0..50 {
        let out = run("journalctl", &["-o", "short", "--no-pager", "-t", &tag]);
        journal = String::from_utf8_lossy(&out.stdout).into_owned();
        if journal.lines().filter(|l| l.contains(" type=")).count() >= printed {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let forged: Vec<&str> = journal.lines().filter(|l| l.contains(" type=")).collect();
    assert_eq!(forged.len(), printed, "{journal}");
    let scan = |input: &str| {
        let mut child = std::process::Command::new(BIN)
            .args(["--config", "/dev/null", "scan", "--socket-inode", "fe:00:10010627", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            String::from_utf8_lossy(&out.stdout).lines().count(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code(),
        )
    };
    let (findings, err, code) = scan(&journal);
    assert_eq!(findings, 0, "a container's output is not an audit record: {err}");
    assert!(err.contains(&format!("{printed} malformed line(s) skipped")), "{err}");
    assert!(err.contains("a type= behind text no audit log puts there"), "{err}");
    assert_eq!(code, Some(3), "no audit record in the input: {err}");
    // The same entries as journald stores them (export and JSON): their
    // transport is the container's output, not audit, whatever MESSAGE says.
    for format in ["export", "json"] {
        let out = run("journalctl", &["-o", format, "--no-pager", "-t", &tag]);
        let (findings, err, code) = scan(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(findings, 0, "{format}: {err}");
        assert!(
            err.contains(&format!("{printed} journal entries of other transports")),
            "{format}: {err}"
        );
        assert_eq!(code, Some(3), "{format}: {err}");
    }
    // The control: the records themselves, without the journal's prefix.
    let bare: String =
        forged.iter().map(|l| format!("{}\n", &l[l.find(" type=").unwrap() + 1..])).collect();
    let (findings, err, code) = scan(&bare);
    assert_eq!(findings, 1, "the same records, bare, are a finding: {err}");
    assert_eq!(code, Some(0), "{err}");
    eprintln!("forged records: {printed} line(s) through the journal, 0 findings; 1 finding bare");
}

/// `setfacl -m u:1000:rw` on the socket, from inside a container that has its
/// directory mounted, leaves mode, owner and group as they were: the access ACL
/// is compared too, and the grant is SW-1001 with the container named.
#[test]
fn a_container_granting_the_socket_through_an_acl_is_sw_1001() {
    if !privileged("socket ACL")
        || !have("/usr/bin/setfacl", "socket ACL (the acl package)")
        || !docker_ready()
    {
        return;
    }
    let t = AuditTest::begin("acl");
    let sock = t.dir.join("real.sock");
    let _l = UnixListener::bind(&sock).unwrap();
    // As dockerd leaves its socket: 0660, so the ACL mask (rw) keeps the mode.
    assert!(run("chmod", &["0660", sock.to_str().unwrap()]).status.success());
    let d = Daemon::start(&t.dir, &["--socket", sock.to_str().unwrap()]);
    let mode = |p: &std::path::Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).unwrap().mode() & 0o7777
    };
    let id = docker_run(
        &["-v", &format!("{}:/d", t.dir.display())],
        "setfacl -m u:1000:rw /d/real.sock",
    );
    let _r = Removed(id.clone());
    // The daemon's findings beyond TRC-1019 are read from its file as they come.
    let t0 = std::time::Instant::now();
    let f = loop {
        let found = records_in(&t.dir.join("findings.jsonl"))
            .into_iter()
            .find(|f| f["signature"]["id"] == "SW-1001" && f["operation"] == "setfacl");
        if let Some(f) = found {
            break f;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no SW-1001 setfacl; log:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(mode(&sock), 0o660, "setfacl left the mode as it was");
    assert_eq!(f["container"]["id"], id.as_str(), "{f:#}");
    assert_eq!(f["details"]["new"]["acl"], serde_json::json!(["user:1000:rw-", "mask::rw-"]));
    assert_eq!(f["details"]["acl_grants_write"], true, "{f:#}");
    assert!(f["details"]["old"].get("acl").is_none(), "{f:#}");
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    t.end();
}

/// A loaded audit rule of another tool's, for every native connect, removed
/// however the test ends (after sockwatch's, so the AuditTest sees no leftover).
struct OtherRule;

impl OtherRule {
    const SPEC: [&'static str; 7] =
        ["always,exit", "-F", "arch=b64", "-S", "connect", "-F", "key=another-tool"];

    fn load() -> OtherRule {
        let out = run("auditctl", &[&["-a"], &Self::SPEC[..]].concat());
        assert!(out.status.success(), "auditctl: {}", String::from_utf8_lossy(&out.stderr));
        OtherRule
    }
}

impl Drop for OtherRule {
    fn drop(&mut self) {
        run("auditctl", &[&["-d"], &Self::SPEC[..]].concat());
    }
}

/// A container serving a FUSE mount that stops answering cannot stall the
/// daemon. The FUSE daemon answers the first lookup of a name with ENOENT and
/// holds every later one, and holds every READ of its file "argv" for ever:
/// - connects to a missing name on it, through io_uring and through connect(2)
///   under another tool's rule for every connect: a connect that found no file
///   reached no socket, so sockwatch does not look the name up again (it used
///   to, and stayed blocked in the lookup);
/// - a client whose argv has a page mapped from that file connects to the
///   Docker socket: its finding comes at once, since the kernel reads another
///   process's argv only from anonymous memory.
///
/// Meanwhile another container's connect is reported within 1 s.
#[test]
fn a_fuse_mount_that_never_answers_does_not_stall_the_daemon() {
    if !privileged("FUSE stall")
        || !docker_ready()
        || !have("/dev/fuse", "FUSE")
        || !have("/usr/sbin/auditctl", "another tool's audit rule")
    {
        return;
    }
    let t = AuditTest::begin("fuse-stall");
    let dir = t.dir.clone();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let cc = |out: &str, src: &str, flags: &[&str]| {
        let out = dir.join(out);
        let src = format!("{data}/{src}");
        let mut args = vec!["-O1", "-o", out.to_str().unwrap(), &src];
        args.extend_from_slice(flags);
        let r = run("cc", &args);
        assert!(r.status.success(), "building {src}: {}", String::from_utf8_lossy(&r.stderr));
    };
    cc("client_uring", "capture/client_uring.c", &["-luring"]);
    cc("client_fuse_argv", "fuse/client_fuse_argv.c", &["-static"]);
    std::fs::copy(format!("{data}/fuse/stall_fuse.py"), dir.join("stall_fuse.py")).unwrap();
    let client = build_client(&dir);
    let d = Daemon::start(&dir, &["--socket", "/var/run/docker.sock"]);
    let _other_rule = OtherRule::load();

    // The hostile container: it may mount FUSE, and use io_uring (which Docker's
    // default seccomp profile refuses).
    let vol = format!("{}:/t:ro", dir.display());
    let mut args = vec![
        "run",
        "-d",
        "--network",
        "none",
        "--cap-add",
        "SYS_ADMIN",
        "--device",
        "/dev/fuse",
        "--security-opt",
        "apparmor=unconfined",
        "--security-opt",
        "seccomp=unconfined",
        "-v",
        &vol,
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
    ];
    args.extend_from_slice(&TOOLS);
    args.extend_from_slice(&[
        IMAGE,
        "sh",
        "-c",
        "mkdir -p /mnt/f && { python3 /t/stall_fuse.py /mnt/f /tmp/ready & } \
         && until [ -e /tmp/ready ]; do sleep 0.1; done \
         && { /t/client_uring /mnt/f/missing-uring 120 & } \
         && { SW_STAY=120 /t/client /mnt/f/missing-connect & } \
         && /t/client_fuse_argv /var/run/docker.sock /mnt/f/argv",
    ]);
    let out = run("docker", &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hostile = Removed(String::from_utf8(out.stdout).unwrap().trim().to_string());
    let fuse_log = || {
        let out = run("docker", &["logs", &hostile.0]);
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };

    // The argv client's finding comes, argv read up to the mapped page.
    let f =
        d.wait_finding("the client with a FUSE page in its argv", Duration::from_secs(30), |f| {
            f["container"]["id"] == hostile.0.as_str()
        });
    assert_eq!(f["process"]["exe"], "/t/client_fuse_argv", "{f:#}");
    let argv_len: usize = f["process"]["cmdline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().len() + 1)
        .sum();
    assert!((128..4096).contains(&argv_len), "argv read up to the FUSE page: {argv_len} bytes");
    // Both missing-name connects were seen (the io_uring one through sockwatch's
    // rule, the other through the other tool's) and not looked up again.
    d.wait_log("(client_uring) skipped: not a watched socket", Duration::from_secs(10));
    d.wait_log("(client) skipped: not a watched socket", Duration::from_secs(10));
    let log = fuse_log();
    assert_eq!(log.matches("connect: No such file or directory").count(), 2, "{log}");
    assert!(!log.contains("stall_fuse: holding"), "nobody asked the FUSE daemon again: {log}");

    // Meanwhile another container reaches the Docker socket.
    let other = Removed(docker_run(
        &[
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            "-v",
            &format!("{}:/c:ro", client.display()),
        ],
        "/c /var/run/docker.sock && sleep 30",
    ));
    let f = d.wait_finding("the other container", Duration::from_secs(15), |f| {
        f["container"]["id"] == other.0.as_str()
    });
    let lat = latency_ms(&f);
    eprintln!(
        "fuse stall: the other container's connect reported {lat:.1} ms after its audit stamp"
    );
    assert!(lat < 1000.0, "reported {lat} ms after the connect: {f:#}");
    drop(_other_rule);
    drop(hostile);
    drop(other);
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("connects_unchecked=0 lookups_stalled=0"), "{log}");
    t.end();
}

/// runc's set-up names and the host's runc binary exempt nothing: a container
/// that mounts the host's /usr runs the host's runc with an LD_PRELOAD library
/// that names the process `runc:[2:INIT]` and connects to the Docker socket. And
/// runc's own set-up of containers makes no connect at all (another tool's rule
/// for every connect is loaded while they start).
#[test]
fn runc_init_is_no_exemption() {
    if !privileged("runc exemption")
        || !docker_ready()
        || !have("/usr/sbin/runc", "the host's runc")
        || !have("/usr/sbin/auditctl", "another tool's audit rule")
    {
        return;
    }
    let t = AuditTest::begin("runc-init");
    let dir = t.dir.clone();
    let so = dir.join("preload.so");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/capture/preload_connect.c");
    let cc = run("cc", &["-O1", "-shared", "-fPIC", "-o", so.to_str().unwrap(), src]);
    assert!(cc.status.success(), "building {src}: {}", String::from_utf8_lossy(&cc.stderr));
    let d = Daemon::start(&dir, &["--socket", "/var/run/docker.sock"]);
    let other_rule = OtherRule::load();
    // Plain containers, the socket mounted: runc's set-up connects nowhere.
    for _ in 0..3 {
        let id = docker_run(&["-v", "/var/run/docker.sock:/var/run/docker.sock"], "true");
        assert_eq!(docker_wait(&id), 0);
    }
    drop(other_rule);
    let vol = format!("{}:/t:ro", dir.display());
    let id = Removed(docker_run(
        &["-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", &vol],
        "SW_SOCK=/var/run/docker.sock LD_PRELOAD=/t/preload.so /usr/sbin/runc --version; sleep 30",
    ));
    let f = d.wait_finding("the host's runc, named runc:[2:INIT]", Duration::from_secs(15), |f| {
        f["container"]["id"] == id.0.as_str()
    });
    assert_eq!(f["process"]["comm"], "runc:[2:INIT]", "{f:#}");
    assert_eq!(f["process"]["exe"], "/usr/sbin/runc", "{f:#}");
    drop(id);
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
    assert!(!log.contains("(runc:["), "runc's set-up made a connect: {log}");
    assert_eq!(d_findings(&dir).len(), 1, "{:#?}", d_findings(&dir));
    t.end();
}

/// sockwatch's counter `name` from the latest stats line in its log (asked for
/// with SIGUSR1).
fn counter(d: &Daemon, name: &str) -> u64 {
    let before = d.log().matches("stats: records=").count();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.child.id() as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    while d.log().matches("stats: records=").count() == before {
        assert!(t0.elapsed() < Duration::from_secs(10), "no stats line after SIGUSR1");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = d.log();
    let line = log.lines().rev().find(|l| l.contains("stats: records=")).unwrap();
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

/// Floods from one container do not hide another container's connect to the
/// Docker socket; where records are lost, sockwatch says so with counts.
/// - AF_INET connects through io_uring: the io_uring rule takes AF_UNIX only,
///   so the flood makes no records at all;
/// - AF_UNIX connects through io_uring to a missing path: these the rule must
///   take (a path is no filter on the uring list);
/// - audit user messages, which a container may send with Docker's default
///   CAP_AUDIT_WRITE.
///
/// In each, another container connects five times while the flood runs: every
/// connect is reported, or `records_lost` says how many records went.
#[test]
fn floods_from_a_container_do_not_hide_another_containers_connect() {
    if !privileged("floods") || !docker_ready() {
        return;
    }
    let t = AuditTest::begin("flood");
    let dir = t.dir.clone();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/capture");
    let flood = dir.join("uring_flood");
    let src = format!("{data}/uring_flood.c");
    let cc = run("cc", &["-O2", "-o", flood.to_str().unwrap(), &src, "-luring"]);
    assert!(cc.status.success(), "building {src}: {}", String::from_utf8_lossy(&cc.stderr));
    std::fs::copy(format!("{data}/audit_user_flood.py"), dir.join("audit_user_flood.py")).unwrap();
    let client = build_client(&dir);
    let d = Daemon::start(&dir, &["--socket", "/var/run/docker.sock"]);
    let victim = Removed(docker_run(
        &[
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            "-v",
            &format!("{}:/c:ro", client.display()),
        ],
        "sleep 600",
    ));
    let vol = format!("{}:/t:ro", dir.display());
    let phases: [(&str, &[&str], &str); 3] = [
        ("AF_INET io_uring", &["--security-opt", "seccomp=unconfined"], "/t/uring_flood inet 6"),
        (
            "AF_UNIX io_uring",
            &["--security-opt", "seccomp=unconfined"],
            "/t/uring_flood /nonexistent/x.sock 6",
        ),
        ("audit user messages", &[], "python3 /t/audit_user_flood.py 6"),
    ];
    for (name, opts, script) in phases {
        let records = counter(&d, "records");
        let seen = |d: &Daemon| {
            d.findings().iter().filter(|f| f["container"]["id"] == victim.0.as_str()).count()
        };
        let (found_before, lost_before) = (seen(&d), lost_events(&d).len());
        let mut args: Vec<&str> = vec!["-v", &vol];
        args.extend_from_slice(opts);
        let flooder = docker_run(&args, script);
        std::thread::sleep(Duration::from_millis(1500));
        for _ in 0..5 {
            let out = run("docker", &["exec", &victim.0, "/c", "/var/run/docker.sock"]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
            std::thread::sleep(Duration::from_millis(300));
        }
        let out = run("docker", &["wait", &flooder]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "{name}: the flood ran");
        let said = String::from_utf8_lossy(&run("docker", &["logs", &flooder]).stdout).into_owned();
        run("docker", &["rm", "-f", &flooder]);
        // Every connect is reported, or the loss is.
        let t0 = std::time::Instant::now();
        let (found, lost) = loop {
            let found = seen(&d) - found_before;
            let lost: Vec<_> = lost_events(&d).into_iter().skip(lost_before).collect();
            if found == 5 || (!lost.is_empty() && t0.elapsed() > Duration::from_secs(5)) {
                break (found, lost);
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "{name}: {found} of 5 connects reported and no records_lost; log:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let made = counter(&d, "records") - records;
        eprintln!(
            "flood ({name}): {} | sockwatch read {made} records | {found} of 5 connects reported | records_lost: {}",
            said.trim(),
            lost.iter().map(|h| h["details"].to_string()).collect::<Vec<_>>().join("; ")
        );
        for h in &lost {
            let counts = &h["details"];
            assert!(
                counts["lost"].as_u64().or(counts["overflows"].as_u64()).is_some_and(|n| n > 0),
                "records_lost says how many: {h:#}"
            );
        }
        if name == "AF_INET io_uring" {
            let n: u64 = said.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap();
            assert!(n > 10_000, "the flood made {n} connects");
            assert!(made < 1_000, "{made} records for {n} AF_INET io_uring connects");
            assert_eq!(found, 5, "nothing lost without records");
        }
    }
    drop(victim);
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
    t.end();
}

fn lost_events(d: &Daemon) -> Vec<serde_json::Value> {
    records_in(&d.findings).into_iter().filter(|r| r["event"] == "records_lost").collect()
}
