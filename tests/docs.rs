//! The user's documents keep up with the binary: every option of every command
//! is in README's Usage, every configuration key in its Configuration section,
//! and every health event in its Health events section. The man pages are
//! generated from the same definitions (tests/man.rs holds them to it), so only
//! the hand-written README can drift; this test makes a drift a failure, with the
//! missing names listed.

use clap::CommandFactory;
use sockwatch::cli::Cli;
use sockwatch::core::health::Event;

const README: &str = include_str!("../README.md");
const MAN8: &str = include_str!("../man/sockwatch.8");

/// The text of a `## ` section of README, up to the next one.
fn section(title: &str) -> &'static str {
    let head = format!("\n## {title}\n");
    let start = README.find(&head).unwrap_or_else(|| panic!("README has no section {title:?}"))
        + head.len();
    let len = README[start..].find("\n## ").unwrap_or(README.len() - start);
    &README[start..start + len]
}

/// Every long option a user can type: each visible command's, recursively,
/// with the command path it belongs to.
fn options() -> Vec<(String, String)> {
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        for a in cmd.get_arguments() {
            if a.is_hide_set() {
                continue;
            }
            if let Some(long) = a.get_long() {
                if long != "help" && long != "version" {
                    out.push((path.to_string(), format!("--{long}")));
                }
            }
        }
        for sub in cmd.get_subcommands() {
            if !sub.is_hide_set() && sub.get_name() != "help" {
                walk(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
    }
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, "sockwatch", &mut out);
    out
}

fn commands() -> Vec<String> {
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands() {
            if !sub.is_hide_set() && sub.get_name() != "help" {
                let p = format!("{path} {}", sub.get_name());
                out.push(p.clone());
                walk(sub, &p, out);
            }
        }
    }
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, "sockwatch", &mut out);
    out
}

#[test]
fn usage_names_every_command_and_option() {
    let usage = section("Usage");
    let missing: Vec<String> = commands().into_iter().filter(|c| !usage.contains(c)).collect();
    assert!(missing.is_empty(), "README's Usage does not show these commands: {missing:?}");
    let missing: Vec<String> = options()
        .into_iter()
        .filter(|(_, o)| !mentions(usage, o))
        .map(|(c, o)| format!("{c} {o}"))
        .collect();
    assert!(missing.is_empty(), "README's Usage does not show these options: {missing:?}");
}

#[test]
fn configuration_names_every_key() {
    let conf = section("Configuration");
    let missing: Vec<String> = sockwatch::config::KEYS
        .into_iter()
        .map(|k| k.key.to_string())
        .filter(|k| !conf.contains(&format!("`{k}`")))
        .collect();
    assert!(missing.is_empty(), "README's Configuration does not name these keys: {missing:?}");
}

#[test]
fn health_events_are_all_documented() {
    let health = section("Health events");
    let missing: Vec<&str> = Event::ALL
        .iter()
        .map(|e| e.name())
        .filter(|n| !health.contains(&format!("`{n}`")))
        .collect();
    assert!(missing.is_empty(), "README's Health events does not name: {missing:?}");
    let missing: Vec<&str> = Event::ALL
        .iter()
        .map(|e| e.name())
        .filter(|n| !MAN8.contains(&format!("\\fB{n}\\fR")))
        .collect();
    assert!(missing.is_empty(), "sockwatch(8) does not name: {missing:?}");
}

/// Whether `text` has `word` as a whole word: `--rules` is not in `--rules-dir`.
fn mentions(text: &str, word: &str) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back().is_none_or(|c| !part(c));
        let after = text[i + word.len()..].chars().next().is_none_or(|c| !part(c));
        before && after
    })
}

/// The configuration an operator copies from the documents: every ```toml
/// block of README and of the examples' READMEs (another tool's TOML says
/// whose, as in ```toml vector), and every commented `key = value` line
/// an example configuration tells them to put in sockwatch's file, is one
/// sockwatch takes.
#[test]
fn configuration_shown_in_the_documents_is_valid() {
    let mut docs = vec![("README.md".to_string(), README.to_string())];
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/examples");
    for dir in std::fs::read_dir(examples).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            docs.push((p.display().to_string(), std::fs::read_to_string(&p).unwrap()));
        }
    }
    let mut blocks = Vec::new();
    for (name, text) in &docs {
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            if l.trim_end() == "```toml" {
                let block: Vec<&str> =
                    lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
                blocks.push((name.clone(), block.join("\n")));
            } else if let Some(kv) = l.trim_start().strip_prefix('#').map(str::trim) {
                // `#     outputs = ["jsonl:...", "syslog:..."]` in an rsyslog drop-in.
                if kv.starts_with("outputs = ") || kv.starts_with("output = ") {
                    blocks.push((name.clone(), kv.to_string()));
                }
            }
        }
    }
    assert!(blocks.len() >= 3, "found only {blocks:?}");
    for (name, block) in blocks {
        if let Err(e) = sockwatch::config::parse(std::path::Path::new(&name), &block) {
            panic!("{name}: configuration shown there is refused: {e}\n{block}");
        }
    }
}

#[test]
fn a_name_is_found_only_whole() {
    assert!(mentions("[--rules] [--rules-dir DIR]", "--rules"));
    assert!(!mentions("[--rules-dir DIR]", "--rules"));
    assert!(!mentions("[--no-rules]", "--rules"));
    assert!(mentions("`--no-rules`", "--no-rules"));
    assert!(!mentions("sockwatch rules install", "sockwatch rules status"));
}
