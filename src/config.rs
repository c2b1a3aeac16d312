//! The configuration file (/etc/sockwatch/sockwatch.toml, or `--config PATH`):
//! every `run` option, the global `log_level`, `rules`' `rules_dir` and
//! `no_persist`, the sockets, plus the allowlist. Parsing is strict: an unknown
//! key, a wrong type or a bad value is an error naming the file, the line and the
//! key, never a silent fallback. The command line wins over the file, and the
//! file over the defaults (`RunOptions::defaults`).
//!
//! The options are defined once, in cli.rs (`RunOptions`, `GlobalOptions`,
//! `RulesOptions`): serde reads each field under its name, with the same value
//! types clap parses (the `Deserialize` impls below take exactly the command
//! line's values), and sockwatch.toml(5) documents each key with its option's
//! help (`KEYS`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::cli::{AuditMode, DedupWindow, GlobalOptions, RulesOptions, RunOptions};
use crate::core::allow::AllowRule;
use crate::core::respond::Mode as RespondMode;
use crate::error::Error;
use crate::io::log::Level;
use crate::io::output::Format;
use crate::io::output::OutputSpec;
use crate::io::output::jsonl::Fsync;
use crate::io::output::syslog::{Facility, Format as SyslogFormat};

pub const DEFAULT_PATH: &str = "/etc/sockwatch/sockwatch.toml";

// The file's keys are the fields of the `*Options` structs (cli.rs), which are
// command-line options too, and of the two structs below, which are not. Each is
// read from the whole file; `parse` first rejects a key none of them takes.

/// `sockets`: every command's `--socket`, whose text documents it; absolute
/// paths only, as on the command line.
#[derive(Debug, Default, Deserialize)]
struct Sockets {
    #[serde(default, deserialize_with = "sockets_list")]
    sockets: Option<Vec<AbsPath>>,
}

/// The key sets that sockwatch.toml(5) documents, each with the command whose
/// option documents its keys (`None`: a global option; a nested subcommand's
/// path is its names with spaces) and the commands the keys apply to, in the
/// manual's order.
fn documented_keys() -> [(Option<&'static str>, &'static str, &'static [&'static str]); 4] {
    [
        (Some("run"), "every command", fields::<Sockets>()),
        (Some("run"), "sockwatch run", fields::<RunOptions>()),
        (None, "every command", fields::<GlobalOptions>()),
        (Some("rules install"), "sockwatch rules install and remove", fields::<RulesOptions>()),
    ]
}

/// The subcommand at `path` ("rules install"), for the manual.
pub fn subcommand<'a>(cli: &'a clap::Command, path: &str) -> &'a clap::Command {
    path.split(' ').fold(cli, |c, name| {
        c.find_subcommand(name).unwrap_or_else(|| panic!("no subcommand {path}"))
    })
}

/// Every key the parser takes.
fn known_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> =
        documented_keys().into_iter().flat_map(|(_, _, keys)| keys.iter().copied()).collect();
    keys.extend(fields::<allowlist::Allowlist>());
    keys
}

/// The keys a struct's derived `Deserialize` takes, in the order it declares
/// them: serde hands them to `deserialize_struct`, where this probe keeps them.
fn fields<T: de::DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// Every key of the file (but `allow`) and the command-line option it mirrors,
/// for sockwatch.toml(5): the key's text there is that option's help, so the two
/// cannot drift. It is derived from the definitions: `for k in KEYS`.
pub struct KeyDoc {
    pub key: &'static str,
    /// The TOML value, as the manual shows it.
    pub value: String,
    /// The subcommand whose option this is (`None`: a global option), as its
    /// path of names ("rules install").
    pub command: Option<&'static str>,
    /// The commands the key applies to, in words ("sockwatch run").
    pub scope: &'static str,
    /// The option's clap id (the key: the field that both derive from).
    pub option: &'static str,
}

/// The documented keys, each with its option: iterate over it.
pub const KEYS: Keys = Keys;

pub struct Keys;

impl IntoIterator for Keys {
    type Item = KeyDoc;
    type IntoIter = std::vec::IntoIter<KeyDoc>;

    fn into_iter(self) -> Self::IntoIter {
        use clap::CommandFactory;
        let mut cli = crate::cli::Cli::command();
        cli.build();
        let mut docs = Vec::new();
        for (command, scope, keys) in documented_keys() {
            let owner = command.map_or(&cli, |path| subcommand(&cli, path));
            for &key in keys {
                let arg = owner.get_arguments().find(|a| a.get_id() == key).unwrap_or_else(|| {
                    panic!("config key {key}: no option {key} in {}", owner.get_name())
                });
                docs.push(KeyDoc { key, value: toml_value(arg), command, scope, option: key });
            }
        }
        docs.into_iter()
    }
}

