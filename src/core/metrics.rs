//! The counters as a Prometheus text file (exposition format 0.0.4) for
//! node_exporter's textfile collector (`--metrics-file`), and when to write it.
//!
//! Every series a label can take is there from the first write, at 0: every
//! signature, every health event, every output. A series that appears only at
//! its first increment has no earlier sample, so `increase()` and `rate()` miss
//! that first finding, which is the one that matters.
//!
//! The file is written only when a counter changed, and at most every
//! `WRITE_EVERY`: an idle daemon neither wakes nor writes for it. So nothing in
//! the file may change by itself (no "last written" time): what it holds is a
//! function of the counters, `up` and the start time.

use std::fmt::Write;
use std::time::{Duration, Instant};

use super::health::Event;
use super::signature;
use super::stats::Stats;

/// The file is written at most this often: node_exporter is typically scraped
/// every 15 to 60 s, so a shorter interval would write what nobody reads.
pub const WRITE_EVERY: Duration = Duration::from_secs(15);

/// One output's failures, under its name (`jsonl:/var/log/...`, `journald`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputCounts {
    pub name: String,
    /// Writes that failed (each is retried).
    pub errors: u64,
    /// Reports given up on (queue full, or too large for the sink).
    pub dropped: u64,
}

/// What the file says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub stats: Stats,
    pub outputs: Vec<OutputCounts>,
}

/// When the file is next to be written, after a turn of the loop: the deadline
/// already armed stands; otherwise, if the counters differ from the file's, as
/// soon as `WRITE_EVERY` has passed since the last write (at once after a quiet
/// spell); otherwise never (no timer).
pub fn next_write(
    armed: Option<Instant>,
    changed: bool,
    last_write: Instant,
    now: Instant,
) -> Option<Instant> {
    match armed {
        Some(due) => Some(due),
        None if changed => Some(now.max(last_write + WRITE_EVERY)),
        None => None,
    }
}

