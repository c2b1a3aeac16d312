//! NETLINK_AUDIT datagrams from the kernel: the record intake's reading (one
//! record a datagram, the type from the header, the length field not trusted),
//! the control channel's framing (`io::netlink::messages`), and what is read
//! from each message: a record, and a listed audit rule as the kernel's bytes
//! (`rule_data::fields`, `same` and `rule_text`; what `rules status`, `rules
//! remove` and `doctor` make of it; the task-list `never` check).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwatch::core::abi::{I386, X86_64};
use sockwatch::core::blind::task_never;
use sockwatch::core::record::Record;
use sockwatch::core::rule_data::{Value, fields, rule_text, same};
use sockwatch::core::rules::{RuleSpec, carries_our_key, copies, describe_listed, rule_set};
use sockwatch::io::netlink::{HEADER_LEN, messages};
use std::sync::OnceLock;

/// sockwatch's own rules for the Docker socket on x86 (64 and 32 bits), and
/// their bytes.
fn ours() -> &'static (Vec<RuleSpec>, Vec<Vec<u8>>) {
    static RULES: OnceLock<(Vec<RuleSpec>, Vec<Vec<u8>>)> = OnceLock::new();
    RULES.get_or_init(|| {
        let rules = rule_set(&["/run/docker.sock".into()], &[X86_64, I386]);
        let bytes = rules.iter().map(RuleSpec::bytes).collect();
        (rules, bytes)
    })
}

fn rule(raw: &[u8]) {
    let fs = fields(raw);
    assert!(fs.len() <= 64, "{} fields", fs.len());
    let text = rule_text(raw, "always,exit");
    assert!(text.matches(" -F ").count() >= fs.len(), "{text}");
    let _ = (task_never(raw), carries_our_key(raw), describe_listed(raw));
    let (rules, bytes) = ours();
    for (spec, ours) in rules.iter().zip(bytes) {
        if same(raw, ours) {
            assert!(same(ours, raw), "same is not symmetric");
            assert!(carries_our_key(raw), "{} without sockwatch's key", spec.describe());
        }
    }
    let listed = [raw.to_vec()];
    let n = copies(rules, &listed);
    assert!(n.iter().all(|&n| n <= 1));
    for ((spec, ours), n) in rules.iter().zip(bytes).zip(n) {
        assert_eq!(n == 1, same(ours, raw), "copies and same differ for {}", spec.describe());
    }
    for (_, _, v) in fs {
        if let Value::Str(s) = v {
            assert!(s.len() <= raw.len());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // io::intake: a datagram shorter than a header is an empty record; netlink's
    // own types (below 16) are skipped; the payload is all after the header.
    if data.len() >= HEADER_LEN {
        let mtype = u16::from_ne_bytes([data[4], data[5]]);
        if mtype >= 16 {
            let _ = Record::parse(mtype, &data[HEADER_LEN..]);
        }
    }
    let mut count = 0usize;
    let mut seen = 0usize;
    for m in messages(data) {
        count += 1;
        assert!(count <= data.len() / HEADER_LEN, "more messages than headers fit");
        seen += HEADER_LEN + m.payload.len();
        assert!(seen <= data.len(), "messages overlap");
        let _ = Record::parse(m.mtype, m.payload);
        rule(m.payload);
    }
    rule(data);
});