/// How sockwatch.toml(5) shows an option's value in TOML: `true | false` for a
/// flag, an array for a repeatable option, the choices, a bare number, or a
/// quoted string.
fn toml_value(arg: &clap::Arg) -> String {
    let name = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
    let choices = arg.get_possible_values();
    if !arg.get_num_args().is_some_and(|n| n.takes_values()) {
        "true | false".into()
    } else if matches!(arg.get_action(), clap::ArgAction::Append) {
        format!("[\"{name}\", ...]")
    } else if !choices.is_empty() && !arg.is_hide_possible_values_set() {
        choices.iter().map(|c| format!("\"{}\"", c.get_name())).collect::<Vec<_>>().join(" | ")
    } else if arg.get_value_parser().type_id() == std::any::TypeId::of::<DedupWindow>() {
        // The one option whose value is a TOML number.
        name
    } else {
        format!("\"{name}\"")
    }
}

/// An absolute path, as the file must name a socket.
#[derive(Debug, Clone)]
struct AbsPath(PathBuf);

impl std::str::FromStr for AbsPath {
    type Err = String;
    fn from_str(s: &str) -> Result<AbsPath, String> {
        if s.starts_with('/') {
            Ok(AbsPath(PathBuf::from(s)))
        } else {
            Err(format!("{s:?} is not an absolute path"))
        }
    }
}

impl DedupWindow {
    pub fn new(seconds: f64) -> Result<DedupWindow, String> {
        if (0.0..=86_400.0).contains(&seconds) {
            Ok(DedupWindow(seconds))
        } else {
            Err(format!("{seconds} is not a number of seconds from 0 to 86400"))
        }
    }
}

impl std::str::FromStr for DedupWindow {
    type Err = String;
    fn from_str(s: &str) -> Result<DedupWindow, String> {
        DedupWindow::new(s.parse::<f64>().map_err(|e| e.to_string())?)
    }
}

// Every value is read by a visitor whose `expecting` says in words what the
// key takes: serde's message for a value of the wrong type is "invalid type:
// string "x", expected " and that text, and its defaults ("f64", "a sequence",
// "path string") mean nothing to the person editing the file.

impl<'de> Deserialize<'de> for DedupWindow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Seconds;
        impl Visitor<'_> for Seconds {
            type Value = DedupWindow;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of seconds from 0 to 86400 (a TOML number, not a string)")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DedupWindow, E> {
                DedupWindow::new(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DedupWindow, E> {
                DedupWindow::new(v as f64).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DedupWindow, E> {
                DedupWindow::new(v as f64).map_err(E::custom)
            }
        }
        d.deserialize_f64(Seconds)
    }
}

/// Reads a string value with `parse`, whose error says what is wrong with it;
/// a value of another type is refused with `expecting`. The error is made
/// inside the visitor, so toml places it on the value itself (an element's
/// line, in an array written over several lines).
fn parse_str<'de, D: Deserializer<'de>, T>(
    d: D,
    expecting: String,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct Parse<T>(String, fn(&str) -> Result<T, String>);
    impl<T> Visitor<'_> for Parse<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(&self.0)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            (self.1)(s).map_err(E::custom)
        }
    }
    d.deserialize_str(Parse(expecting, parse))
}

/// A choice by the name clap gives it, so that the file takes exactly the
/// command line's values.
fn value_enum<T: clap::ValueEnum>(s: &str) -> Result<T, String> {
    T::from_str(s, false).map_err(|_| format!("{s:?} is not {}", choices::<T>()))
}

/// `one of "a", "b", "c"`: the names of a choice's values.
fn choices<T: clap::ValueEnum>() -> String {
    let names: Vec<String> = T::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .map(|v| format!("\"{}\"", v.get_name()))
        .collect();
    format!("one of {}", names.join(", "))
}

macro_rules! deserialize_choice {
    ($($t:ty),+) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                parse_str(d, choices::<$t>(), value_enum::<$t>)
            }
        }
    )+};
}

deserialize_choice!(AuditMode, Level, SyslogFormat, Facility, Fsync, Format, RespondMode);

/// What an output may be, in words.
const OUTPUT_WORDS: &str =
    "\"stdout\", \"jsonl:PATH\", \"journald\", \"syslog\" or \"syslog:SOCKET\"";

impl<'de> Deserialize<'de> for OutputSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, format!("an output: {OUTPUT_WORDS}"), |s| s.parse())
    }
}