/// A label's value as the format wants it: `\`, `"` and a newline escaped.
pub fn escape_label(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A HELP text as the format wants it: `\` and a newline escaped.
fn escape_help(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A metric family: its HELP and TYPE lines, then its samples.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        escape_help(help, out);
        out.push_str("\n# TYPE ");
        out.push_str(name);
        out.push(' ');
        out.push_str(kind);
        out.push('\n');
        Family { out, name }
    }

    fn sample(&mut self, value: u64) -> &mut Self {
        let _ = writeln!(self.out, "{} {value}", self.name);
        self
    }

    fn labelled(&mut self, label: &str, label_value: &str, value: u64) -> &mut Self {
        self.out.push_str(self.name);
        self.out.push('{');
        self.out.push_str(label);
        self.out.push_str("=\"");
        escape_label(label_value, self.out);
        let _ = writeln!(self.out, "\"}} {value}");
        self
    }
}

fn counter(out: &mut String, name: &'static str, help: &str, value: u64) {
    Family::new(out, name, "counter", help).sample(value);
}

fn by_signature(out: &mut String, name: &'static str, help: &str, values: &[u64]) {
    let mut f = Family::new(out, name, "counter", help);
    for (id, v) in signature::IDS.iter().zip(values) {
        f.labelled("signature", id, *v);
    }
}

/// The whole file. `up` is false only in the last write, at a clean exit;
/// `start_time` is the start in seconds since the epoch.
pub fn render(s: &Snapshot, up: bool, start_time: u64, out: &mut String) {
    let st = &s.stats;
    out.clear();
    Family::new(
        out,
        "sockwatch_up",
        "gauge",
        "1 while sockwatch run is running; 0 once it has stopped cleanly (its last write)",
    )
    .sample(u64::from(up));
    Family::new(
        out,
        "sockwatch_start_time_seconds",
        "gauge",
        "When this sockwatch run started, in seconds since the epoch; its own counters start from 0 then (the kernel's lost counter is since boot)",
    )
    .sample(start_time);
    by_signature(
        out,
        "sockwatch_findings_total",
        "Findings detected, allowed ones and folded repeats included",
        &st.findings_by_signature,
    );
    by_signature(
        out,
        "sockwatch_findings_allowed_total",
        "Findings the allowlist matched: counted, not written",
        &st.allowed_by_signature,
    );
    by_signature(
        out,
        "sockwatch_findings_emitted_total",
        "Findings written to the outputs (first occurrences and de-duplication summaries)",
        &st.emitted_by_signature,
    );
    let mut h = Family::new(
        out,
        "sockwatch_health_events_total",
        "counter",
        "Health events raised, by event (README: Health events)",
    );
    for e in Event::ALL {
        h.labelled("event", e.name(), st.health_by_event[e.index()]);
    }
    let mut r = Family::new(
        out,
        "sockwatch_responses_total",
        "counter",
        "--respond: containers frozen, processes killed, and responses that failed (each also a response_failed health event)",
    );
    r.labelled("result", "frozen", st.responses_frozen);
    r.labelled("result", "killed", st.responses_killed);
    r.labelled("result", "failed", st.responses_failed);
    counter(
        out,
        "sockwatch_audit_reenabled_total",
        "Times audit was found switched off and turned back on",
        st.audit_reenabled,
    );
    counter(
        out,
        "sockwatch_audit_socket_overflows_total",
        "Overflows (ENOBUFS) of sockwatch's audit socket: each lost an unknown number of records",
        st.lost_enobufs,
    );
    counter(
        out,
        "sockwatch_audit_kernel_lost_total",
        "The kernel's audit lost counter (auditctl -s), counted since boot and read at sockwatch's last check (every 60 s): records the kernel dropped (a full backlog, or a full queue for auditd); not reset when sockwatch restarts",
        st.kernel_lost,
    );
    counter(
        out,
        "sockwatch_process_events_lost_total",
        "Overflows (ENOBUFS) of the process connector: the process history was rebuilt",
        st.lost_proc_events,
    );
    counter(out, "sockwatch_audit_records_total", "Audit records read", st.records);
    counter(
        out,
        "sockwatch_audit_records_malformed_total",
        "Audit records that could not be parsed (counted and logged at debug)",
        st.malformed_records,
    );
    counter(
        out,
        "sockwatch_audit_records_unknown_type_total",
        "Audit records of a type outside the known ranges",
        st.unknown_record_types,
    );
    counter(out, "sockwatch_audit_events_total", "Audit events assembled", st.events);
    Family::new(
        out,
        "sockwatch_audit_events_incomplete_total",
        "counter",
        "Audit events closed without their EOE record: timed out, or evicted from a full table",
    )
    .labelled("reason", "timeout", st.events_timed_out)
    .labelled("reason", "evicted", st.events_evicted);
    counter(out, "sockwatch_connects_total", "Connects found in audit events", st.connects);
    Family::new(
        out,
        "sockwatch_connects_skipped_total",
        "counter",
        "Connects that were no finding: not to a watched socket, not AF_UNIX, or by a host process",
    )
    .labelled("reason", "not_watched", st.skipped_not_watched)
    .labelled("reason", "not_unix", st.skipped_not_unix)
    .labelled("reason", "host", st.skipped_host);
    counter(
        out,
        "sockwatch_connects_unattributed_total",
        "Connects whose process had exited with its ancestors before its container could be found",
        st.unattributed,
    );
    counter(
        out,
        "sockwatch_connects_unchecked_total",
        "Connects whose address could not be resolved in time (a stalled file system): not checked",
        st.connects_unchecked,
    );
    counter(
        out,
        "sockwatch_lookups_stalled_total",
        "Path lookups in a process's root that did not answer in time, or were refused for that",
        st.lookups_stalled,
    );
    counter(
        out,
        "sockwatch_processes_vanished_total",
        "Connecting processes gone from /proc before they could be read",
        st.proc_vanished,
    );
    let mut e = Family::new(
        out,
        "sockwatch_output_errors_total",
        "counter",
        "Writes to an output that failed (each is retried)",
    );
    for o in &s.outputs {
        e.labelled("output", &o.name, o.errors);
    }
    let mut d = Family::new(
        out,
        "sockwatch_output_dropped_total",
        "counter",
        "Findings and health events an output never got: its queue was full, or it could not take them",
    );
    for o in &s.outputs {
        d.labelled("output", &o.name, o.dropped);
    }
    counter(
        out,
        "sockwatch_metrics_write_errors_total",
        "Writes of this file that failed (seen here once a later write succeeds)",
        st.metrics_write_errors,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// One sample: the metric's name, its labels, its value.
    type Sample = (String, BTreeMap<String, String>, f64);

    /// Reads text in exposition format 0.0.4 as node_exporter's parser does,
    /// and also refuses what it would refuse: a sample before its family's
    /// TYPE, a family split in two, a TYPE or HELP given twice, a bad name, a
    /// bad escape, a duplicate series, a timestamp (the textfile collector
    /// takes none).
    fn parse(text: &str) -> Result<Vec<Sample>, String> {
        fn name_ok(n: &str) -> bool {
            let mut b = n.bytes();
            b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
                && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        }
        if !text.ends_with('\n') {
            return Err("no final newline".into());
        }
        let mut typed: BTreeMap<String, String> = BTreeMap::new();
        let mut helped = BTreeSet::new();
        let mut done = BTreeSet::new();
        let mut current: Option<String> = None;
        let mut series = BTreeSet::new();
        let mut samples = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let at = |m: &str| format!("line {}: {m}: {line:?}", n + 1);
            let mut family = |name: &str, current: &mut Option<String>| -> Result<(), String> {
                if current.as_deref() != Some(name) {
                    if let Some(c) = current.take() {
                        done.insert(c);
                    }
                    if done.contains(name) {
                        return Err(at("family split in two"));
                    }
                    *current = Some(name.to_string());
                }
                Ok(())
            };
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').ok_or_else(|| at("no help text"))?;
                if !name_ok(name) || !helped.insert(name.to_string()) {
                    return Err(at("bad or repeated HELP"));
                }
                if help.replace("\\\\", "").replace("\\n", "").contains('\\') {
                    return Err(at("bad escape in HELP"));
                }
                family(name, &mut current)?;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or_else(|| at("no type"))?;
                if !["counter", "gauge", "untyped", "summary", "histogram"].contains(&kind) {
                    return Err(at("unknown type"));
                }
                if typed.insert(name.to_string(), kind.to_string()).is_some() {
                    return Err(at("TYPE given twice"));
                }
                family(name, &mut current)?;
            } else if line.starts_with('#') || line.is_empty() {
                continue;
            } else {
                let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value"))?;
                let name = &line[..name_end];
                if !name_ok(name) {
                    return Err(at("bad metric name"));
                }
                if !typed.contains_key(name) {
                    return Err(at("sample before its TYPE"));
                }
                family(name, &mut current)?;
                let mut labels = BTreeMap::new();
                let mut rest = &line[name_end..];
                if let Some(r) = rest.strip_prefix('{') {
                    let mut chars = r.char_indices().peekable();
                    loop {
                        let start = chars.peek().ok_or_else(|| at("unclosed labels"))?.0;
                        if r[start..].starts_with('}') {
                            rest = &r[start + 1..];
                            break;
                        }
                        let eq = r[start..].find("=\"").ok_or_else(|| at("bad label"))? + start;
                        let lname = &r[start..eq];
                        if !name_ok(lname) || lname.contains(':') {
                            return Err(at("bad label name"));
                        }
                        while chars.peek().is_some_and(|(i, _)| *i <= eq + 1) {
                            chars.next();
                        }
                        let mut value = String::new();
                        loop {
                            match chars.next().ok_or_else(|| at("unclosed value"))?.1 {
                                '"' => break,
                                '\\' => match chars.next().ok_or_else(|| at("bad escape"))?.1 {
                                    '\\' => value.push('\\'),
                                    '"' => value.push('"'),
                                    'n' => value.push('\n'),
                                    _ => return Err(at("bad escape")),
                                },
                                '\n' => return Err(at("raw newline")),
                                c => value.push(c),
                            }
                        }
                        if labels.insert(lname.to_string(), value).is_some() {
                            return Err(at("label given twice"));
                        }
                        if let Some((_, ',')) = chars.peek() {
                            chars.next();
                        }
                    }
                }
                let value = rest.strip_prefix(' ').ok_or_else(|| at("no space before value"))?;
                if value.contains(' ') {
                    return Err(at("a timestamp, or trailing text"));
                }
                let v: f64 = value.parse().map_err(|_| at("bad value"))?;
                if !series.insert((name.to_string(), labels.clone())) {
                    return Err(at("duplicate series"));
                }
                samples.push((name.to_string(), labels, v));
            }
        }
        Ok(samples)
    }

    fn value(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> Option<f64> {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && match label {
                        Some((k, v)) => l.get(k).map(String::as_str) == Some(v),
                        None => l.is_empty(),
                    }
            })
            .map(|s| s.2)
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            stats: Stats::default(),
            outputs: vec![
                OutputCounts { name: "stdout".into(), errors: 0, dropped: 0 },
                OutputCounts {
                    name: "jsonl:/var/log/sockwatch/f.jsonl".into(),
                    errors: 3,
                    dropped: 1,
                },
            ],
        }
    }

    fn rendered(s: &Snapshot) -> String {
        let mut out = String::new();
        render(s, true, 1_764_000_000, &mut out);
        out
    }

    #[test]
    fn every_signature_and_health_event_is_there_from_the_start_at_zero() {
        let text = rendered(&snapshot());
        let samples = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        for name in [
            "sockwatch_findings_total",
            "sockwatch_findings_allowed_total",
            "sockwatch_findings_emitted_total",
        ] {
            for id in signature::IDS {
                assert_eq!(
                    value(&samples, name, Some(("signature", id))),
                    Some(0.0),
                    "{name} {id}"
                );
            }
        }
        for id in ["TRC-1019", "SW-1001", "SW-1002"] {
            assert!(text.contains(&format!("sockwatch_findings_total{{signature=\"{id}\"}} 0\n")));
        }
        for e in Event::ALL {
            let v = value(&samples, "sockwatch_health_events_total", Some(("event", e.name())));
            assert_eq!(v, Some(0.0), "{}", e.name());
        }
        assert_eq!(value(&samples, "sockwatch_up", None), Some(1.0));
        assert_eq!(value(&samples, "sockwatch_start_time_seconds", None), Some(1_764_000_000.0));
        let jsonl = Some(("output", "jsonl:/var/log/sockwatch/f.jsonl"));
        assert_eq!(value(&samples, "sockwatch_output_errors_total", jsonl), Some(3.0));
        assert_eq!(value(&samples, "sockwatch_output_dropped_total", jsonl), Some(1.0));
        assert_eq!(
            value(&samples, "sockwatch_output_errors_total", Some(("output", "stdout"))),
            Some(0.0)
        );
    }

    #[test]
    fn families_are_well_formed_and_counters_end_in_total() {
        let text = rendered(&snapshot());
        let mut helped = 0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(name.starts_with("sockwatch_"), "{name}");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
                assert!(text.contains(&format!("# HELP {name} ")), "{name} has a HELP line");
                helped += 1;
            }
        }
        assert!(helped >= 20, "{text}");
        assert!(!text.contains("\n\n"));
    }

    #[test]
    fn the_counters_are_what_the_stats_say() {
        let mut s = snapshot();
        s.stats.findings_by_signature[signature::index(&signature::DOCKER_ABUSE)] = 2;
        s.stats.allowed_by_signature[signature::index(&signature::SOCKET_WORLD_WRITABLE)] = 1;
        s.stats.health_by_event[Event::RulesRestored.index()] = 4;
        s.stats.lost_enobufs = 5;
        s.stats.kernel_lost = 6;
        s.stats.events_timed_out = 7;
        s.stats.skipped_host = 8;
        s.stats.audit_reenabled = 9;
        let text = rendered(&s);
        let samples = parse(&text).unwrap();
        let v = |n, l| value(&samples, n, l);
        assert_eq!(v("sockwatch_findings_total", Some(("signature", "TRC-1019"))), Some(2.0));
        assert_eq!(
            v("sockwatch_findings_allowed_total", Some(("signature", "SW-1001"))),
            Some(1.0)
        );
        assert_eq!(
            v("sockwatch_health_events_total", Some(("event", "rules_restored"))),
            Some(4.0)
        );
        assert_eq!(v("sockwatch_audit_socket_overflows_total", None), Some(5.0));
        assert_eq!(v("sockwatch_audit_kernel_lost_total", None), Some(6.0));
        assert_eq!(
            v("sockwatch_audit_events_incomplete_total", Some(("reason", "timeout"))),
            Some(7.0)
        );
        assert_eq!(v("sockwatch_connects_skipped_total", Some(("reason", "host"))), Some(8.0));
        assert_eq!(v("sockwatch_audit_reenabled_total", None), Some(9.0));
        let mut stopped = String::new();
        render(&s, false, 1, &mut stopped);
        assert_eq!(value(&parse(&stopped).unwrap(), "sockwatch_up", None), Some(0.0));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = snapshot();
        let nasty = "jsonl:/tmp/a\"b\\c\nd} x=\"1\"";
        s.outputs.push(OutputCounts { name: nasty.into(), errors: 2, dropped: 0 });
        let text = rendered(&s);
        assert!(
            text.contains(
                "sockwatch_output_errors_total{output=\"jsonl:/tmp/a\\\"b\\\\c\\nd} x=\\\"1\\\"\"} 2\n"
            ),
            "{text}"
        );
        let samples = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            value(&samples, "sockwatch_output_errors_total", Some(("output", nasty))),
            Some(2.0)
        );
        let mut out = String::new();
        escape_label("plain ünïcode", &mut out);
        assert_eq!(out, "plain ünïcode");
    }

    #[test]
    fn the_checker_refuses_what_node_exporter_refuses() {
        let ok = "# HELP a_total x\n# TYPE a_total counter\na_total 1\n";
        assert!(parse(ok).is_ok());
        for bad in [
            "a_total 1\n",
            "# TYPE a_total counter\na_total{x=\"\\q\"} 1\n",
            "# TYPE a_total counter\na_total 1 1700000000\n",
            "# TYPE a_total counter\na_total 1\na_total 2\n",
            "# TYPE a counter\n# TYPE b counter\na 1\n",
            "# TYPE a_total counter\na_total{x=\"1} 1\n",
            "# TYPE a_total counter\na_total one\n",
            "# TYPE a_total counter\na_total 1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_same_counters_make_the_same_file() {
        // Nothing in the file changes by itself: an idle daemon has nothing to write.
        assert_eq!(rendered(&snapshot()), rendered(&snapshot()));
    }

    #[test]
    fn writes_are_due_only_after_a_change_and_at_most_every_interval() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // Idle: nothing armed, nothing to write, no timer.
        assert_eq!(next_write(None, false, t0, t0 + s(3600)), None);
        // A change after a quiet spell: at once.
        assert_eq!(next_write(None, true, t0, t0 + s(60)), Some(t0 + s(60)));
        // A change soon after a write: when the interval is up.
        assert_eq!(next_write(None, true, t0, t0 + s(1)), Some(t0 + WRITE_EVERY));
        // Armed: further changes do not move it, and it stands without one.
        let due = t0 + WRITE_EVERY;
        assert_eq!(next_write(Some(due), true, t0, t0 + s(2)), Some(due));
        assert_eq!(next_write(Some(due), false, t0, t0 + s(2)), Some(due));
    }
}
