//! The configuration file (/etc/sockwatch/sockwatch.toml, or `--config PATH`):
//! every `run` option, plus the allowlist. Parsing is strict: an unknown key, a
//! wrong type or a bad value is an error naming the file, the line and the key,
//! never a silent fallback. The command line wins over the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::core::allow::{AllowRule, Glob};
use crate::io::output::OutputSpec;

pub const DEFAULT_PATH: &str = "/etc/sockwatch/sockwatch.toml";

/// The file as written. Every field is optional: absent means "the default".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    sockets: Option<Vec<Spanned<String>>>,
    outputs: Option<Vec<Spanned<String>>>,
    no_rules: Option<bool>,
    keep_audit_state: Option<bool>,
    remove_task_never: Option<bool>,
    socket_owners: Option<Vec<String>>,
    audit_mode: Option<Spanned<String>>,
    docker_root: Option<PathBuf>,
    storage_root: Option<PathBuf>,
    containerd_state: Option<PathBuf>,
    namespace_fallback: Option<bool>,
    dedup_window: Option<Spanned<f64>>,
    log_level: Option<Spanned<String>>,
    syslog_format: Option<Spanned<String>>,
    syslog_facility: Option<Spanned<String>>,
    jsonl_fsync: Option<Spanned<String>>,
    rules_dir: Option<PathBuf>,
    no_persist: Option<bool>,
    #[serde(default)]
    allow: Vec<AllowEntry>,
}

/// Every key of the file and the command-line option it mirrors, for
/// sockwatch.toml(5): the key's text there is that option's help, so the two
/// cannot drift. A unit test checks this table against the keys the parser takes.
pub struct KeyDoc {
    pub key: &'static str,
    /// The TOML value, as the manual shows it.
    pub value: &'static str,
    /// The subcommand whose option this is (`None`: a global option).
    pub command: Option<&'static str>,
    /// The option's clap id.
    pub option: &'static str,
}