impl<'de> Deserialize<'de> for AbsPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, "an absolute path (a string starting with /)".into(), |s| s.parse())
    }
}

/// A list that may not be empty: an empty one would silently mean "nothing"
/// (no socket watched, no finding written), never what was meant; leaving the
/// key out gives the default instead, which `empty` says.
fn non_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    expecting: &str,
    empty: &'static str,
) -> Result<Option<Vec<T>>, D::Error> {
    list(d, expecting, Some(empty)).map(Some)
}

/// A list, refused when empty with the message `empty` (when it is `Some`).
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    expecting: &str,
    empty: Option<&'static str>,
) -> Result<Vec<T>, D::Error> {
    struct List<T>(String, Option<&'static str>, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for List<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(&self.0)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = seq.next_element()? {
                out.push(v);
            }
            match self.1 {
                Some(empty) if out.is_empty() => Err(de::Error::custom(empty)),
                _ => Ok(out),
            }
        }
    }
    d.deserialize_seq(List(expecting.to_string(), empty, std::marker::PhantomData))
}

/// `[[allow]]`: any number of entries, none included.
fn allow_entries<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    list(d, "[[allow]] tables (an array of tables)", None)
}

/// `outputs`: at least one.
pub(crate) fn outputs<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<OutputSpec>>, D::Error> {
    non_empty(
        d,
        &format!("a list of outputs, each {OUTPUT_WORDS}"),
        "an empty list: findings would go nowhere; name at least one output, or leave the key out for the default, [\"stdout\"]",
    )
}

/// `socket_owners`: at least one.
pub(crate) fn socket_owners<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    non_empty(
        d,
        "a list of executable names, such as [\"dockerd\", \"containerd\"]",
        "an empty list: every runtime restart would be reported as a replaced socket (SW-1002); name the programs that may re-create the sockets, or leave the key out for the default set",
    )
}

/// `sockets`: at least one.
fn sockets_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<AbsPath>>, D::Error> {
    non_empty(
        d,
        "a list of absolute socket paths, such as [\"/run/docker.sock\"]",
        "an empty list: no socket would be watched; name at least one socket, or leave the key out to watch every known runtime socket",
    )
}

/// A flag's key: `true` or `false`.
pub(crate) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct Flag;
    impl Visitor<'_> for Flag {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("true or false (unquoted)")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
    }
    d.deserialize_bool(Flag).map(Some)
}

/// A directory's key: its path, as a string.
pub(crate) fn directory<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    parse_str(d, "a directory's path (a string)".into(), |s| {
        if s.is_empty() { Err("an empty path names no directory".into()) } else { Ok(s.into()) }
    })
    .map(Some)
}

/// `metrics_file`: as `--metrics-file` takes it.
pub(crate) fn metrics_file<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    parse_str(d, "an absolute path ending in .prom (a string)".into(), crate::cli::prom_path)
        .map(Some)
}

/// The settings the file gave, validated.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Config {
    pub sockets: Option<Vec<PathBuf>>,
    pub global: GlobalOptions,
    pub run: RunOptions,
    pub rules: RulesOptions,
    pub allow: Vec<AllowRule>,
}

/// A configuration error, located for the person who has to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub key: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if let Some(k) = &self.key {
            write!(f, "key `{k}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Parses the text of the file at `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let err =
        |span: Option<std::ops::Range<usize>>, key: Option<&str>, message: String| ConfigError {
            file: path.to_path_buf(),
            line: span.map_or(1, |s| line_of(text, s.start)),
            key: key.map(str::to_string),
            message,
        };
    // The keys at the top.
    let top: BTreeMap<Spanned<String>, IgnoredAny> =
        toml::from_str(text).map_err(|e| located(path, text, e, false))?;
    let known = known_keys();
    let unknown = top
        .keys()
        .filter(|k| !known.contains(&k.get_ref().as_str()))
        .min_by_key(|k| k.span().start)
        .map(|k| {
            let expected: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            let message =
                format!("unknown field `{}`, expected one of {}", k.get_ref(), expected.join(", "));
            (k.span().start, err(Some(k.span()), Some(k.get_ref()), message))
        });
    // Each set of keys from the whole file; the first error in the file, an
    // unknown key included, is reported.
    let (global, run, rules, sockets, allowlist) = match (
        toml::from_str::<GlobalOptions>(text),
        toml::from_str::<RunOptions>(text),
        toml::from_str::<RulesOptions>(text),
        toml::from_str::<Sockets>(text),
        toml::from_str::<allowlist::Allowlist>(text),
    ) {
        (Ok(g), Ok(r), Ok(ru), Ok(s), Ok(a)) if unknown.is_none() => (g, r, ru, s, a),
        (g, r, ru, s, a) => {
            let first = [g.err(), r.err(), ru.err(), s.err(), a.err()]
                .into_iter()
                .flatten()
                .map(|e| (e.span().map_or(usize::MAX, |s| s.start), located(path, text, e, true)))
                .chain(unknown)
                .min_by_key(|(at, _)| *at)
                .expect("one of them failed");
            return Err(first.1);
        }
    };
    let mut c = Config {
        sockets: sockets.sockets.map(|s| s.into_iter().map(|p| p.0).collect()),
        global,
        run,
        rules,
        allow: Vec::new(),
    };
    for (i, entry) in allowlist.allow.into_iter().enumerate() {
        c.allow.push(allowlist::rule(path, text, i, entry)?);
    }
    Ok(c)
}

