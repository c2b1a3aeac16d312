//! The man pages and shell completions: the checked-in pages are exactly what
//! `sockwatch generate man` makes from the clap definitions and the templates in
//! man/src/, man(1) renders them without a warning, and the completion scripts
//! know every subcommand and are valid in their shell.

mod common;

use std::path::Path;

use common::*;

const MAN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/man");

#[test]
fn the_checked_in_pages_are_what_the_generator_makes() {
    let dir = tempdir("man");
    let out = run(BIN, &["generate", "man", "--out-dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for page in ["sockwatch.8", "sockwatch.toml.5"] {
        let made = std::fs::read_to_string(dir.join(page)).unwrap();
        let checked_in = std::fs::read_to_string(Path::new(MAN_DIR).join(page)).unwrap();
        assert!(
            made == checked_in,
            "man/{page} is not what the generator makes now; run `cargo run -- generate man --out-dir man` and commit the result"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_pages_document_every_subcommand_option_and_config_key() {
    let page = std::fs::read_to_string(Path::new(MAN_DIR).join("sockwatch.8")).unwrap();
    let help = String::from_utf8(run(BIN, &["--help"]).stdout).unwrap();
    for sub in
        ["run", "rules install", "rules remove", "rules print", "rules status", "doctor", "scan"]
    {
        let top = sub.split(' ').next().unwrap();
        assert!(help.contains(&format!("  {top} ")), "--help lists {top}");
        assert!(
            page.contains(&format!(".SS \"sockwatch {sub} "))
                || page.contains(&format!(".SS sockwatch {sub} ")),
            "sockwatch.8 has a section for {sub}"
        );
        let mut argv: Vec<&str> = sub.split(' ').collect();
        argv.push("--help");
        let sub_help = String::from_utf8(run(BIN, &argv).stdout).unwrap();
        for long in sub_help.split_whitespace().filter(|w| w.starts_with("--") && w.len() > 2) {
            let long = long.trim_end_matches([',', '.', ':', ')']);
            // roff writes a dash in an option name as \-.
            assert!(
                page.contains(&long.replace('-', "\\-")),
                "sockwatch.8 documents {long} of {sub}"
            );
        }
    }
    let page5 = std::fs::read_to_string(Path::new(MAN_DIR).join("sockwatch.toml.5")).unwrap();
    for key in sockwatch::config::KEYS {
        assert!(
            page5.contains(&format!("\\fB{}\\fR", key.key.replace('-', "\\-"))),
            "sockwatch.toml.5 documents {}",
            key.key
        );
    }
}

#[test]
fn man_renders_the_pages_without_a_warning() {
    if !have("/usr/bin/man", "man --warnings") {
        return;
    }
    for page in ["sockwatch.8", "sockwatch.toml.5"] {
        let out = std::process::Command::new("man")
            .args(["--warnings", "-l"])
            .arg(Path::new(MAN_DIR).join(page))
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0")
            .output()
            .unwrap();
        assert!(out.status.success(), "man {page}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(
            out.stderr.is_empty(),
            "man --warnings {page}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("SOCKWATCH"),
            "man {page} rendered nothing"
        );
    }
}

#[test]
fn completions_know_the_subcommands_and_parse_in_their_shell() {
    for (shell, checker) in
        [("bash", "/bin/bash"), ("zsh", "/usr/bin/zsh"), ("fish", "/usr/bin/fish")]
    {
        let out = run(BIN, &["generate", shell]);
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["run", "rules", "install", "status", "doctor", "dedup-window", "rules-dir"] {
            assert!(script.contains(word), "the {shell} completion knows {word}");
        }
        assert!(
            !script.contains("generate"),
            "the {shell} completion offers the hidden generate command"
        );
        if !have(checker, &format!("{shell} -n on the completion script")) {
            continue;
        }
        let dir = tempdir(&format!("completion-{shell}"));
        let file = dir.join("script");
        std::fs::write(&file, &script).unwrap();
        let check = run(checker, &["-n", file.to_str().unwrap()]);
        assert!(check.status.success(), "{shell} -n: {}", String::from_utf8_lossy(&check.stderr));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
