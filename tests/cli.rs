//! The command line and the configuration file, without root.

mod common;

use common::*;

#[test]
fn a_config_error_names_file_line_and_key_and_fails() {
    let dir = std::env::temp_dir().join(format!("sockwatch-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "outputs = [\"stdout\"]\n\ndedup_window = \"soon\"\n").unwrap();
    let out = run(BIN, &["--config", cfg.to_str().unwrap(), "rules", "print"]);
    assert_eq!(out.status.code(), Some(2), "a configuration error is a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "sockwatch: error: {}:3: key `dedup_window`: invalid type: string \"soon\", expected a number of seconds from 0 to 86400",
            cfg.display()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // A config file asked for by name must exist.
    let out = run(BIN, &["--config", dir.join("absent.toml").to_str().unwrap(), "rules", "print"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the configuration"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_config_file_sets_sockets_and_the_command_line_wins() {
    let dir = std::env::temp_dir().join(format!("sockwatch-cli2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("ok.toml");
    std::fs::write(&cfg, "sockets = [\"/run/containerd/containerd.sock\"]\n").unwrap();
    let from_file =
        String::from_utf8(run(BIN, &["--config", cfg.to_str().unwrap(), "rules", "print"]).stdout)
            .unwrap();
    assert!(
        from_file.contains("path=/run/containerd/containerd.sock")
            && !from_file.contains("docker.sock"),
        "{from_file}"
    );
    let cli = String::from_utf8(
        run(
            BIN,
            &[
                "--config",
                cfg.to_str().unwrap(),
                "rules",
                "print",
                "--socket",
                "/run/podman/podman.sock",
            ],
        )
        .stdout,
    )
    .unwrap();
    assert!(cli.contains("path=/run/podman/podman.sock") && !cli.contains("containerd"), "{cli}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_shipped_example_config_parses() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/sockwatch.toml");
    let out = run(BIN, &["--config", example, "rules", "print"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_packaged_rules_file_is_what_rules_print_writes() {
    // The package installs packaging/50-sockwatch.rules beside the packaged
    // configuration; `rules print` with that configuration must say the same.
    let root = env!("CARGO_MANIFEST_DIR");
    let out =
        run(BIN, &["--config", &format!("{root}/packaging/sockwatch.toml"), "rules", "print"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shipped = std::fs::read_to_string(format!("{root}/packaging/50-sockwatch.rules")).unwrap();
    assert!(
        out.stdout == shipped.as_bytes(),
        "packaging/50-sockwatch.rules differs from `sockwatch --config packaging/sockwatch.toml rules print`; regenerate it with that command"
    );
}

#[test]
fn the_packaged_config_shows_every_key() {
    // sockwatch.toml(5) says the packaged file shows every key with its default.
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/sockwatch.toml"))
            .unwrap();
    for k in sockwatch::config::KEYS {
        let shown =
            text.lines().any(|l| l.trim_start_matches("# ").starts_with(&format!("{} = ", k.key)));
        assert!(shown, "packaging/sockwatch.toml shows {}", k.key);
    }
}

fn code_and_stderr(args: &[&str]) -> (Option<i32>, String) {
    let out = run(BIN, args);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_usage_error_exits_2() {
    let dir = tempdir("cli-usage");
    let d = dir.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["rules", "list"], "unrecognized subcommand 'list'"),
        (&["rules"], "Usage: sockwatch rules"),
        (&["rules", "status", "--all"], "unexpected argument '--all'"),
        (&["rules", "print", "--all"], "unexpected argument '--all'"),
        (&["rules", "install", "--all"], "unexpected argument '--all'"),
        (&["rules", "print", "--rules-dir", d], "unexpected argument '--rules-dir'"),
        (&["rules", "status", "--no-persist"], "unexpected argument '--no-persist'"),
        (
            &["rules", "remove", "--all", "--socket", "/run/docker.sock"],
            "'--all' cannot be used with '--socket <PATH>'",
        ),
        (&["generate", "man"], "--out-dir <DIR>"),
        (&["run", "--socket", "docker.sock"], "\"docker.sock\" is not an absolute path"),
        (&["rules", "print", "--socket", "./x.sock"], "\"./x.sock\" is not an absolute path"),
        (&["rules", "install", "--socket", "x.sock"], "is not an absolute path"),
        (&["doctor", "--socket", "x.sock"], "is not an absolute path"),
        (&["scan", "--socket", "x.sock", "/dev/null"], "is not an absolute path"),
        (&["run", "--dedup-window", "90000"], "not a number of seconds from 0 to 86400"),
        (&["doctor", "--output", "jsonl:relative"], "--output"),
    ];
    for (args, want) in cases {
        let mut argv = vec!["--config", "/dev/null"];
        argv.extend_from_slice(args);
        let (code, err) = code_and_stderr(&argv);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // A socket that resolves to a name that is not UTF-8 cannot be watched.
    use std::os::unix::ffi::OsStrExt;
    let target = dir.join(std::ffi::OsStr::from_bytes(b"\xff.sock"));
    std::fs::write(&target, b"").unwrap();
    let link = dir.join("link.sock");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (code, err) = code_and_stderr(&[
        "--config",
        "/dev/null",
        "rules",
        "status",
        "--socket",
        link.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not UTF-8"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_configuration_error_exits_2_and_says_what_is_wrong() {
    let dir = tempdir("cli-config");
    let cfg = dir.join("c.toml");
    let cases: &[(&str, &str)] = &[
        ("sockets = []\n", "key `sockets`: an empty list: no socket would be watched"),
        ("outputs = []\n", "key `outputs`: an empty list: findings would go nowhere"),
        ("socket_owners = []\n", "key `socket_owners`: an empty list"),
        ("dedup_window = \"x\"\n", "expected a number of seconds from 0 to 86400"),
        ("no_rules = 1\n", "expected true or false"),
        ("colour = 1\n", "unknown field `colour`"),
        ("not toml at all\n", ":1:"),
    ];
    for (text, want) in cases {
        std::fs::write(&cfg, text).unwrap();
        for command in [&["doctor"][..], &["rules", "print"], &["scan", "/dev/null"]] {
            let mut argv = vec!["--config", cfg.to_str().unwrap()];
            argv.extend_from_slice(command);
            let (code, err) = code_and_stderr(&argv);
            assert_eq!(code, Some(2), "{text:?} {command:?}: {err}");
            assert!(err.starts_with("sockwatch: error: ") && err.contains(want), "{text:?}: {err}");
        }
    }
    // An empty allowlist is fine.
    std::fs::write(&cfg, "allow = []\n").unwrap();
    let (code, err) = code_and_stderr(&["--config", cfg.to_str().unwrap(), "rules", "print"]);
    assert_eq!(code, Some(0), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rules_subcommands_show_only_their_own_options() {
    let help = |sub: &str| {
        let out = run(BIN, &["rules", sub, "--help"]);
        assert!(out.status.success(), "rules {sub} --help");
        String::from_utf8(out.stdout).unwrap()
    };
    let has = |text: &str, opt: &str| text.lines().any(|l| l.trim_start().starts_with(opt));
    for (sub, own, not) in [
        ("install", &["--socket", "--rules-dir", "--no-persist", "--persist"][..], &["--all"][..]),
        ("remove", &["--socket", "--rules-dir", "--no-persist", "--persist", "--all"], &[]),
        ("print", &["--socket"], &["--all", "--rules-dir", "--no-persist", "--persist"]),
        ("status", &["--socket"], &["--all", "--rules-dir", "--no-persist", "--persist"]),
    ] {
        let text = help(sub);
        for o in own {
            assert!(has(&text, o), "rules {sub} --help shows {o}:\n{text}");
        }
        for o in not {
            assert!(!has(&text, o), "rules {sub} --help does not show {o}:\n{text}");
        }
    }
    let out = run(BIN, &["rules", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["install", "remove", "print", "status"] {
        assert!(text.lines().any(|l| l.trim_start().starts_with(sub)), "{text}");
    }
}

#[test]
fn a_socket_the_rules_file_cannot_name_is_refused_where_the_file_is_made() {
    let dir = tempdir("cli-space");
    let spaced = dir.join("a b").join("docker.sock");
    let s = spaced.to_str().unwrap();
    for args in [
        &["rules", "print", "--socket", s][..],
        &["rules", "install", "--rules-dir", dir.to_str().unwrap(), "--socket", s],
    ] {
        let mut argv = vec!["--config", "/dev/null"];
        argv.extend_from_slice(args);
        let (code, err) = code_and_stderr(&argv);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("socket {s:?} cannot be written in an audit rules file"))
                && err.contains("whitespace")
                && err.contains("--no-persist"),
            "{args:?}: {err}"
        );
    }
    // Refused before anything was done.
    assert!(!dir.join("50-sockwatch.rules").exists());
    // The configuration's sockets are checked the same way.
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, "sockets = [\"/run/tab\\there.sock\"]\n").unwrap();
    let (code, err) = code_and_stderr(&["--config", cfg.to_str().unwrap(), "rules", "print"]);
    assert_eq!(code, Some(2), "{err}");
    // A quote is taken by auditctl as part of the path: it is written as it is.
    let quoted = "/run/q\"uote.sock";
    let out = run(BIN, &["--config", "/dev/null", "rules", "print", "--socket", quoted]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("-F path={quoted} ")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn doctor_names_each_problem_and_exits_1() {
    let dir = tempdir("cli-doctor");
    let d = dir.to_str().unwrap();
    std::fs::create_dir_all(dir.join("not-a.sock")).unwrap();
    std::fs::create_dir_all(dir.join("present")).unwrap();
    std::fs::write(dir.join("file"), "").unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "sockets = [\"{d}/not-a.sock\", \"{d}/nodir/x.sock\", \"{d}/present/later.sock\"]\n\
             outputs = [\"jsonl:{d}/missing/f.jsonl\", \"jsonl:{d}/file/f.jsonl\", \"jsonl:{d}/present\", \"jsonl:{d}/present/ok.jsonl\"]\n"
        ),
    )
    .unwrap();
    let out = run(BIN, &["--config", cfg.to_str().unwrap(), "doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = |start: String| {
        text.lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_else(|| panic!("no line {start:?}:\n{text}"))
            .to_string()
    };
    let problems = [
        (format!("socket     {d}/not-a.sock: PROBLEM: "), "it is a directory, not a socket"),
        (format!("socket     {d}/nodir/x.sock: PROBLEM: "), "neither it nor its directory exists"),
        (
            format!("output     jsonl:{d}/missing/f.jsonl: PROBLEM: "),
            "its directory {d}/missing does not exist",
        ),
        (
            format!("output     jsonl:{d}/file/f.jsonl: PROBLEM: "),
            "is a regular file, not a directory",
        ),
        (format!("output     jsonl:{d}/present: PROBLEM: "), "it is a directory, not a file"),
    ];
    for (start, what) in &problems {
        let l = line(start.clone());
        assert!(l.contains(&what.replace("{d}", d)), "{l}");
    }
    // What works is not a problem: a socket whose directory exists waits.
    assert!(!line(format!("socket     {d}/present/later.sock: ")).contains("PROBLEM"));
    assert!(!line(format!("output     jsonl:{d}/present/ok.jsonl: ")).contains("PROBLEM"));
    let result = line("result     ".into());
    assert!(result.starts_with("result     DETECTION CANNOT WORK: "), "{result}");
    for subject in [
        format!("socket {d}/not-a.sock: "),
        format!("socket {d}/nodir/x.sock: "),
        format!("output jsonl:{d}/missing/f.jsonl: "),
    ] {
        assert!(result.contains(&subject), "{result}");
    }
    assert!(!text.contains("detection can work"), "{text}");
    // The command line's sockets are checked as the configuration's.
    let out =
        run(BIN, &["--config", "/dev/null", "doctor", "--socket", &format!("{d}/nodir/y.sock")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!(
        "socket     {d}/nodir/y.sock: PROBLEM: neither it nor its directory exists"
    )));
    std::fs::remove_dir_all(&dir).unwrap();
}
