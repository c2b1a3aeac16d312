//! The configuration file: keys, values, merging and located errors.
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

[[allow]]
image_id = "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
"#)
    .unwrap();
    assert_eq!(c.sockets.unwrap().len(), 2);
    assert_eq!(c.run.outputs.unwrap()[0], OutputSpec::Journald);
    assert_eq!(c.run.dedup_window, Some(DedupWindow(2.5)));
    assert_eq!(c.global.log_level, Some(Level::Debug));
    assert_eq!(c.run.syslog_facility, Some(Facility::Local3));
    assert_eq!(c.run.namespace_fallback, Some(false));
    assert_eq!(c.allow.len(), 3);
    assert_eq!(
        c.allow[2].image_id.as_deref(),
        Some("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    );
    assert_eq!(c.allow[1].label, Some(("com.example.role".into(), "proxy".into())));
    assert_eq!(p("").unwrap(), Config::default());
}

#[test]
fn the_command_line_wins_both_ways() {
    use clap::Parser;
    let cfg = p(
        "no_rules = true\nnamespace_fallback = false\ndedup_window = 3\noutputs = [\"journald\"]\n",
    )
    .unwrap();
    let settings = |argv: &[&str]| {
        let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
        let crate::cli::Command::Run(args) = cli.command else { panic!() };
        Settings::merge(&args, &cfg, "h".into())
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
    );
    assert!(
        !defaults.no_rules && defaults.namespace_fallback && defaults.dedup_window.as_secs() == 10
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
    let mut documented: Vec<&str> = KEYS.into_iter().map(|k| k.key).collect();
    taken.sort_unstable();
    documented.sort_unstable();
    assert_eq!(taken, documented);
    // The keys are those the file has always had; negations are not keys.
    let mut keys = [
        "sockets",
        "outputs",
        "socket_owners",
        "audit_mode",
        "keep_audit_state",
        "remove_task_never",
        "no_rules",
        "docker_root",
        "storage_root",
        "containerd_state",
        "namespace_fallback",
        "dedup_window",
        "syslog_format",
        "syslog_facility",
        "jsonl_fsync",
        "format",
        "metrics_file",
        "respond",
        "respond_dry_run",
        "respond_unknown",
        "log_level",
        "rules_dir",
        "no_persist",
    ];
    keys.sort_unstable();
    assert_eq!(taken, keys);
}

#[test]
fn the_file_takes_exactly_the_command_lines_values() {
    for k in KEYS.into_iter().filter(|k| k.value.starts_with('"') && k.value.contains(" | ")) {
        let choices: Vec<&str> =
            k.value.split(" | ").filter_map(|c| c.strip_prefix('"')?.strip_suffix('"')).collect();
        for c in &choices {
            p(&format!("{} = \"{c}\"\n", k.key)).unwrap();
        }
        let e = p(&format!("{} = \"{}x\"\n", k.key, choices[0])).unwrap_err();
        let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
        assert!(e.contains(&format!("is not one of {}", quoted.join(", "))), "{e}");
    }
    let c = p("syslog_facility = \"local0\"\naudit_mode = \"unicast\"\njsonl_fsync = \"line\"\n")
        .unwrap();
    let run = crate::cli::RunArgs {
        sockets: crate::cli::SocketArgs { sockets: vec![] },
        test_rules: false,
        options: RunOptions::default(),
    };
    let s = Settings::merge(&run, &c, "h".into());
    assert_eq!((s.output.syslog_facility, s.unicast), (16, true));
    assert_eq!(s.output.jsonl_fsync, Fsync::Line);
    assert_eq!(s.output.format, crate::io::output::Format::Native, "native by default");
    let s = Settings::merge(&run, &p("format = \"ocsf\"\n").unwrap(), "h".into());
    assert_eq!(s.output.format, crate::io::output::Format::Ocsf);
}

#[test]
fn each_pair_is_one_setting_the_last_given_wins() {
    use clap::Parser;
    let run = |argv: &[&str], file: &str| {
        let mut args = vec!["sockwatch", "run"];
        args.extend(argv);
        let crate::cli::Command::Run(a) = crate::cli::Cli::try_parse_from(args).unwrap().command
        else {
            panic!()
        };
        let s = Settings::merge(&a, &p(file).unwrap(), "h".into());
        (s.keep_audit_state, s.remove_task_never, s.no_rules, s.namespace_fallback)
    };
    assert_eq!(run(&[], ""), (false, false, false, true));
    let on = "keep_audit_state = true\nremove_task_never = true\nno_rules = true\nnamespace_fallback = false\n";
    assert_eq!(run(&[], on), (true, true, true, false));
    let off = "keep_audit_state = false\nremove_task_never = false\nno_rules = false\nnamespace_fallback = true\n";
    let yes =
        ["--keep-audit-state", "--remove-task-never", "--no-rules", "--no-namespace-fallback"];
    let no = ["--restore-audit-state", "--keep-task-never", "--rules", "--namespace-fallback"];
    assert_eq!(run(&yes, off), (true, true, true, false));
    assert_eq!(run(&no, on), (false, false, false, true));
    for i in 0..4 {
        let (a, b) = (run(&[yes[i], no[i]], ""), run(&[no[i], yes[i]], ""));
        assert_ne!(a, b, "{} {}", yes[i], no[i]);
        assert_eq!(b, run(&[yes[i]], ""));
        assert_eq!(a, run(&[], ""));
    }
    let rules = |argv: &[&str]| {
        let mut args = vec!["sockwatch", "rules", "install"];
        args.extend(argv);
        let crate::cli::Command::Rules(a) = crate::cli::Cli::try_parse_from(args).unwrap().command
        else {
            panic!()
        };
        let crate::cli::RulesCommand::Install(a) = a.action else { panic!() };
        a.options.no_persist.or(a.options.persist)
    };
    assert_eq!(rules(&[]), None);
    assert_eq!(rules(&["--persist", "--no-persist"]), Some(true));
    assert_eq!(rules(&["--no-persist", "--persist"]), Some(false));
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
        ("[[allow]]\ncontainer_id = \"xyz\"\n", "sockwatch.toml:2: key `allow[0].container_id`"),
        (
            "[[allow]]\nimage_id = \"nginx:1.27\"\n",
            "sockwatch.toml:2: key `allow[0].image_id`: \"nginx:1.27\" is not an image id",
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
        (
            "sockets = [\n  \"/run/docker.sock\",\n  \"docker.sock\",\n]\n",
            "sockwatch.toml:3: key `sockets`: \"docker.sock\" is not an absolute path",
        ),
        (
            "log_level = \"info\"\n\n[[allow]]\nname = \"x\"\nexe = \"docker\"\n",
            "sockwatch.toml:5: key `allow[0].exe`",
        ),
        ("[foo]\nbar = 1\n", "sockwatch.toml:1: key `foo`: unknown field"),
    ];
    for (text, want) in cases {
        let got = p(text).unwrap_err();
        assert!(got.starts_with("/etc/sockwatch/") && got.contains(want), "{text:?}: {got}");
    }
}

#[test]
fn a_value_of_the_wrong_type_says_in_words_what_the_key_takes() {
    let cases: &[(&str, &str)] = &[
        ("dedup_window = \"x\"", "expected a number of seconds from 0 to 86400"),
        ("dedup_window = true", "expected a number of seconds from 0 to 86400"),
        ("dedup_window = 90000", "90000 is not a number of seconds from 0 to 86400"),
        ("outputs = \"stdout\"", "expected a list of outputs, each \"stdout\", \"jsonl:PATH\""),
        ("outputs = [3]", "expected an output: \"stdout\""),
        ("outputs = [\"file\"]", "file"),
        ("sockets = \"/run/docker.sock\"", "expected a list of absolute socket paths"),
        ("sockets = [1]", "expected an absolute path (a string starting with /)"),
        ("socket_owners = \"dockerd\"", "expected a list of executable names"),
        ("socket_owners = [1]", "expected a string"),
        ("audit_mode = 1", "expected one of \"multicast\", \"unicast\""),
        ("audit_mode = \"both\"", "\"both\" is not one of \"multicast\", \"unicast\""),
        ("log_level = true", "expected one of \"error\", \"warn\", \"info\", \"debug\""),
        ("syslog_format = 5424", "expected one of \"rfc5424\", \"rfc3164\""),
        ("syslog_facility = 10", "expected one of \"kern\""),
        ("jsonl_fsync = false", "expected one of \"batch\", \"line\", \"never\""),
        ("format = \"json\"", "\"json\" is not one of \"native\", \"ecs\", \"ocsf\""),
        ("keep_audit_state = \"yes\"", "expected true or false"),
        ("remove_task_never = 1", "expected true or false"),
        ("no_rules = \"true\"", "expected true or false"),
        ("namespace_fallback = 0", "expected true or false"),
        ("no_persist = \"no\"", "expected true or false"),
        ("docker_root = 3", "expected a directory's path (a string)"),
        ("storage_root = []", "expected a directory's path (a string)"),
        ("containerd_state = false", "expected a directory's path (a string)"),
        ("rules_dir = \"\"", "an empty path names no directory"),
        ("metrics_file = 1", "expected an absolute path ending in .prom"),
        ("metrics_file = \"m.prom\"", "is not an absolute path"),
        ("metrics_file = \"/var/lib/x/sockwatch.txt\"", "does not end in .prom"),
        ("allow = 3", "expected [[allow]] tables"),
        ("allow = [3]", "expected an [[allow]] table with any of image_id"),
    ];
    for (text, want) in cases {
        let got = p(&format!("{text}\n")).unwrap_err();
        assert!(got.contains(want), "{text:?}: {got}");
        // serde's own names for types never reach the user.
        for jargon in ["f64", "sequence", "path string", "struct", "a boolean"] {
            assert!(!got.contains(&format!("expected {jargon}")), "{text:?}: {got}");
        }
        let key = text.split(' ').next().unwrap();
        assert!(got.contains(&format!("key `{key}`")), "{text:?}: {got}");
    }
}

#[test]
fn an_empty_list_is_an_error_but_for_the_allowlist() {
    for (text, want) in [
        ("sockets = []", "no socket would be watched"),
        ("outputs = []", "findings would go nowhere"),
        ("socket_owners = []", "every runtime restart would be reported"),
    ] {
        let got = p(&format!("{text}\n")).unwrap_err();
        assert!(got.contains("an empty list") && got.contains(want), "{text}: {got}");
        assert!(got.contains("leave the key out"), "{text}: {got}");
    }
    assert_eq!(p("allow = []\n").unwrap().allow, vec![]);
}

#[test]
fn the_metrics_file_is_off_by_default_and_the_command_line_wins() {
    let run = |metrics_file: Option<&str>| crate::cli::RunArgs {
        sockets: crate::cli::SocketArgs { sockets: vec![] },
        test_rules: false,
        options: RunOptions { metrics_file: metrics_file.map(Into::into), ..RunOptions::default() },
    };
    let none = p("").unwrap();
    assert_eq!(Settings::merge(&run(None), &none, "h".into()).metrics_file, None);
    let c = p("metrics_file = \"/var/lib/prometheus/node-exporter/sockwatch.prom\"\n").unwrap();
    assert_eq!(
        Settings::merge(&run(None), &c, "h".into()).metrics_file,
        Some("/var/lib/prometheus/node-exporter/sockwatch.prom".into())
    );
    assert_eq!(
        Settings::merge(&run(Some("/tmp/x.prom")), &c, "h".into()).metrics_file,
        Some("/tmp/x.prom".into())
    );
}
