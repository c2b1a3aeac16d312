//! The allowlist's shell patterns (`allow::Glob`): a pattern and a name,
//! split at the first NUL. A pattern of `*`, `?` and plain characters is
//! compared with a simple reference matcher; any pattern `Glob::new` takes
//! can be matched against anything, in time linear-ish in the lengths.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwatch::core::allow::Glob;

/// The reference: dynamic programming over (pattern, text) prefixes.
fn reference(p: &[char], t: &[char]) -> bool {
    let mut row = vec![false; t.len() + 1];
    row[0] = true;
    for &pc in p {
        let mut next = vec![false; t.len() + 1];
        if pc == '*' {
            let mut any = false;
            for j in 0..=t.len() {
                any |= row[j];
                next[j] = any;
            }
        } else {
            for j in 1..=t.len() {
                next[j] = row[j - 1] && (pc == '?' || pc == t[j - 1]);
            }
        }
        row = next;
    }
    row[t.len()]
}

fuzz_target!(|data: &[u8]| {
    let (pattern, name) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let (pattern, name) = (String::from_utf8_lossy(pattern), String::from_utf8_lossy(name));
    let Ok(glob) = Glob::new(&pattern) else {
        assert!(pattern.contains('['), "refused without a class: {pattern:?}");
        return;
    };
    let got = glob.matches(&name);
    if !pattern.contains('[') {
        let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
        assert_eq!(got, reference(&p, &t), "{pattern:?} against {name:?}");
        if !pattern.contains(['*', '?']) {
            assert_eq!(got, pattern == name);
        }
        assert!(glob.matches(&pattern.replace(['*', '?'], "x")), "{pattern:?}");
    }
});
