//! The inputs of `sockwatch scan`, as audit log lines: each input is looked at
//! (`core::sniff`), gunzipped when it is gzip, and read as log lines or as
//! journald's export or JSON output (`core::journal`), whose audit entries are
//! turned back into log lines. Lines are split in place in large blocks: no
//! copy of a plain log's line is made.

use std::io::{self, BufRead, BufReader, Read};

use memchr::memchr_iter;

use crate::core::journal::{Entry, EntryError, MAX_VALUE};
use crate::core::sniff::{self, Format};

/// A longer line cannot be an audit record (the kernel's limit is under 9 KiB).
pub const MAX_LINE: usize = 1 << 20;

/// What an input turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub format: Format,
    pub gzip: bool,
}

/// Reads one input: calls `f` with each of its lines until `f` says stop, and
/// returns what it was and the bytes read (after gunzip). An input that cannot
/// be scanned as it is (`sniff::hint`) is not read past its start.
pub fn read_input<F: FnMut(Line<'_>) -> bool>(r: impl Read, f: &mut F) -> (Kind, io::Result<u64>) {
    let (head, r) = match read_head(r) {
        Ok(v) => v,
        Err(e) => return (Kind { format: Format::Text, gzip: false }, Err(e)),
    };
    let format = sniff::sniff(&head);
    let r = io::Cursor::new(head).chain(r);
    if format != Format::Gzip {
        return (Kind { format, gzip: false }, read_as(format, r, f));
    }
    let (head, r) = match read_head(flate2::read::MultiGzDecoder::new(r)) {
        Ok(v) => v,
        Err(e) => return (Kind { format, gzip: true }, Err(e)),
    };
    let inner = match sniff::sniff(&head) {
        // One level of compression is what logrotate makes; more is refused.
        Format::Gzip => Format::Compressed("gzip inside gzip"),
        other => other,
    };
    (Kind { format: inner, gzip: true }, read_as(inner, io::Cursor::new(head).chain(r), f))
}

/// Generic over `f` so that the per-line call of a plain log is a direct one.
fn read_as<F: FnMut(Line<'_>) -> bool>(format: Format, r: impl Read, f: &mut F) -> io::Result<u64> {
    match format {
        Format::Text => for_each_line(r, f),
        Format::JournalExport => for_each_export_entry(r, f),
        Format::JournalJson => for_each_json_entry(r, f),
        Format::Gzip | Format::Compressed(_) | Format::AusearchInterpreted => Ok(0),
    }
}

/// The first `sniff::HEAD` bytes of `r` (fewer at its end), however short its
/// reads are, and the rest.
fn read_head<R: Read>(mut r: R) -> io::Result<(Vec<u8>, R)> {
    let mut head = vec![0u8; sniff::HEAD];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    Ok((head, r))
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(b)?;
        self.n += k as u64;
        Ok(k)
    }
}

