//! journald's audit transport turned back into audit log lines, so that
//! `journalctl -o export` and `-o json` output scans exactly as auditd's log.
//!
//! journald stores each kernel record as one entry: `_TRANSPORT=audit`,
//! `_AUDIT_TYPE` (the number), `_AUDIT_ID` (the serial), the stamp as
//! `_SOURCE_REALTIME_TIMESTAMP` (microseconds: seconds and the stamp's
//! milliseconds), and `MESSAGE`, the type's name, a space and the record's body
//! as the kernel wrote it. Only `_TRANSPORT=audit` counts: fields that start
//! with `_` are journald's own, which no client can set, whereas a container's
//! output reaches the journal through other transports with any MESSAGE it
//! likes, whole forged records included.

/// The fields of one journal entry that an audit record needs, reused from
/// entry to entry.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Entry {
    pub transport: Vec<u8>,
    pub audit_type: Vec<u8>,
    pub audit_id: Vec<u8>,
    pub realtime: Vec<u8>,
    pub message: Vec<u8>,
    pub hostname: Vec<u8>,
    /// Which of the fields above were set (bit per field, in that order).
    seen: u8,
}

/// The longest value kept: a kernel record is under 9 KiB.
pub const MAX_VALUE: usize = 64 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryError {
    /// An audit entry without one of the fields a record needs.
    Missing(&'static str),
    /// A field that is not the number it must be.
    NotANumber(&'static str),
    /// A value longer than `MAX_VALUE`.
    TooLong,
    /// A field `journalctl -o json` wrote as null: without `--all` it leaves out
    /// every value of 4096 bytes or more, so a record is missing, not damaged.
    Omitted(&'static str),
    /// An array of bytes with an element that is no byte.
    NotBytes(&'static str),
}

impl std::fmt::Display for EntryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryError::Missing(n) => write!(f, "an audit journal entry without {n}"),
            EntryError::NotANumber(n) => {
                write!(f, "an audit journal entry whose {n} is not a number")
            }
            EntryError::TooLong => write!(f, "a journal field longer than {MAX_VALUE} bytes"),
            EntryError::Omitted(n) => write!(
                f,
                "an audit journal entry whose {n} journalctl left out (null: 4096 bytes or more, without --all); read the journal with -o export or -o json --all"
            ),
            EntryError::NotBytes(n) => {
                write!(f, "an audit journal entry whose {n} is an array of other than bytes")
            }
        }
    }
}

const FIELDS: [&[u8]; 6] = [
    b"_TRANSPORT",
    b"_AUDIT_TYPE",
    b"_AUDIT_ID",
    b"_SOURCE_REALTIME_TIMESTAMP",
    b"MESSAGE",
    b"_HOSTNAME",
];

/// FIELDS as text, for the JSON form's keys and the messages.
const FIELDS_TEXT: [&str; 6] = [
    "_TRANSPORT",
    "_AUDIT_TYPE",
    "_AUDIT_ID",
    "_SOURCE_REALTIME_TIMESTAMP",
    "MESSAGE",
    "_HOSTNAME",
];

impl Entry {
    pub fn clear(&mut self) {
        self.seen = 0;
    }

    /// Whether a field of this name is one a record needs.
    pub fn wants(name: &[u8]) -> bool {
        FIELDS.contains(&name)
    }

    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }

    /// Takes one field; others are ignored, and only the first of a repeated
    /// field counts. A value too long for any record is an error.
    pub fn set(&mut self, name: &[u8], value: &[u8]) -> Result<(), EntryError> {
        let Some(i) = FIELDS.iter().position(|f| *f == name) else { return Ok(()) };
        if self.seen & (1 << i) != 0 {
            return Ok(());
        }
        if value.len() > MAX_VALUE {
            return Err(EntryError::TooLong);
        }
        self.seen |= 1 << i;
        let slot = match i {
            0 => &mut self.transport,
            1 => &mut self.audit_type,
            2 => &mut self.audit_id,
            3 => &mut self.realtime,
            4 => &mut self.message,
            _ => &mut self.hostname,
        };
        slot.clear();
        slot.extend_from_slice(value);
        Ok(())
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        if self.seen & (1 << i) == 0 {
            return None;
        }
        Some(match i {
            0 => &self.transport,
            1 => &self.audit_type,
            2 => &self.audit_id,
            3 => &self.realtime,
            4 => &self.message,
            _ => &self.hostname,
        })
    }

    /// Whether the entry came through journald's audit transport.
    pub fn is_audit(&self) -> bool {
        self.get(0) == Some(b"audit")
    }

    /// The entry as an audit log line in `out` (cleared first):
    /// `[node=HOST ]type=TYPE msg=audit(SEC.MSEC:SERIAL): BODY`. `Ok(false)` for
    /// an entry of another transport, which is not a record whatever it says.
    pub fn line(&self, out: &mut Vec<u8>) -> Result<bool, EntryError> {
        out.clear();
        if !self.is_audit() {
            return Ok(false);
        }
        let number = |i: usize, name: &'static str| -> Result<u64, EntryError> {
            let v = self.get(i).ok_or(EntryError::Missing(name))?;
            if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
                return Err(EntryError::NotANumber(name));
            }
            Ok(v.iter().fold(0, |n, c| n * 10 + u64::from(c - b'0')))
        };
        let rtype = number(1, "_AUDIT_TYPE")?;
        let serial = number(2, "_AUDIT_ID")?;
        let micros = number(3, "_SOURCE_REALTIME_TIMESTAMP")?;
        let message = self.get(4).ok_or(EntryError::Missing("MESSAGE"))?;
        // MESSAGE is the type's name, a space, and the body.
        let body = match memchr::memchr(b' ', message) {
            Some(sp) => &message[sp + 1..],
            None => &[][..],
        };
        // A host name is one word (journald's, from the host's own name), or
        // it would not read back as `node=`.
        if let Some(host) =
            self.get(5).filter(|h| !h.is_empty() && !h.iter().any(|b| b.is_ascii_whitespace()))
        {
            out.extend_from_slice(b"node=");
            out.extend_from_slice(host);
            out.push(b' ');
        }
        let (secs, millis) = (micros / 1_000_000, micros / 1000 % 1000);
        out.extend_from_slice(
            format!("type={rtype} msg=audit({secs}.{millis:03}:{serial}): ").as_bytes(),
        );
        out.extend_from_slice(body);
        Ok(true)
    }

    /// Takes the fields of one `journalctl -o json` line. A field's value is a
    /// string, an array of bytes (a value that is not text), or an array of
    /// either (a repeated field: the first counts).
    pub fn from_json(&mut self, v: &serde_json::Value) -> Result<(), EntryError> {
        self.clear();
        let Some(obj) = v.as_object() else { return Ok(()) };
        let mut bytes = Vec::new();
        let mut omitted = None;
        for (name, key) in FIELDS.iter().zip(FIELDS_TEXT) {
            let Some(mut val) = obj.get(key) else { continue };
            if let Some(first) = val.as_array().and_then(|a| a.first()).filter(|f| !f.is_number()) {
                val = first;
            }
            bytes.clear();
            match val {
                serde_json::Value::String(s) => bytes.extend_from_slice(s.as_bytes()),
                serde_json::Value::Array(a) => {
                    for b in a {
                        match b.as_u64().and_then(|b| u8::try_from(b).ok()) {
                            Some(b) => bytes.push(b),
                            None => return Err(EntryError::NotBytes(key)),
                        }
                    }
                }
                serde_json::Value::Null => {
                    omitted.get_or_insert(key);
                    continue;
                }
                _ => continue,
            }
            self.set(name, &bytes)?;
        }
        match omitted {
            Some(key) => Err(EntryError::Omitted(key)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fields: &[(&str, &str)]) -> Entry {
        let mut e = Entry::default();
        for (k, v) in fields {
            e.set(k.as_bytes(), v.as_bytes()).unwrap();
        }
        e
    }

    const AUDIT: [(&str, &str); 6] = [
        ("_TRANSPORT", "audit"),
        ("_AUDIT_TYPE", "1300"),
        ("_AUDIT_ID", "4567"),
        ("_SOURCE_REALTIME_TIMESTAMP", "1732790000123000"),
        ("MESSAGE", "SYSCALL arch=c000003e syscall=42 success=yes exit=0"),
        ("_HOSTNAME", "web-1"),
    ];

    #[test]
    fn entries_to_lines() {
        let line = |e: &Entry| {
            let mut out = Vec::new();
            e.line(&mut out).map(|taken| taken.then(|| String::from_utf8(out).unwrap()))
        };
        let want = "node=web-1 type=1300 msg=audit(1732790000.123:4567): arch=c000003e syscall=42 success=yes exit=0";
        assert_eq!(line(&entry(&AUDIT)), Ok(Some(want.into())));
        // The line reads back as the record it was.
        let mut out = Vec::new();
        entry(&AUDIT).line(&mut out).unwrap();
        let r = crate::core::logline::parse(&out).unwrap().unwrap();
        assert_eq!((r.rtype, r.stamp.serial, r.stamp.msec), (1300, 4567, 123));
        // Another transport is never a record, whatever its MESSAGE says.
        let mut forged = AUDIT;
        forged[0] = ("_TRANSPORT", "stdout");
        assert_eq!(line(&entry(&forged)), Ok(None));
        assert_eq!(line(&entry(&AUDIT[1..])), Ok(None));
        // Damage is an error naming the field.
        for (i, err) in [
            (1, EntryError::Missing("_AUDIT_TYPE")),
            (2, EntryError::Missing("_AUDIT_ID")),
            (3, EntryError::Missing("_SOURCE_REALTIME_TIMESTAMP")),
            (4, EntryError::Missing("MESSAGE")),
        ] {
            let mut fields = AUDIT.to_vec();
            fields.remove(i);
            assert_eq!(line(&entry(&fields)), Err(err));
        }
        let mut bad = AUDIT;
        bad[2] = ("_AUDIT_ID", "12x");
        assert_eq!(line(&entry(&bad)), Err(EntryError::NotANumber("_AUDIT_ID")));
        // No host name, or one that is not a single word: no node=.
        let mut spaced = AUDIT;
        spaced[5] = ("_HOSTNAME", "a b");
        assert!(line(&entry(&spaced)).unwrap().unwrap().starts_with("type=1300 "));
        assert!(line(&entry(&AUDIT[..5])).unwrap().unwrap().starts_with("type=1300 "));
        // The first of a repeated field counts; a huge value is refused.
        let mut e = entry(&AUDIT);
        e.set(b"_TRANSPORT", b"stdout").unwrap();
        assert!(e.is_audit());
        assert_eq!(e.set(b"MESSAGE", &vec![b'x'; MAX_VALUE + 1]), Ok(()), "already set");
        let mut e = Entry::default();
        assert_eq!(e.set(b"MESSAGE", &vec![b'x'; MAX_VALUE + 1]), Err(EntryError::TooLong));
    }

    #[test]
    fn json_values_strings_bytes_and_repeats() {
        let v = serde_json::json!({
            "_TRANSPORT": "audit", "_AUDIT_TYPE": "1306", "_AUDIT_ID": ["77", "78"],
            "_SOURCE_REALTIME_TIMESTAMP": "1000005000",
            "MESSAGE": "SOCKADDR saddr=01".bytes().collect::<Vec<u8>>(),
            "__CURSOR": "s=1",
        });
        let mut e = Entry::default();
        e.from_json(&v).unwrap();
        let mut out = Vec::new();
        assert_eq!(e.line(&mut out), Ok(true));
        assert_eq!(out, b"type=1306 msg=audit(1000.005:77): saddr=01");
        e.from_json(&serde_json::json!({"MESSAGE": "x", "_TRANSPORT": "syslog"})).unwrap();
        assert_eq!(e.line(&mut out), Ok(false));
        e.from_json(&serde_json::json!([1, 2])).unwrap();
        assert!(e.is_empty());
        // journalctl -o json without --all writes a field of 4096 bytes or more
        // as null: that record is missing, said as such.
        let mut long = v.clone();
        long["MESSAGE"] = serde_json::Value::Null;
        assert_eq!(e.from_json(&long), Err(EntryError::Omitted("MESSAGE")));
        assert!(e.is_audit(), "the transport is still known");
        let mut wide = v.clone();
        wide["MESSAGE"] = serde_json::json!([65, 300, 66]);
        assert_eq!(e.from_json(&wide), Err(EntryError::NotBytes("MESSAGE")));
    }
}
