//! `core::logline::parse`, one line of an audit log in every form `scan`
//! reads (auditd's RAW and ENRICHED, raw netlink text, behind a kernel or
//! audit-dispatcher prefix). Checks that the parts borrow the line, that
//! auditd's interpretations are cut off, and the rule that keeps a
//! container's own logged output from forging records: a record behind
//! another program's prefix is never taken, one behind the kernel's is.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwatch::core::logline::{LineError, parse};
use sockwatch::core::record::Fields;

/// Prefixes a container's output may have in a syslog file or the journal.
const FOREIGN: &[&str] = &[
    "Nov 28 10:00:00 host web-1[4242]: ",
    "2026-11-28T10:00:00+00:00 host dockerd[812]: msg=",
    "Nov 28 10:00:00 host web-1[4242]: kernel: audit: ",
    "hello ",
];

fn inside(part: &[u8], line: &[u8]) -> bool {
    let (p, l) = (part.as_ptr() as usize, line.as_ptr() as usize);
    p >= l && p + part.len() <= l + line.len()
}

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        let Ok(Some(r)) = parse(line) else { continue };
        assert!(inside(r.body, line), "the body is not the line's");
        if let Some(node) = r.node {
            assert!(inside(node, line) && !node.contains(&b' '), "node {node:?}");
        }
        assert!(r.stamp.msec < 1000);
        let kernel = r.kernel_body();
        assert!(!kernel.contains(&0x1d), "auditd's interpretations left in");
        assert!(r.body.starts_with(kernel));
        for (k, _) in Fields::new(kernel) {
            assert!(!k.contains(&b' '));
        }
        if line.starts_with(b"type=") || line.starts_with(b"node=") {
            for prefix in FOREIGN {
                let forged = [prefix.as_bytes(), line].concat();
                assert!(
                    matches!(parse(&forged), Err(LineError::Misplaced | LineError::NoType)),
                    "taken behind {prefix:?}: {:?}",
                    String::from_utf8_lossy(line)
                );
            }
            let kernel_log = [&b"Nov 28 10:00:00 host kernel: audit: "[..], line].concat();
            assert_eq!(parse(&kernel_log), Ok(Some(r)), "not taken behind the kernel's prefix");
        }
    }
});