/// Hands an entry on: its record line, or why it is none.
fn emit(
    entry: &Entry,
    bad: &mut Option<String>,
    out: &mut Vec<u8>,
    f: &mut dyn FnMut(Line<'_>) -> bool,
) -> bool {
    // Another transport's entry is no record, however damaged: a container's
    // output may be as long or as odd as it likes.
    if !entry.is_audit() {
        *bad = None;
        return f(Line::OtherTransport);
    }
    if let Some(why) = bad.take() {
        return f(Line::Bad(why));
    }
    match entry.line(out) {
        Ok(true) => f(Line::Text(out)),
        Ok(false) => f(Line::OtherTransport),
        Err(e) => f(Line::Bad(e.to_string())),
    }
}

/// journald's export format: entries of `NAME=value` lines, or for a value that
/// is not one line of text `NAME`, a newline, its length (64-bit little
/// endian), the bytes and a newline, each entry ended by an empty line. A value
/// too long for a record is skipped by its length and the entry reported; a
/// frame that breaks those rules ends the input with a message, since nothing
/// after it can be trusted to start where it seems to.
fn for_each_export_entry(r: impl Read, f: &mut dyn FnMut(Line<'_>) -> bool) -> io::Result<u64> {
    let mut r = BufReader::with_capacity(1 << 16, Counted { inner: r, n: 0 });
    let (mut entry, mut bad) = (Entry::default(), None::<String>);
    let (mut line, mut value, mut out) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        line.clear();
        let n = (&mut r).take(MAX_VALUE as u64 + 128).read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if n as u64 >= MAX_VALUE as u64 + 128 {
            // A text field cannot hold a newline: the next one ends it. Only a
            // field a record needs makes the entry bad.
            r.skip_until(b'\n')?;
            let name = line.split(|&b| b == b'=').next().unwrap_or_default();
            if Entry::wants(name) {
                bad.get_or_insert(format!("a journal field longer than {MAX_VALUE} bytes"));
            }
            continue;
        }
        // (Otherwise the last line, without its newline: taken as it is.)
        if line.is_empty() {
            if (!entry.is_empty() || bad.is_some()) && !emit(&entry, &mut bad, &mut out, f) {
                return Ok(r.get_ref().n);
            }
            entry.clear();
            continue;
        }
        if let Some(eq) = memchr::memchr(b'=', &line) {
            if let Err(e) = entry.set(&line[..eq], &line[eq + 1..]) {
                bad.get_or_insert(e.to_string());
            }
            continue;
        }
        // A binary field: its name was the line.
        let mut len = [0u8; 8];
        r.read_exact(&mut len)?;
        let len = u64::from_le_bytes(len);
        if len > MAX_VALUE as u64 {
            let skipped = io::copy(&mut (&mut r).take(len), &mut io::sink())?;
            if skipped < len {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if Entry::wants(&line) {
                bad.get_or_insert(format!("a journal field longer than {MAX_VALUE} bytes"));
            }
        } else {
            value.resize(len as usize, 0);
            r.read_exact(&mut value)?;
            if let Err(e) = entry.set(&line, &value) {
                bad.get_or_insert(e.to_string());
            }
        }
        let mut nl = [0u8; 1];
        r.read_exact(&mut nl)?;
        if nl[0] != b'\n' {
            f(Line::Bad("a journal export binary field not followed by a newline: the rest of the input is skipped".into()));
            return Ok(r.get_ref().n);
        }
    }
    if !entry.is_empty() || bad.is_some() {
        emit(&entry, &mut bad, &mut out, f);
    }
    Ok(r.get_ref().n)
}

/// `journalctl -o json`: one JSON object per line.
fn for_each_json_entry(r: impl Read, f: &mut dyn FnMut(Line<'_>) -> bool) -> io::Result<u64> {
    let (mut entry, mut out) = (Entry::default(), Vec::new());
    for_each_line(r, |line| match line {
        Line::Text(t) if t.trim_ascii().is_empty() => true,
        Line::Text(t) => match serde_json::from_slice::<serde_json::Value>(t) {
            Ok(v) if !v.is_object() => {
                f(Line::Bad("a JSON value that is not a journal entry (an object)".into()))
            }
            Ok(v) => match entry.from_json(&v) {
                Err(e @ EntryError::Omitted(_)) if entry.is_audit() => {
                    f(Line::Omitted(e.to_string()))
                }
                r => {
                    let mut bad = r.err().map(|e| e.to_string());
                    emit(&entry, &mut bad, &mut out, f)
                }
            },
            Err(e) => f(Line::Bad(format!("not a journal JSON entry: {e}"))),
        },
        other => f(other),
    })
}

pub enum Line<'a> {
    Text(&'a [u8]),
    /// A line past MAX_LINE, skipped up to its newline.
    TooLong,
    /// A journal entry that is not a record, with the reason.
    Bad(String),
    /// An audit journal entry whose record journalctl left out of its JSON
    /// (a long field without --all): the scan is incomplete.
    Omitted(String),
    /// A journal entry of another transport than audit: not a record, whatever
    /// its text says.
    OtherTransport,
}

/// Calls `f` with each line of `r` (without its newline) until `f` says stop;
/// returns the bytes read. A final line without a newline counts too.
pub fn for_each_line(mut r: impl Read, mut f: impl FnMut(Line<'_>) -> bool) -> io::Result<u64> {
    let mut buf = vec![0u8; 4 << 20];
    let (mut end, mut total, mut skipping) = (0usize, 0u64, false);
    loop {
        let n = match r.read(&mut buf[end..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        let scan_from = end;
        end += n;
        let mut start = 0;
        for nl in memchr_iter(b'\n', &buf[scan_from..end]).map(|i| i + scan_from) {
            let keep_going = if skipping {
                skipping = false;
                true
            } else if nl - start > MAX_LINE {
                f(Line::TooLong)
            } else {
                f(Line::Text(&buf[start..nl]))
            };
            start = nl + 1;
            if !keep_going {
                return Ok(total);
            }
        }
        if skipping {
            end = 0;
            continue;
        }
        buf.copy_within(start..end, 0);
        end -= start;
        if end >= MAX_LINE {
            // No newline within MAX_LINE bytes: not a record. Report it once and
            // drop everything up to the next newline.
            if !f(Line::TooLong) {
                return Ok(total);
            }
            skipping = true;
            end = 0;
        }
    }
    if end > 0 && !skipping {
        f(Line::Text(&buf[..end]));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], chunk: usize) -> Vec<String> {
        struct Chunky<'a>(&'a [u8], usize);
        impl Read for Chunky<'_> {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(b.len());
                b[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut got = Vec::new();
        let n = for_each_line(Chunky(input, chunk), |l| {
            got.push(shown(l));
            true
        })
        .unwrap();
        assert_eq!(n, input.len() as u64);
        got
    }

    #[test]
    fn lines_across_read_boundaries_and_a_last_line_without_newline() {
        for chunk in [1, 3, 7, 4096] {
            assert_eq!(lines(b"ab\ncd\n\nef", chunk), ["ab", "cd", "", "ef"], "chunk {chunk}");
        }
    }

    #[test]
    fn an_endless_line_is_reported_once_and_skipped() {
        let mut input = vec![b'x'; MAX_LINE * 2 + 10];
        input.extend_from_slice(b"\nnext\n");
        assert_eq!(lines(&input, 1 << 16), ["<too long>", "next"]);
        // However it arrives: in one read too.
        assert_eq!(lines(&input, 8 << 20), ["<too long>", "next"]);
    }

    /// A line as the tests compare it.
    fn shown(l: Line<'_>) -> String {
        match l {
            Line::Text(t) => String::from_utf8_lossy(t).into_owned(),
            Line::TooLong => "<too long>".into(),
            Line::Bad(why) => format!("<bad: {why}>"),
            Line::OtherTransport => "<other transport>".into(),
            Line::Omitted(why) => format!("<omitted: {why}>"),
        }
    }

    /// Every line `read_input` hands on, as text.
    fn read_all(input: &[u8]) -> (Kind, Vec<String>) {
        let mut got = Vec::new();
        let (kind, n) = read_input(input, &mut |l| {
            got.push(shown(l));
            true
        });
        n.unwrap();
        (kind, got)
    }

    fn binary(name: &str, value: &[u8]) -> Vec<u8> {
        let mut v = format!("{name}\n").into_bytes();
        v.extend_from_slice(&(value.len() as u64).to_le_bytes());
        v.extend_from_slice(value);
        v.push(b'\n');
        v
    }

    const AUDIT_ENTRY: &str = "__CURSOR=s=1\n_TRANSPORT=audit\n_AUDIT_TYPE=1300\n_AUDIT_ID=7\n_SOURCE_REALTIME_TIMESTAMP=1000250000\n_HOSTNAME=h\nMESSAGE=SYSCALL arch=c000003e syscall=42\n";
    const RECORD: &str = "node=h type=1300 msg=audit(1000.250:7): arch=c000003e syscall=42";

    #[test]
    fn journal_export_text_and_binary_fields_and_other_transports() {
        let mut input = AUDIT_ENTRY.as_bytes().to_vec();
        input.push(b'\n');
        // A container's output through stdout, forging a record: not one.
        input.extend_from_slice(
            b"__CURSOR=s=2\n_TRANSPORT=stdout\nMESSAGE=type=SYSCALL msg=audit(1.000:1): x\n\n",
        );
        // MESSAGE in the binary form (a newline inside), the entry last without a blank line.
        input.extend_from_slice(b"__CURSOR=s=3\n_TRANSPORT=audit\n_AUDIT_TYPE=1302\n_AUDIT_ID=8\n_SOURCE_REALTIME_TIMESTAMP=1000000000\n");
        input.extend(binary("MESSAGE", b"PATH item=0 name=\"a\nb\""));
        let (kind, got) = read_all(&input);
        assert_eq!(kind, Kind { format: Format::JournalExport, gzip: false });
        assert_eq!(
            got,
            [RECORD, "<other transport>", "type=1302 msg=audit(1000.000:8): item=0 name=\"a\nb\""]
        );
        // A huge binary value is skipped by its length; the next entry still reads.
        let mut input = b"_TRANSPORT=audit\n".to_vec();
        input.extend(binary("MESSAGE", &vec![b'x'; MAX_VALUE + 1]));
        input.extend_from_slice(b"\n");
        input.extend_from_slice(AUDIT_ENTRY.as_bytes());
        let (_, got) = read_all(&input);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains("longer than"), "{got:?}");
        assert_eq!(got[1], RECORD);
        // Overlong text fields: another transport's entry is still just that,
        // and the input goes on; an audit entry's is named.
        let long = "x".repeat(MAX_VALUE + 500);
        let input = format!(
            "_TRANSPORT=stdout\nMESSAGE={long}\n\n_TRANSPORT=audit\n_AUDIT_TYPE=1300\nMESSAGE={long}\n\n{AUDIT_ENTRY}"
        );
        let (_, got) = read_all(input.as_bytes());
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], "<other transport>");
        assert!(got[1].contains("longer than"), "{got:?}");
        assert_eq!(got[2], RECORD);
        // A broken frame ends the input with a message.
        let mut input = b"_TRANSPORT=audit\nMESSAGE\n".to_vec();
        input.extend_from_slice(&3u64.to_le_bytes());
        input.extend_from_slice(b"abcX\n\n");
        input.extend_from_slice(AUDIT_ENTRY.as_bytes());
        let (_, got) = read_all(&input);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("not followed by a newline"), "{got:?}");
        // A missing field is named.
        let (_, got) = read_all(b"_TRANSPORT=audit\nMESSAGE=SYSCALL x\n\n");
        assert_eq!(got, ["<bad: an audit journal entry without _AUDIT_TYPE>"]);
    }

    #[test]
    fn journal_json_and_gzip() {
        let json = "{\"__CURSOR\":\"s=1\",\"_TRANSPORT\":\"audit\",\"_AUDIT_TYPE\":\"1300\",\"_AUDIT_ID\":\"7\",\"_SOURCE_REALTIME_TIMESTAMP\":\"1000250000\",\"_HOSTNAME\":\"h\",\"MESSAGE\":\"SYSCALL arch=c000003e syscall=42\"}\n\n{\"_TRANSPORT\":\"syslog\",\"MESSAGE\":\"type=SYSCALL\"}\nnot json\n[1]\n";
        let (kind, got) = read_all(json.as_bytes());
        assert_eq!(kind.format, Format::JournalJson);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(&got[..2], [RECORD, "<other transport>"]);
        assert!(got[2].starts_with("<bad: not a journal JSON entry"), "{got:?}");
        assert!(got[3].contains("not a journal entry"), "{got:?}");
        // gzip (two members, as concatenated files are), of a plain log and of JSON.
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut e, data).unwrap();
            e.finish().unwrap()
        };
        let mut two = gz(b"type=SYSCALL msg=audit(1.000:1): a=1\n");
        two.extend(gz(b"type=SYSCALL msg=audit(1.000:2): a=2\n"));
        let (kind, got) = read_all(&two);
        assert_eq!(kind, Kind { format: Format::Text, gzip: true });
        assert_eq!(
            got,
            ["type=SYSCALL msg=audit(1.000:1): a=1", "type=SYSCALL msg=audit(1.000:2): a=2"]
        );
        let (kind, got) = read_all(&gz(json.as_bytes()));
        assert_eq!(kind, Kind { format: Format::JournalJson, gzip: true });
        assert_eq!(got[0], RECORD);
        let (kind, got) = read_all(&gz(&gz(b"x")));
        assert_eq!(kind.format, Format::Compressed("gzip inside gzip"));
        assert!(got.is_empty());
        // ausearch -i is not read at all.
        let (kind, got) =
            read_all(b"----\ntype=SYSCALL msg=audit(12/02/2026 06:00:00.123:456) : arch=x86_64\n");
        assert_eq!(kind.format, Format::AusearchInterpreted);
        assert!(got.is_empty());
    }
}