/// Reads and parses `path`. A missing file is fine only when it is the default
/// path and was not asked for by name. Every error is a usage error (exit
/// status 2): the file is what needs fixing, not the host.
pub fn load(path: Option<&Path>) -> crate::error::Result<Config> {
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_PATH), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(parse(&path, &text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(Config::default()),
        Err(e) => {
            Err(Error::usage(format!("{}: cannot read the configuration: {e}", path.display())))
        }
    }
}

/// A toml error at its line, with the key written there. In a file that is
/// valid TOML (`valid`), a line without a key is part of a value written over
/// several lines (an array), whose key is on the nearest line above that has one.
fn located(path: &Path, text: &str, e: toml::de::Error, valid: bool) -> ConfigError {
    let span = e.span();
    let key = span.clone().and_then(|s| {
        let start = text[..s.start.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
        let lines = text[start..].lines().take(1).chain(text[..start].lines().rev());
        let is_header = |l: &str| l.split('#').next().unwrap_or("").trim().starts_with('[');
        let mut lines =
            lines.take_while(|l| !is_header(l)).take(if valid { usize::MAX } else { 1 });
        key_at(lines.find(|l| l.contains('='))?)
    });
    ConfigError {
        file: path.to_path_buf(),
        line: span.map_or(1, |s| line_of(text, s.start)),
        key,
        message: e.message().trim().to_string(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The key written on `line` (`key = value`).
fn key_at(line: &str) -> Option<String> {
    let key = line.split_once('=')?.0.trim();
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_string())
}

mod allowlist;
#[cfg(test)]
mod tests;

/// `run`'s settings: the command line, then the file, then the defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None`: the default set, every known runtime socket.
    pub sockets: Option<Vec<PathBuf>>,
    pub remove_task_never: bool,
    pub outputs: Vec<OutputSpec>,
    pub no_rules: bool,
    pub keep_audit_state: bool,
    pub socket_owners: Vec<String>,
    pub unicast: bool,
    pub docker_root: PathBuf,
    pub storage_root: PathBuf,
    pub containerd_state: PathBuf,
    pub namespace_fallback: bool,
    pub dedup_window: std::time::Duration,
    pub output: crate::io::output::Options,
    pub allow: Vec<AllowRule>,
    /// The rules.d file `sockwatch rules install` writes (`rules_dir` in the
    /// file's `[rules]`): on exit beside an audit daemon, what it loads stays.
    pub rules_file: PathBuf,
    /// `--metrics-file`; `None`: no metrics are written.
    pub metrics_file: Option<PathBuf>,
    /// `--respond`, `--respond-dry-run`, `--respond-unknown`.
    pub respond: crate::core::respond::Policy,
}

/// Where `sockwatch rules install` writes its file unless told otherwise.
pub const DEFAULT_RULES_DIR: &str = "/etc/audit/rules.d";

/// The sockets named on the command line, else in the file; `None` when neither
/// names any: every known runtime socket is watched (`core::runtimes`).
pub fn sockets(cli: &[PathBuf], cfg: &Config) -> Option<Vec<PathBuf>> {
    if !cli.is_empty() {
        return Some(cli.to_vec());
    }
    cfg.sockets.clone()
}

impl RunOptions {
    /// What each option is when neither the command line nor the file sets it
    /// (its help says so too). A negation is never needed here.
    pub fn defaults() -> RunOptions {
        RunOptions {
            outputs: Some(vec![OutputSpec::Stdout]),
            socket_owners: Some(
                crate::io::proc::SOCKET_OWNERS.iter().map(|s| s.to_string()).collect(),
            ),
            audit_mode: Some(AuditMode::Multicast),
            keep_audit_state: Some(false),
            restore_audit_state: None,
            remove_task_never: Some(false),
            keep_task_never: None,
            no_rules: Some(false),
            rules: None,
            docker_root: Some("/var/lib/docker".into()),
            storage_root: Some("/var/lib/containers/storage".into()),
            containerd_state: Some("/run/containerd".into()),
            namespace_fallback: Some(true),
            with_namespace_fallback: None,
            dedup_window: Some(DedupWindow(10.0)),
            syslog_format: Some(SyslogFormat::Rfc5424),
            syslog_facility: Some(Facility::Authpriv),
            jsonl_fsync: Some(Fsync::Batch),
            format: Some(Format::Native),
            // Off unless asked for: there is no textfile directory everywhere.
            metrics_file: None,
            respond: Some(crate::core::respond::Mode::None),
            respond_dry_run: Some(false),
            no_respond_dry_run: None,
            respond_unknown: Some(false),
            no_respond_unknown: None,
        }
    }

    /// Each option as `self` has it, else as `then` has it; a negation counts as
    /// its setting (and is `None` in the result).
    pub fn or(self, then: RunOptions) -> RunOptions {
        RunOptions {
            outputs: self.outputs.or(then.outputs),
            socket_owners: self.socket_owners.or(then.socket_owners),
            audit_mode: self.audit_mode.or(then.audit_mode),
            keep_audit_state: (self.keep_audit_state.or(self.restore_audit_state))
                .or(then.keep_audit_state.or(then.restore_audit_state)),
            restore_audit_state: None,
            remove_task_never: (self.remove_task_never.or(self.keep_task_never))
                .or(then.remove_task_never.or(then.keep_task_never)),
            keep_task_never: None,
            no_rules: (self.no_rules.or(self.rules)).or(then.no_rules.or(then.rules)),
            rules: None,
            docker_root: self.docker_root.or(then.docker_root),
            storage_root: self.storage_root.or(then.storage_root),
            containerd_state: self.containerd_state.or(then.containerd_state),
            namespace_fallback: (self.namespace_fallback.or(self.with_namespace_fallback))
                .or(then.namespace_fallback.or(then.with_namespace_fallback)),
            with_namespace_fallback: None,
            dedup_window: self.dedup_window.or(then.dedup_window),
            syslog_format: self.syslog_format.or(then.syslog_format),
            syslog_facility: self.syslog_facility.or(then.syslog_facility),
            jsonl_fsync: self.jsonl_fsync.or(then.jsonl_fsync),
            format: self.format.or(then.format),
            metrics_file: self.metrics_file.or(then.metrics_file),
            respond: self.respond.or(then.respond),
            respond_dry_run: (self.respond_dry_run.or(self.no_respond_dry_run))
                .or(then.respond_dry_run.or(then.no_respond_dry_run)),
            no_respond_dry_run: None,
            respond_unknown: (self.respond_unknown.or(self.no_respond_unknown))
                .or(then.respond_unknown.or(then.no_respond_unknown)),
            no_respond_unknown: None,
        }
    }
}

impl Settings {
    pub fn merge(cli: &crate::cli::RunArgs, cfg: &Config, hostname: String) -> Settings {
        fn set<T>(v: Option<T>) -> T {
            v.expect("RunOptions::defaults sets every option")
        }
        let o = cli.options.clone().or(cfg.run.clone()).or(RunOptions::defaults());
        Settings {
            sockets: sockets(&cli.sockets.sockets, cfg),
            remove_task_never: set(o.remove_task_never),
            outputs: set(o.outputs),
            no_rules: set(o.no_rules),
            keep_audit_state: set(o.keep_audit_state),
            unicast: set(o.audit_mode) == AuditMode::Unicast,
            socket_owners: set(o.socket_owners),
            docker_root: set(o.docker_root),
            storage_root: set(o.storage_root),
            containerd_state: set(o.containerd_state),
            namespace_fallback: set(o.namespace_fallback),
            dedup_window: std::time::Duration::from_secs_f64(set(o.dedup_window).0),
            output: crate::io::output::Options {
                syslog_format: set(o.syslog_format),
                syslog_facility: set(o.syslog_facility).code(),
                jsonl_fsync: set(o.jsonl_fsync),
                format: set(o.format),
                hostname,
            },
            allow: cfg.allow.clone(),
            rules_file: cfg
                .rules
                .rules_dir
                .clone()
                .unwrap_or_else(|| DEFAULT_RULES_DIR.into())
                .join(crate::cmd::rules::RULES_FILE),
            metrics_file: o.metrics_file,
            respond: crate::core::respond::Policy {
                mode: set(o.respond),
                dry_run: set(o.respond_dry_run),
                unknown: set(o.respond_unknown),
            },
        }
    }
}
