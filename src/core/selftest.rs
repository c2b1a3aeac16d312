//! `sockwatch test`'s decisions, apart from its I/O (`cmd::test`): whether this
//! process has what the test needs, the configuration its `sockwatch run` gets,
//! whether that run's output holds the finding for the test's own connect, and,
//! when it does not, the most likely reason, read from what the run reported.

use serde_json::Value;

/// What the test needs, as capability numbers: rules and audit's state, the
/// multicast group, and new namespaces for the test's process.
const NEEDED: [(u32, &str); 3] =
    [(30, "CAP_AUDIT_CONTROL"), (37, "CAP_AUDIT_READ"), (21, "CAP_SYS_ADMIN")];

/// Why this process cannot run the test, from its effective uid and the text of
/// /proc/self/status; `None` when it can. An unreadable capability set is left to
/// the calls that need it, which fail with their own message.
pub fn not_permitted(euid: u32, status: &str) -> Option<String> {
    if euid != 0 {
        return Some(
            "needs root: it loads audit rules, reads audit records and creates namespaces (sudo sockwatch test)"
                .into(),
        );
    }
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())?;
    let missing: Vec<&str> =
        NEEDED.iter().filter(|(bit, _)| eff & (1 << bit) == 0).map(|(_, name)| *name).collect();
    (!missing.is_empty()).then(|| {
        format!(
            "runs as root but without {} (in a container, or under a restricted service?): it needs them to load audit rules, read audit records and create namespaces",
            missing.join(", ")
        )
    })
}

/// The configuration file of the test's `sockwatch run`. Of the host's settings
/// only those about audit itself are kept (`keep_audit_state`, and `rules_dir`,
/// which decides beside auditd which rules stay on exit); its outputs, allowlist
/// and the rest never apply to the test, and the command line sets what the
/// test depends on.
pub fn child_config(keep_audit_state: Option<bool>, rules_dir: Option<&str>) -> String {
    let mut out = String::from(
        "# Written by `sockwatch test` for its own `sockwatch run`: the host's audit settings only.\n",
    );
    if let Some(k) = keep_audit_state {
        out.push_str(&format!("keep_audit_state = {k}\n"));
    }
    if let Some(d) = rules_dir {
        out.push_str(&format!("rules_dir = {}\n", toml_string(d)));
    }
    out
}

/// A TOML basic string holding exactly `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The test's connect: the throw-away socket it watched, and the process.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub socket: &'a str,
    pub pid: u32,
}

/// The finding for the test's connect, as the run wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// The JSON line, as written.
    pub line: String,
    pub runtime: String,
    pub comm: String,
    pub success: bool,
}

/// What the run's JSON lines say so far: the finding for the test's connect if
/// it is there, the health events, and how many complete lines were not JSON (a
/// line still being written, without its newline, is not looked at yet).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub found: Option<Reported>,
    /// Health events: (level, event, message).
    pub health: Vec<(String, String, String)>,
    pub not_json: usize,
}

pub fn read_output(jsonl: &str, want: Expected<'_>) -> Output {
    let mut out = Output::default();
    let complete = jsonl.rfind('\n').map_or("", |end| &jsonl[..end]);
    for line in complete.lines().filter(|l| !l.is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            out.not_json += 1;
            continue;
        };
        let s = |ptr: &str| v.pointer(ptr).and_then(Value::as_str).unwrap_or_default().to_string();
        match v["kind"].as_str() {
            Some("health") => out.health.push((s("/level"), s("/event"), s("/message"))),
            Some("finding")
                if out.found.is_none()
                    && v.pointer("/signature/id") == Some(&Value::from("TRC-1019"))
                    && v.pointer("/socket/watched") == Some(&Value::from(want.socket))
                    && v.pointer("/process/pid").and_then(Value::as_u64)
                        == Some(u64::from(want.pid)) =>
            {
                out.found = Some(Reported {
                    line: line.to_string(),
                    runtime: s("/container/runtime"),
                    comm: s("/process/comm"),
                    success: v.pointer("/outcome/success") == Some(&Value::Bool(true)),
                });
            }
            _ => {}
        }
    }
    out
}

