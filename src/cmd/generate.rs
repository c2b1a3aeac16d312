//! `sockwatch generate` (hidden): the man pages and shell completions, made from
//! the same clap definitions as `--help`, so the three cannot drift apart.
//!
//! A page is a hand-written roff template under `man/src/` whose marker lines
//! (`@TITLE@`, `@SYNOPSIS@`, ...) are replaced by text generated here. The pages
//! in `man/` are checked in; `tests/man.rs` fails when they differ from what this
//! produces, and `sockwatch generate man --out-dir man` brings them up to date.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_mangen::Man;
use roff::{Roff, bold, italic, roman};

use crate::cli::{Cli, GenerateArgs, Generated};
use crate::config::KEYS;

use crate::error::{Context, Error};

const MAN8_TEMPLATE: &str = include_str!("../../man/src/sockwatch.8.in");
const MAN5_TEMPLATE: &str = include_str!("../../man/src/sockwatch.toml.5.in");

/// The pages `generate man` writes, by file name.
pub fn pages() -> Vec<(&'static str, String)> {
    vec![("sockwatch.8", man8()), ("sockwatch.toml.5", man5())]
}

pub fn main(args: &GenerateArgs) -> Result<ExitCode, Error> {
    let mut cmd = Cli::command();
    let text = match args.what {
        Generated::Man => {
            let Some(dir) = &args.out_dir else {
                // clap requires it (`required_if_eq`); this keeps the type honest.
                return Err(Error::usage("`generate man` writes two pages: give --out-dir DIR"));
            };
            for (name, text) in pages() {
                let path = dir.join(name);
                std::fs::write(&path, text).context(format!("cannot write {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            return Ok(ExitCode::SUCCESS);
        }
        Generated::Bash => completion(clap_complete::Shell::Bash, &mut cmd),
        Generated::Zsh => completion(clap_complete::Shell::Zsh, &mut cmd),
        Generated::Fish => completion(clap_complete::Shell::Fish, &mut cmd),
    };
    match &args.out_dir {
        Some(dir) => {
            let path = dir.join(completion_file(args.what));
            std::fs::write(&path, text).context(format!("cannot write {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        None => std::io::stdout().write_all(&text).context("cannot write to stdout")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The name each shell looks for in its completion directory.
fn completion_file(what: Generated) -> &'static str {
    match what {
        Generated::Bash => "sockwatch",
        Generated::Zsh => "_sockwatch",
        Generated::Fish => "sockwatch.fish",
        Generated::Man => unreachable!("man pages are not completions"),
    }
}

/// A completion script for what a user may type: clap_complete offers hidden
/// subcommands too, so they are left out of the command it is given.
fn completion(shell: clap_complete::Shell, cmd: &mut clap::Command) -> Vec<u8> {
    let mut shown = clap::Command::new("sockwatch").version(env!("CARGO_PKG_VERSION"));
    for a in cmd.get_arguments() {
        shown = shown.arg(a.clone());
    }
    for s in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        shown = shown.subcommand(s.clone());
    }
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut shown, "sockwatch", &mut out);
    out
}

/// The finished roff of one section, from clap_mangen.
fn render(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    f(&mut out).expect("rendering into memory cannot fail");
    String::from_utf8(out).expect("clap_mangen writes UTF-8")
}

/// The page's preamble: clap_mangen's string definitions (its option text uses
/// them) and a `.TH` line. clap_mangen's own `.TH` drops an empty date argument,
/// which shifts the source and manual into the wrong places, so it is written
/// here. The date is left empty so that a build is reproducible.
fn title(cmd: &clap::Command, name: &str, section: &str, manual: &str) -> String {
    let preamble = render(|w| Man::new(cmd.clone()).render_title(w));
    let mut out: String =
        preamble.lines().filter(|l| !l.starts_with(".TH")).map(|l| format!("{l}\n")).collect();
    out.push_str(&format!(
        ".TH {name} {section} \"\" \"sockwatch {}\" \"{manual}\"\n",
        env!("CARGO_PKG_VERSION")
    ));
    out
}

/// The options of `cmd` as a roff `.TP` list, without clap_mangen's own
/// `.SH OPTIONS` heading, so that each subcommand's list sits under its own `.SS`.
/// A subcommand's list leaves out the global options and `--help`, which the
/// GLOBAL OPTIONS section has once.
fn options(cmd: &clap::Command, is_sub: bool) -> String {
    let shown = if is_sub {
        let name: &'static str = cmd.get_name().to_owned().leak();
        let mut own = clap::Command::new(name).disable_help_flag(true);
        for a in cmd.get_arguments().filter(|a| !a.is_global_set() && a.get_id() != "help") {
            own = own.arg(a.clone());
        }
        own
    } else {
        cmd.clone()
    };
    let text = render(|w| Man::new(shown).render_options_section(w));
    text.lines().filter(|l| !l.starts_with(".SH")).map(|l| format!("{l}\n")).collect()
}

/// The subcommands a reader should see: not hidden ones, not clap's `help`.
fn visible(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

fn fill(template: &str, markers: &[(&str, String)]) -> String {
    let mut out = String::new();
    for line in template.lines() {
        match markers.iter().find(|(m, _)| *m == line) {
            Some((_, text)) => out.push_str(text),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if let Some(left) = out.lines().find(|l| l.starts_with('@') && l.ends_with('@')) {
        panic!("a marker in a man page template has no generator: {left}");
    }
    out
}

/// sockwatch(8).
pub fn man8() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let mut commands = String::new();
    for (path, sub) in leaves(&cmd) {
        let mut r = Roff::new();
        r.control("SS", [format!("sockwatch {} [OPTIONS]", usage_tail(&path, sub)).as_str()]);
        paragraphs(
            &mut r,
            sub.get_long_about().or(sub.get_about()).map(|s| s.to_string()).unwrap_or_default(),
        );
        commands.push_str(&r.to_roff());
        commands.push_str(&options(sub, true));
    }
    fill(
        MAN8_TEMPLATE,
        &[
            ("@TITLE@", title(&cmd, "SOCKWATCH", "8", "System Administration")),
            ("@SYNOPSIS@", synopsis(&cmd)),
            ("@GLOBAL_OPTIONS@", options(&cmd, false)),
            ("@COMMANDS@", commands),
            ("@HEALTH_EVENTS@", health_events()),
        ],
    )
}

/// Every health event with what it means: generated, so none goes unlisted.
fn health_events() -> String {
    let mut r = Roff::new();
    for ev in crate::core::health::Event::ALL {
        r.control("TP", [] as [&str; 0]);
        r.text([bold(ev.name())]);
        r.text([roman(ev.about())]);
    }
    r.to_roff()
}

/// The commands a reader runs, each with its path of names: a subcommand
/// that has subcommands of its own (`rules`) gives those (`rules install`, ...)
/// instead of itself.
fn leaves(cmd: &clap::Command) -> Vec<(String, &clap::Command)> {
    let mut out = Vec::new();
    for sub in visible(cmd) {
        if sub.has_subcommands() {
            for (path, leaf) in leaves(sub) {
                out.push((format!("{} {path}", sub.get_name()), leaf));
            }
        } else {
            out.push((sub.get_name().to_string(), sub));
        }
    }
    out
}

/// `rules install`, `scan [FILE]...`: the subcommand's path of names and its
/// positional arguments, optional ones in brackets, repeatable ones with dots.
fn usage_tail(path: &str, sub: &clap::Command) -> String {
    let mut s = path.to_string();
    for a in sub.get_positionals() {
        let mut name = a
            .get_value_names()
            .and_then(|v| v.first())
            .map(|v| v.to_string())
            .unwrap_or_else(|| a.get_id().to_string().to_uppercase());
        if !a.is_required_set() {
            name = format!("[{name}]");
        }
        if a.get_num_args().is_some_and(|n| n.max_values() > 1)
            || matches!(a.get_action(), clap::ArgAction::Append)
        {
            name.push_str("...");
        }
        s.push(' ');
        s.push_str(&name);
    }
    s
}

fn synopsis(cmd: &clap::Command) -> String {
    let mut r = Roff::new();
    for (path, sub) in leaves(cmd) {
        r.text([
            bold("sockwatch"),
            roman(" ["),
            italic("GLOBAL OPTIONS"),
            roman("] "),
            bold(usage_tail(&path, sub)),
            roman(" ["),
            italic("OPTIONS"),
            roman("]"),
        ]);
        r.control("br", [] as [&str; 0]);
    }
    r.to_roff()
}

/// Help text as roff paragraphs: clap keeps the blank lines between them.
fn paragraphs(r: &mut Roff, text: String) {
    for (i, p) in text.split("\n\n").enumerate() {
        if i > 0 {
            r.control("PP", [] as [&str; 0]);
        }
        r.text([roman(p.replace('\n', " "))]);
    }
}

/// sockwatch.toml(5).
pub fn man5() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let mut keys = Roff::new();
    for k in KEYS {
        let owner = k.command.map_or(&cmd, |path| crate::config::subcommand(&cmd, path));
        let arg = owner.get_arguments().find(|a| a.get_id() == k.option).unwrap_or_else(|| {
            panic!("config key {}: no option {} in {}", k.key, k.option, owner.get_name())
        });
        let long = arg.get_long().expect("every mirrored option has a long name");
        let help =
            arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
        keys.control("TP", [] as [&str; 0]);
        keys.text([bold(k.key), roman(" = "), italic(k.value.as_str())]);
        let scope = k.scope;
        if long == format!("no-{}", k.key.replace('_', "-")) {
            // A key whose option is its negation (`--no-namespace-fallback`).
            keys.text([roman(format!("false is --{long} (of {scope}): "))]);
        } else {
            keys.text([roman(format!("As --{long} (of {scope}): "))]);
        }
        paragraphs(&mut keys, help);
    }
    fill(
        MAN5_TEMPLATE,
        &[
            ("@TITLE@", title(&cmd, "SOCKWATCH.TOML", "5", "File Formats")),
            ("@KEYS@", keys.to_roff()),
        ],
    )
}