pub const KEYS: &[KeyDoc] = &[
    KeyDoc { key: "sockets", value: "[\"PATH\", ...]", command: Some("run"), option: "sockets" },
    KeyDoc { key: "outputs", value: "[\"SPEC\", ...]", command: Some("run"), option: "outputs" },
    KeyDoc {
        key: "socket_owners",
        value: "[\"NAME\", ...]",
        command: Some("run"),
        option: "socket_owners",
    },
    KeyDoc {
        key: "audit_mode",
        value: "\"multicast\" | \"unicast\"",
        command: Some("run"),
        option: "audit_mode",
    },
    KeyDoc {
        key: "keep_audit_state",
        value: "true | false",
        command: Some("run"),
        option: "keep_audit_state",
    },
    KeyDoc {
        key: "remove_task_never",
        value: "true | false",
        command: Some("run"),
        option: "remove_task_never",
    },
    KeyDoc { key: "no_rules", value: "true | false", command: Some("run"), option: "no_rules" },
    KeyDoc { key: "docker_root", value: "\"DIR\"", command: Some("run"), option: "docker_root" },
    KeyDoc { key: "storage_root", value: "\"DIR\"", command: Some("run"), option: "storage_root" },
    KeyDoc {
        key: "containerd_state",
        value: "\"DIR\"",
        command: Some("run"),
        option: "containerd_state",
    },
    KeyDoc {
        key: "namespace_fallback",
        value: "true | false",
        command: Some("run"),
        option: "no_namespace_fallback",
    },
    KeyDoc { key: "dedup_window", value: "SECONDS", command: Some("run"), option: "dedup_window" },
    KeyDoc {
        key: "syslog_format",
        value: "\"rfc5424\" | \"rfc3164\"",
        command: Some("run"),
        option: "syslog_format",
    },
    KeyDoc {
        key: "syslog_facility",
        value: "\"NAME\"",
        command: Some("run"),
        option: "syslog_facility",
    },
    KeyDoc {
        key: "jsonl_fsync",
        value: "\"batch\" | \"line\" | \"never\"",
        command: Some("run"),
        option: "jsonl_fsync",
    },
    KeyDoc {
        key: "log_level",
        value: "\"error\" | \"warn\" | \"info\" | \"debug\"",
        command: None,
        option: "log_level",
    },
    KeyDoc { key: "rules_dir", value: "\"DIR\"", command: Some("rules"), option: "rules_dir" },
    KeyDoc {
        key: "no_persist",
        value: "true | false",
        command: Some("rules"),
        option: "no_persist",
    },
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowEntry {
    image: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    label: Option<Spanned<String>>,
    exe: Option<Spanned<String>>,
    container_id: Option<Spanned<String>>,
}

/// The settings the file gave, validated.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Config {
    pub sockets: Option<Vec<PathBuf>>,
    pub outputs: Option<Vec<OutputSpec>>,
    pub no_rules: Option<bool>,
    pub keep_audit_state: Option<bool>,
    pub remove_task_never: Option<bool>,
    pub socket_owners: Option<Vec<String>>,
    pub audit_mode: Option<String>,
    pub docker_root: Option<PathBuf>,
    pub storage_root: Option<PathBuf>,
    pub containerd_state: Option<PathBuf>,
    pub namespace_fallback: Option<bool>,
    pub dedup_window: Option<f64>,
    pub log_level: Option<String>,
    pub syslog_format: Option<String>,
    pub syslog_facility: Option<String>,
    pub jsonl_fsync: Option<String>,
    pub rules_dir: Option<PathBuf>,
    pub no_persist: Option<bool>,
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

pub const LOG_LEVELS: [&str; 4] = ["error", "warn", "info", "debug"];
pub const SYSLOG_FORMATS: [&str; 2] = ["rfc5424", "rfc3164"];
pub const FSYNC_POLICIES: [&str; 3] = ["batch", "line", "never"];

/// Parses the text of the file at `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let err =
        |span: Option<std::ops::Range<usize>>, key: Option<&str>, message: String| ConfigError {
            file: path.to_path_buf(),
            line: span.map_or(1, |s| line_of(text, s.start)),
            key: key.map(str::to_string),
            message,
        };
    let f: File = toml::from_str(text).map_err(|e| {
        let span = e.span();
        let key = span.clone().and_then(|s| key_at(text, s.start));
        err(span, key.as_deref(), e.message().trim().to_string())
    })?;
    let one_of = |v: &Option<Spanned<String>>,
                  key: &str,
                  allowed: &[&str]|
     -> Result<Option<String>, ConfigError> {
        match v {
            None => Ok(None),
            Some(s) if allowed.contains(&s.get_ref().as_str()) => Ok(Some(s.get_ref().clone())),
            Some(s) => Err(err(
                Some(s.span()),
                Some(key),
                format!("{:?} is not one of {}", s.get_ref(), allowed.join(", ")),
            )),
        }
    };
    let mut c = Config {
        no_rules: f.no_rules,
        keep_audit_state: f.keep_audit_state,
        remove_task_never: f.remove_task_never,
        socket_owners: f.socket_owners,
        audit_mode: one_of(&f.audit_mode, "audit_mode", &["multicast", "unicast"])?,
        docker_root: f.docker_root,
        storage_root: f.storage_root,
        containerd_state: f.containerd_state,
        namespace_fallback: f.namespace_fallback,
        log_level: one_of(&f.log_level, "log_level", &LOG_LEVELS)?,
        syslog_format: one_of(&f.syslog_format, "syslog_format", &SYSLOG_FORMATS)?,
        syslog_facility: one_of(
            &f.syslog_facility,
            "syslog_facility",
            &crate::io::output::syslog::FACILITY_NAMES,
        )?,
        jsonl_fsync: one_of(&f.jsonl_fsync, "jsonl_fsync", &FSYNC_POLICIES)?,
        rules_dir: f.rules_dir,
        no_persist: f.no_persist,
        ..Config::default()
    };
    if let Some(socks) = f.sockets {
        let mut out = Vec::new();
        for s in socks {
            if !s.get_ref().starts_with('/') {
                return Err(err(
                    Some(s.span()),
                    Some("sockets"),
                    format!("{:?} is not an absolute path", s.get_ref()),
                ));
            }
            out.push(PathBuf::from(s.into_inner()));
        }
        c.sockets = Some(out);
    }
    if let Some(outs) = f.outputs {
        let mut specs = Vec::new();
        for o in outs {
            specs.push(
                o.get_ref().parse().map_err(|e: String| err(Some(o.span()), Some("outputs"), e))?,
            );
        }
        c.outputs = Some(specs);
    }
    if let Some(w) = f.dedup_window {
        let v = *w.get_ref();
        if !(0.0..=86_400.0).contains(&v) {
            return Err(err(
                Some(w.span()),
                Some("dedup_window"),
                format!("{v} is not a number of seconds from 0 to 86400"),
            ));
        }
        c.dedup_window = Some(v);
    }
    for (i, a) in f.allow.into_iter().enumerate() {
        let key = |k: &str| format!("allow[{i}].{k}");
        let glob = |v: Option<Spanned<String>>, k: &str| -> Result<Option<Glob>, ConfigError> {
            v.map(|s| Glob::new(s.get_ref()).map_err(|e| err(Some(s.span()), Some(&key(k)), e)))
                .transpose()
        };
        let label = match a.label {
            None => None,
            Some(s) => match s.get_ref().split_once('=') {
                Some((k, v)) if !k.is_empty() => Some((k.to_string(), v.to_string())),
                _ => {
                    return Err(err(
                        Some(s.span()),
                        Some(&key("label")),
                        format!("{:?} is not key=value", s.get_ref()),
                    ));
                }
            },
        };
        let container_id = match a.container_id {
            None => None,
            Some(s)
                if (12..=64).contains(&s.get_ref().len())
                    && s.get_ref().bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Some(s.into_inner().to_lowercase())
            }
            Some(s) => {
                return Err(err(
                    Some(s.span()),
                    Some(&key("container_id")),
                    format!("{:?} is not a container id (12 to 64 hex digits)", s.get_ref()),
                ));
            }
        };
        let exe = match a.exe {
            None => None,
            Some(s) if s.get_ref().starts_with('/') => Some(s.into_inner()),
            Some(s) => {
                return Err(err(
                    Some(s.span()),
                    Some(&key("exe")),
                    format!("{:?} is not an absolute path", s.get_ref()),
                ));
            }
        };
        let rule = AllowRule {
            image: glob(a.image, "image")?,
            name: glob(a.name, "name")?,
            label,
            exe,
            container_id,
        };
        if rule.is_empty() {
            return Err(ConfigError {
                file: path.to_path_buf(),
                line: nth_allow_line(text, i),
                key: Some(format!("allow[{i}]")),
                message:
                    "an [[allow]] entry needs at least one of image, name, label, exe, container_id"
                        .into(),
            });
        }
        c.allow.push(rule);
    }
    Ok(c)
}

