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
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "sockwatch: error: {}:3: key `dedup_window`: invalid type",
            cfg.display()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // A config file asked for by name must exist.
    let out = run(BIN, &["--config", dir.join("absent.toml").to_str().unwrap(), "rules", "print"]);
    assert!(!out.status.success());
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