/// The one line that says the test passed.
pub fn passed(r: &Reported, want: Expected<'_>, millis: u128) -> String {
    let outcome = if r.success { "connected" } else { "tried to connect" };
    format!(
        "passed: the test process {} (pid {}, in new mount, pid, UTS, IPC and network namespaces) {outcome} to {} and `sockwatch run` reported it {millis} ms later, as a container of runtime \"{}\"; that run has removed its rules again",
        r.comm, want.pid, want.socket, r.runtime
    )
}

/// The counters the run logged when it stopped (`stopped: records=1 ...`).
fn stop_counters(log: &str) -> Vec<(&str, u64)> {
    log.lines()
        .rev()
        .find_map(|l| l.split_once("stopped: ").map(|(_, c)| c))
        .map(|c| {
            c.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Why the run reported no finding for the test's connect in time, once it
/// has stopped: from its output, its health events and the counters it logged
/// on exit. Only the
/// test's process knows the throw-away socket, so a connect to it that the run
/// counted as a host's was the test's.
pub fn why_not(out: &Output, log: &str, timeout_s: u64) -> String {
    let event = |name: &str| out.health.iter().find(|(_, e, _)| e == name);
    let counter = |name: &str| stop_counters(log).iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let mut why = if out.found.is_some() {
        format!(
            "the finding for the test process's connect came only after the {timeout_s} s timeout"
        )
    } else if event("audit_task_never").is_some() {
        "a `never` rule on audit's task list (-a never,task) gives every process created while it is loaded no audit context, so the test process's connect left no audit record".to_string()
    } else if counter("host").is_some_and(|n| n > 0) {
        "the connect was seen, but the test process was taken for a host process: its namespaces were not told apart from the host's".to_string()
    } else if counter("findings").is_some_and(|n| n > 0) {
        "a finding was written, but not for the test process's connect".to_string()
    } else {
        format!("no audit record of the test process's connect arrived within {timeout_s} s")
    };
    let others: Vec<&str> = out
        .health
        .iter()
        .filter(|(level, e, _)| level != "info" && e != "audit_task_never")
        .map(|(_, e, _)| e.as_str())
        .collect();
    if !others.is_empty() {
        why.push_str(&format!(" (the run also reported {})", others.join(", ")));
    }
    if out.not_json > 0 {
        why.push_str(&format!(" ({} line(s) of its output were not JSON)", out.not_json));
    }
    why
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const SOCK: &str = "/run/sockwatch-test.1a/test.sock";
    const WANT: Expected<'static> = Expected { socket: SOCK, pid: 4242 };

    fn finding(watched: &str, pid: u32) -> String {
        format!(
            r#"{{"kind":"finding","signature":{{"id":"TRC-1019"}},"outcome":{{"success":true,"errno":null}},"socket":{{"path":"{watched}","watched":"{watched}"}},"process":{{"pid":{pid},"comm":"sockwatch-test"}},"container":{{"id":null,"runtime":"unknown"}},"count":1}}"#
        )
    }

    #[test]
    fn who_may_run_it() {
        let status =
            |eff: &str| format!("Name:\tsockwatch\nCapInh:\t0\nCapEff:\t{eff}\nCapBnd:\t0\n");
        let all = format!("{:016x}", (1u64 << 30) | (1 << 37) | (1 << 21));
        let cases: [(u32, String, Option<&str>); 6] = [
            (0, status("000001ffffffffff"), None),
            (0, status(&all), None),
            (1000, status("000001ffffffffff"), Some("needs root")),
            (0, status(&format!("{:016x}", 1u64 << 21)), Some("CAP_AUDIT_CONTROL, CAP_AUDIT_READ")),
            (
                0,
                status(&format!("{:016x}", (1u64 << 30) | (1 << 37))),
                Some("without CAP_SYS_ADMIN"),
            ),
            // Unreadable: the calls that need them say what is wrong.
            (0, "Name:\tx\n".into(), None),
        ];
        for (euid, text, want) in cases {
            let got = not_permitted(euid, &text);
            match want {
                None => assert_eq!(got, None, "{text}"),
                Some(w) => assert!(got.as_deref().is_some_and(|g| g.contains(w)), "{got:?} {w}"),
            }
        }
    }

    #[test]
    fn the_child_config_keeps_the_hosts_audit_settings_and_parses() {
        for (keep, dir) in [
            (None, None),
            (Some(true), Some("/etc/audit/rules.d")),
            (Some(false), Some("/srv/a \"quoted\" \\dir\u{7}")),
        ] {
            let text = child_config(keep, dir);
            let cfg = crate::config::parse(Path::new("test.toml"), &text).unwrap();
            assert_eq!(cfg.run.keep_audit_state, keep, "{text}");
            assert_eq!(cfg.rules.rules_dir.as_deref(), dir.map(Path::new), "{text}");
            assert_eq!(cfg.run.outputs, None, "the host's outputs never get test findings");
            assert!(cfg.allow.is_empty());
        }
    }

    #[test]
    fn only_the_tests_own_finding_counts() {
        let ours = finding(SOCK, 4242);
        let health =
            r#"{"kind":"health","event":"records_lost","level":"warning","message":"lost 3"}"#;
        let cases: [(String, bool); 7] = [
            (format!("{ours}\n"), true),
            (format!("{health}\n{ours}\n"), true),
            // Still being written: its newline has not come.
            (ours.clone(), false),
            // Another process, another socket.
            (format!("{}\n", finding(SOCK, 4243)), false),
            (format!("{}\n", finding("/run/docker.sock", 4242)), false),
            // A SW-1001 on the socket file is no connect.
            (format!("{}\n", ours.replace("TRC-1019", "SW-1001")), false),
            (String::new(), false),
        ];
        for (text, want) in cases {
            let out = read_output(&text, WANT);
            assert_eq!(out.found.is_some(), want, "{text}");
            if let Some(r) = out.found {
                assert_eq!(r.line, ours);
                assert_eq!(
                    (r.runtime.as_str(), r.comm.as_str(), r.success),
                    ("unknown", "sockwatch-test", true)
                );
            }
        }
        let out = read_output(&format!("{health}\nnot json\n{ours}\n"), WANT);
        assert_eq!(out.health, vec![("warning".into(), "records_lost".into(), "lost 3".into())]);
        assert_eq!(out.not_json, 1);
        let line = passed(&read_output(&format!("{ours}\n"), WANT).found.unwrap(), WANT, 37);
        assert!(
            line.contains("pid 4242") && line.contains(SOCK) && line.contains("37 ms"),
            "{line}"
        );
    }

    #[test]
    fn why_no_finding_came() {
        let never = r#"{"kind":"health","event":"audit_task_never","level":"error","message":"m"}"#;
        let lost = r#"{"kind":"health","event":"records_lost","level":"warning","message":"m"}"#;
        let info = r#"{"kind":"health","event":"socket_watched","level":"info","message":"m"}"#;
        let stopped = |c: &str| {
            format!(
                "sockwatch: info: ready\nsockwatch: info: stopped: records=9 {c} lost_enobufs=0\n"
            )
        };
        let cases: [(String, String, &str); 7] = [
            (format!("{never}\n"), stopped("findings=0 host=0"), "-a never,task"),
            (String::new(), stopped("findings=0 host=1"), "taken for a host process"),
            (String::new(), stopped("findings=1 host=0"), "not for the test process"),
            (
                format!("{}\n", finding(SOCK, 4242)),
                stopped("findings=1 host=0"),
                "came only after the 10 s timeout",
            ),
            (
                String::new(),
                stopped("findings=0 host=0"),
                "no audit record of the test process's connect arrived within 10 s",
            ),
            // No counters (the run was killed): the plain reason.
            (format!("{info}\n"), String::new(), "arrived within 10 s"),
            (
                format!("{lost}\n{never}\n"),
                stopped("host=0"),
                "(-a never,task) gives every process created while it is loaded no audit context, so the test process's connect left no audit record (the run also reported records_lost)",
            ),
        ];
        for (jsonl, log, want) in cases {
            let why = why_not(&read_output(&jsonl, WANT), &log, 10);
            assert!(why.contains(want), "{why:?} lacks {want:?}");
            assert!(!why.contains("socket_watched"), "info events are no reason: {why}");
        }
    }
}
