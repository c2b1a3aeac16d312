//! Golden files: output compared byte for byte with `tests/data/*.expected.jsonl`
//! after masking the fields that vary from run to run or machine to machine.
//! With `SOCKWATCH_BLESS=1` the files are rewritten from the output instead.

use std::ops::Range;
use std::path::PathBuf;

/// Where the golden files live, beside the captures they come from.
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

/// The switch that rewrites the golden files instead of comparing with them.
pub const BLESS: &str = "SOCKWATCH_BLESS";

/// A field to mask: its place in the object (keys only, as "/host/hostname") and the
/// placeholder string that stands for its value in the golden file.
pub type Mask = (&'static str, &'static str);

/// Compares `got` (JSON lines) with `tests/data/{name}`, after masking `masks` in
/// every line; or, under `SOCKWATCH_BLESS=1`, writes the masked output there.
/// Every line must be one JSON object and the output must end with a newline.
pub fn check(name: &str, got: &str, masks: &[Mask]) {
    let path = PathBuf::from(DATA).join(name);
    assert!(got.is_empty() || got.ends_with('\n'), "{name}: output does not end with a newline");
    let mut masked = String::with_capacity(got.len());
    for (n, line) in got.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{name}: output line {} is not JSON ({e}): {line}", n + 1));
        assert!(v.is_object(), "{name}: output line {} is not a JSON object: {line}", n + 1);
        masked.push_str(&mask(line, masks));
        masked.push('\n');
    }

    if std::env::var(BLESS).is_ok_and(|v| v == "1") {
        std::fs::write(&path, &masked)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        // Past the harness's capture (it takes only the print macros), as `skip` does.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "{BLESS}=1: wrote {} ({} lines); review it with git diff",
            path.display(),
            masked.lines().count()
        );
        return;
    }

    let hint = format!("to accept the new output, rerun with {BLESS}=1 and review the git diff");
    let expected = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => panic!("golden file {} cannot be read ({e}); {hint}", path.display()),
    };
    if expected == masked {
        return;
    }
    let (mut exp, mut act) = (expected.lines(), masked.lines());
    for n in 1.. {
        match (exp.next(), act.next()) {
            (Some(e), Some(a)) if e == a => continue,
            (None, None) => panic!(
                "{}: the lines are the same but the bytes differ (line ends or the final \
                 newline); {hint}",
                path.display()
            ),
            (e, a) => {
                // Lines run to a kilobyte: first where they part, then in full.
                let near = match (e, a) {
                    (Some(e), Some(a)) => {
                        let b = e.bytes().zip(a.bytes()).take_while(|(x, y)| x == y).count();
                        format!(
                            " from byte {b}\nexpected: ...{}\n     got: ...{}\nin full:",
                            around(e, b),
                            around(a, b)
                        )
                    }
                    _ => String::new(),
                };
                panic!(
                    "{}: line {n} differs{near}\nexpected: {}\n     got: {}\n{hint}",
                    path.display(),
                    e.unwrap_or("<end of file>"),
                    a.unwrap_or("<end of output>"),
                );
            }
        }
    }
}

/// Up to 40 bytes of `line` before `at` and 40 from it, cut at character boundaries.
fn around(line: &str, at: usize) -> &str {
    let mut start = at.saturating_sub(40);
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + 40).min(line.len());
    while !line.is_char_boundary(end) {
        end += 1;
    }
    &line[start..end]
}

/// `line` with the string value at each mask's place replaced by its placeholder.
/// Only a string is masked: a null or missing field is left as it is, so the
/// comparison still catches a field that vanished.
pub fn mask(line: &str, masks: &[Mask]) -> String {
    let mut out = line.to_string();
    for (pointer, placeholder) in masks {
        if let Some(span) = value_span(&out, pointer) {
            if out.as_bytes()[span.start] == b'"' {
                out.replace_range(span, &serde_json::to_string(placeholder).unwrap());
            }
        }
    }
    out
}

/// The bytes of the value at `pointer` (object keys only, each as serde_json writes
/// a plain ASCII key) in one valid JSON text, if it is there.
fn value_span(json: &str, pointer: &str) -> Option<Range<usize>> {
    let b = json.as_bytes();
    let mut at = skip_ws(b, 0);
    for key in pointer.split('/').skip(1) {
        if b.get(at) != Some(&b'{') {
            return None;
        }
        let mut i = skip_ws(b, at + 1);
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let key_end = string_end(b, i);
            let name = &b[i + 1..key_end - 1];
            let value = skip_ws(b, skip_ws(b, key_end) + 1);
            if name == key.as_bytes() {
                at = value;
                break;
            }
            i = skip_ws(b, value_end(b, value));
            if b.get(i) != Some(&b',') {
                return None;
            }
            i = skip_ws(b, i + 1);
        }
    }
    Some(at..value_end(b, at))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Past the closing quote of the string that opens at `i`.
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    loop {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
}

/// Past the end of the value that starts at `i`.
fn value_end(b: &[u8], i: usize) -> usize {
    match b[i] {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let (mut depth, mut j) = (0usize, i);
            loop {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            j
        }
    }
}