/// Reads and parses `path`. A missing file is fine only when it is the default
/// path and was not asked for by name.
pub fn load(path: Option<&Path>) -> Result<Config, String> {
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_PATH), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text).map_err(|e| e.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(Config::default()),
        Err(e) => Err(format!("{}: cannot read the configuration: {e}", path.display())),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The key written on the line that holds `offset` (`key = value`).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let key = line.split_once('=')?.0.trim();
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_string())
}

fn nth_allow_line(text: &str, n: usize) -> usize {
    let is_allow = |l: &str| {
        l.split('#').next().unwrap_or("").chars().filter(|c| !c.is_whitespace()).collect::<String>()
            == "[[allow]]"
    };
    text.lines().enumerate().filter(|(_, l)| is_allow(l)).nth(n).map_or(1, |(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Config, String> {
        parse(Path::new("/etc/sockwatch/sockwatch.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn full_file() {
        let c = p(r#"
sockets = ["/run/docker.sock", "/run/containerd/containerd.sock"]
outputs = ["journald", "jsonl:/var/log/sockwatch/findings.jsonl"]
dedup_window = 2.5
log_level = "debug"
syslog_facility = "local3"
namespace_fallback = false

[[allow]]
image = "portainer/portainer-ce:*"

[[allow]]
name = "traefik*"
label = "com.example.role=proxy"
"#)
        .unwrap();
        assert_eq!(c.sockets.unwrap().len(), 2);
        assert_eq!(c.outputs.unwrap()[0], OutputSpec::Journald);
        assert_eq!(c.dedup_window, Some(2.5));
        assert_eq!(c.namespace_fallback, Some(false));
        assert_eq!(c.allow.len(), 2);
        assert_eq!(c.allow[1].label, Some(("com.example.role".into(), "proxy".into())));
        assert_eq!(p("").unwrap(), Config::default());
    }

    #[test]
    fn the_command_line_wins_both_ways() {
        use clap::Parser;
        let cfg = p("no_rules = true\nnamespace_fallback = false\ndedup_window = 3\noutputs = [\"journald\"]\n").unwrap();
        let settings = |argv: &[&str]| {
            let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
            let crate::cli::Command::Run(args) = cli.command else { panic!() };
            Settings::merge(&args, &cfg, "h".into()).unwrap()
        };
        let from_file = settings(&["sockwatch", "run"]);
        assert!(from_file.no_rules && !from_file.namespace_fallback);
        assert_eq!(from_file.dedup_window.as_secs(), 3);
        assert_eq!(from_file.outputs, [OutputSpec::Journald]);
        let cli = settings(&[
            "sockwatch",
            "run",
            "--rules",
            "--namespace-fallback",
            "--dedup-window",
            "0",
            "--output",
            "stdout",
        ]);
        assert!(!cli.no_rules && cli.namespace_fallback);
        assert!(cli.dedup_window.is_zero());
        assert_eq!(cli.outputs, [OutputSpec::Stdout]);
        // The last of a pair wins.
        assert!(settings(&["sockwatch", "run", "--rules", "--no-rules"]).no_rules);
        let defaults = Settings::merge(
            &match crate::cli::Cli::try_parse_from(["sockwatch", "run"]).unwrap().command {
                crate::cli::Command::Run(a) => *a,
                _ => panic!(),
            },
            &Config::default(),
            "h".into(),
        )
        .unwrap();
        assert!(
            !defaults.no_rules
                && defaults.namespace_fallback
                && defaults.dedup_window.as_secs() == 10
        );
        assert_eq!(defaults.sockets, None, "every known runtime socket");
        assert!(!defaults.remove_task_never);
    }

    #[test]
    fn the_key_table_lists_every_key_the_parser_takes() {
        // serde names every key it would have taken when it meets one it does not know.
        let e = p("no_such_key = 1\n").unwrap_err();
        let expected = e.split("expected one of").nth(1).unwrap_or_else(|| panic!("{e}"));
        let mut taken: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        taken.retain(|k| *k != "allow");
        let mut documented: Vec<&str> = KEYS.iter().map(|k| k.key).collect();
        taken.sort_unstable();
        documented.sort_unstable();
        assert_eq!(taken, documented);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let long_id = format!("[[allow]]\ncontainer_id = \"{}\"\n", "a".repeat(65));
        let cases: Vec<(&str, &str)> = vec![
            (
                "sockets = [\"/run/docker.sock\"]\ndedup_windw = 3\n",
                "sockwatch.toml:2: key `dedup_windw`: unknown field",
            ),
            ("dedup_window = \"ten\"\n", "sockwatch.toml:1: key `dedup_window`: invalid type"),
            (
                "\n\ndedup_window = -1\n",
                "sockwatch.toml:3: key `dedup_window`: -1 is not a number of seconds",
            ),
            ("log_level = \"loud\"\n", "sockwatch.toml:1: key `log_level`: \"loud\" is not one of"),
            (
                "outputs = [\"stdout\", \"jsonl:relative\"]\n",
                "sockwatch.toml:1: key `outputs`: jsonl needs an absolute path",
            ),
            (
                "sockets = [\"docker.sock\"]\n",
                "sockwatch.toml:1: key `sockets`: \"docker.sock\" is not an absolute path",
            ),
            (
                "[[allow]]\nlabel = \"novalue\"\n",
                "sockwatch.toml:2: key `allow[0].label`: \"novalue\" is not key=value",
            ),
            ("[[allow]]\nimage = \"a[\"\n", "sockwatch.toml:2: key `allow[0].image`"),
            (
                "[[allow]]\nname = \"x\"\n\n[[allow]]\n",
                "sockwatch.toml:4: key `allow[1]`: an [[allow]] entry needs",
            ),
            ("[[allow]]\ncolour = \"red\"\n", "sockwatch.toml:2: key `colour`: unknown field"),
            (
                "[[allow]]\ncontainer_id = \"xyz\"\n",
                "sockwatch.toml:2: key `allow[0].container_id`",
            ),
            (&long_id, "sockwatch.toml:2: key `allow[0].container_id`"),
            (
                "[[allow]]\nexe = \"docker\"\n",
                "sockwatch.toml:2: key `allow[0].exe`: \"docker\" is not an absolute path",
            ),
            ("[[allow]]\nname = \"[!]\"\n", "sockwatch.toml:2: key `allow[0].name`"),
            (
                "x = 1 # a comment\n[[ allow ]] # a comment\n",
                "sockwatch.toml:1: key `x`: unknown field",
            ),
            (
                "[[ allow ]]   # nothing in it\n",
                "sockwatch.toml:1: key `allow[0]`: an [[allow]] entry needs",
            ),
            ("no_rules = yes\n", "sockwatch.toml:1:"),
        ];
        for (text, want) in cases {
            let got = p(text).unwrap_err();
            assert!(got.starts_with("/etc/sockwatch/") && got.contains(want), "{text:?}: {got}");
        }
    }
}

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
}

/// A `--x`/`--no-x` pair (clap keeps only the last one given): `Some` when the
/// command line said either.
pub fn flag(yes: bool, no: bool) -> Option<bool> {
    if yes {
        Some(true)
    } else if no {
        Some(false)
    } else {
        None
    }
}

/// The sockets named on the command line, else in the file; `None` when neither
/// names any: every known runtime socket is watched (`core::runtimes`).
pub fn sockets(cli: &[PathBuf], cfg: &Config) -> Option<Vec<PathBuf>> {
    if !cli.is_empty() {
        return Some(cli.to_vec());
    }
    cfg.sockets.clone()
}

impl Settings {
    pub fn merge(
        cli: &crate::cli::RunArgs,
        cfg: &Config,
        hostname: String,
    ) -> Result<Settings, String> {
        use crate::io::output::{jsonl::Fsync, syslog};
        let pick = |c: &Option<String>, f: &Option<String>, d: &str| {
            c.clone().or_else(|| f.clone()).unwrap_or_else(|| d.to_string())
        };
        let window = cli.dedup_window.or(cfg.dedup_window).unwrap_or(10.0);
        if !(0.0..=86_400.0).contains(&window) {
            return Err(format!(
                "--dedup-window {window}: not a number of seconds from 0 to 86400"
            ));
        }
        let facility = pick(&cli.syslog_facility, &cfg.syslog_facility, "authpriv");
        Ok(Settings {
            sockets: sockets(&cli.sockets.sockets, cfg),
            remove_task_never: flag(cli.remove_task_never, cli.keep_task_never)
                .or(cfg.remove_task_never)
                .unwrap_or(false),
            outputs: if cli.outputs.is_empty() {
                cfg.outputs.clone().unwrap_or_else(|| vec![OutputSpec::Stdout])
            } else {
                cli.outputs.clone()
            },
            no_rules: flag(cli.no_rules, cli.rules).or(cfg.no_rules).unwrap_or(false),
            keep_audit_state: flag(cli.keep_audit_state, cli.restore_audit_state)
                .or(cfg.keep_audit_state)
                .unwrap_or(false),
            unicast: pick(&cli.audit_mode, &cfg.audit_mode, "multicast") == "unicast",
            socket_owners: if cli.socket_owners.is_empty() {
                cfg.socket_owners.clone().unwrap_or_else(|| {
                    crate::io::proc::SOCKET_OWNERS.iter().map(|s| s.to_string()).collect()
                })
            } else {
                cli.socket_owners.clone()
            },
            docker_root: cli
                .docker_root
                .clone()
                .or_else(|| cfg.docker_root.clone())
                .unwrap_or_else(|| "/var/lib/docker".into()),
            storage_root: cli
                .storage_root
                .clone()
                .or_else(|| cfg.storage_root.clone())
                .unwrap_or_else(|| "/var/lib/containers/storage".into()),
            containerd_state: cli
                .containerd_state
                .clone()
                .or_else(|| cfg.containerd_state.clone())
                .unwrap_or_else(|| "/run/containerd".into()),
            namespace_fallback: flag(cli.namespace_fallback, cli.no_namespace_fallback)
                .or(cfg.namespace_fallback)
                .unwrap_or(true),
            dedup_window: std::time::Duration::from_secs_f64(window),
            output: crate::io::output::Options {
                syslog_format: pick(&cli.syslog_format, &cfg.syslog_format, "rfc5424")
                    .parse::<syslog::Format>()?,
                syslog_facility: syslog::facility(&facility)
                    .map_err(|e| format!("--syslog-facility: {e}"))?,
                jsonl_fsync: pick(&cli.jsonl_fsync, &cfg.jsonl_fsync, "batch").parse::<Fsync>()?,
                hostname,
            },
            allow: cfg.allow.clone(),
        })
    }
}
