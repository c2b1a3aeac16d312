//! The kernel's `struct audit_rule_data` as bytes: what any listed rule says,
//! whether a crate can decode it or not (others' rules may carry fields no
//! crate knows, and sockwatch's io_uring rule carries one too), and the field
//! sockwatch adds to a rule the crate encoded.

/// `struct audit_rule_data`: flags, action, field_count, mask[64], fields[64],
/// values[64], fieldflags[64], buflen, buf[].
const MASK_WORDS: usize = 64;
const MAX_FIELDS: usize = 64;
const FIELDS_AT: usize = 3 + MASK_WORDS;
const VALUES_AT: usize = FIELDS_AT + MAX_FIELDS;
const FLAGS_AT: usize = VALUES_AT + MAX_FIELDS;
const BUFLEN_AT: usize = FLAGS_AT + MAX_FIELDS;

pub fn word(raw: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(raw.get(i * 4..i * 4 + 4)?.try_into().ok()?))
}

/// The defined part of a rule: the header, the words and `buflen` bytes of
/// strings (a reply may carry padding after it).
fn defined(raw: &[u8]) -> Option<&[u8]> {
    let buflen = word(raw, BUFLEN_AT)? as usize;
    raw.get(..(BUFLEN_AT + 1) * 4 + buflen)
}

/// Whether two rules are the same rule, byte for byte in what they define.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    matches!((defined(a), defined(b)), (Some(a), Some(b)) if a == b)
}

/// A field's value: a number, or (for string fields) its bytes from `buf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Num(u32),
    Str(Vec<u8>),
}

/// The fields of a rule, in order, as far as the bytes hold them.
pub fn fields(raw: &[u8]) -> Vec<(u32, u32, Value)> {
    let count = word(raw, 2).unwrap_or(0).min(MAX_FIELDS as u32) as usize;
    let buf = raw.get((BUFLEN_AT + 1) * 4..).unwrap_or_default();
    let mut at = 0usize;
    let mut out = Vec::new();
    for i in 0..count {
        let (Some(field), Some(value), Some(op)) =
            (word(raw, FIELDS_AT + i), word(raw, VALUES_AT + i), word(raw, FLAGS_AT + i))
        else {
            break;
        };
        let value = if is_string_field(field) {
            let len = value as usize;
            let s = buf.get(at..at.saturating_add(len)).unwrap_or_default().to_vec();
            at = at.saturating_add(len);
            Value::Str(s)
        } else {
            Value::Num(value)
        };
        out.push((field, op, value));
    }
    out
}

/// Appends a numeric field to a rule's bytes (its strings stay where they are:
/// they belong to the string fields in order, and this one is not a string).
pub fn push_field(raw: &mut [u8], field: u32, op: u32, value: u32) {
    let n = word(raw, 2).unwrap_or(0) as usize;
    assert!(n < MAX_FIELDS && !is_string_field(field), "a numeric field, and room for it");
    let mut put = |i: usize, v: u32| raw[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
    put(FIELDS_AT + n, field);
    put(VALUES_AT + n, value);
    put(FLAGS_AT + n, op);
    put(2, n as u32 + 1);
}

/// A rule in auditctl's words, as far as its fields are known.
pub fn rule_text(raw: &[u8], head: &str) -> String {
    let mut out = format!("-a {head}");
    for (field, op, value) in fields(raw) {
        let op = match op {
            0x4000_0000 => "=",
            0x3000_0000 => "!=",
            0x1000_0000 => "<",
            0x2000_0000 => ">",
            0x5000_0000 => "<=",
            0x6000_0000 => ">=",
            0x0800_0000 => "&",
            0x4800_0000 => "&=",
            _ => "?",
        };
        let name = field_name(field);
        let shown = match value {
            Value::Str(s) => String::from_utf8_lossy(&s).into_owned(),
            Value::Num(0xc000_003e) if name == "arch" => "b64".into(),
            Value::Num(0x4000_0003) if name == "arch" => "b32".into(),
            Value::Num(v) if name == "arch" => format!("{v:#x}"),
            Value::Num(v) => (v as i32).to_string(),
        };
        out.push_str(&format!(" -F {name}{op}{shown}"));
    }
    out
}

fn is_string_field(field: u32) -> bool {
    matches!(field, 13..=17 | 19..=23 | 105 | 107 | 112 | 210)
}

fn field_name(field: u32) -> String {
    let known = match field {
        0 => "pid",
        1 => "uid",
        2 => "euid",
        3 => "suid",
        4 => "fsuid",
        5 => "gid",
        6 => "egid",
        7 => "sgid",
        8 => "fsgid",
        9 => "auid",
        10 => "pers",
        11 => "arch",
        12 => "msgtype",
        13 => "subj_user",
        14 => "subj_role",
        15 => "subj_type",
        16 => "subj_sen",
        17 => "subj_clr",
        18 => "ppid",
        19 => "obj_user",
        20 => "obj_role",
        21 => "obj_type",
        22 => "obj_lev_low",
        23 => "obj_lev_high",
        24 => "loginuid_set",
        25 => "sessionid",
        26 => "fstype",
        105 => "path",
        107 => "dir",
        112 => "exe",
        113 => "saddr_fam",
        210 => "key",
        _ => return format!("field#{field}"),
    };
    known.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::rules::{RuleSpec, rule_set};

    #[test]
    fn a_rule_reads_back_field_by_field() {
        let r = &rule_set(&["/run/docker.sock".into()], &[crate::core::abi::X86_64])[0];
        let raw = r.bytes();
        assert_eq!(
            fields(&raw),
            [
                (11, 0x4000_0000, Value::Num(0xc000_003e)),
                (105, 0x4000_0000, Value::Str(b"/run/docker.sock".to_vec())),
                (210, 0x4000_0000, Value::Str(b"sockwatch".to_vec())),
            ]
        );
        assert_eq!(
            rule_text(&raw, "always,exit"),
            "-a always,exit -F arch=b64 -F path=/run/docker.sock -F key=sockwatch"
        );
    }

    #[test]
    fn the_same_rule_with_padding_after_it_is_the_same_and_short_bytes_are_none() {
        let raw = RuleSpec::Uring.bytes();
        let mut padded = raw.clone();
        padded.extend_from_slice(&[0, 0, 0]);
        assert!(same(&raw, &padded));
        assert!(!same(&raw, &raw[..raw.len() - 1]));
        assert!(!same(&raw[..8], &raw[..8]), "no rule at all is not a rule");
        // Cut anywhere, read without a panic.
        for n in 0..raw.len() {
            let _ = fields(&raw[..n]);
            let _ = rule_text(&raw[..n], "x");
        }
    }

    #[test]
    fn a_string_length_beyond_the_buffer_reads_as_empty() {
        let mut raw = RuleSpec::Uring.bytes();
        // The key's length, claimed far larger than the buffer.
        let at = VALUES_AT * 4;
        raw[at..at + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(fields(&raw)[0], (210, 0x4000_0000, Value::Str(Vec::new())));
    }
}
