//! `sockwatch scan`'s pure half: the first line is a `--socket-inode` value
//! (`scan::parse_socket_inode`), the rest an audit log, each line through
//! `logline::parse` into two `scan::Scanner`s (one with room for two open
//! events, so eviction happens, one as large as scan's), then every candidate
//! through `connect::extract` and the name fallback `scan::by_name`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwatch::core::assemble::Close;
use sockwatch::core::connect;
use sockwatch::core::logline;
use sockwatch::core::record::types;
use sockwatch::core::scan::{Candidate, Scanner, Target, by_name, parse_socket_inode};

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let spec = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let mut targets = Vec::new();
    if let Some((id, name)) = parse_socket_inode(&spec) {
        assert!(name.as_ref().is_none_or(|n| n.starts_with('/')));
        let names = name.map(|n| vec![n.into_bytes()]).unwrap_or_default();
        targets.push(Target { id: Some(id), names });
    }
    targets.push(Target { id: None, names: vec![b"/run/docker.sock".to_vec()] });
    for capacity in [2, 4096] {
        let mut s = Scanner::new(capacity);
        let mut out: Vec<Candidate> = Vec::new();
        let mut records = 0u64;
        for line in lines.clone() {
            if let Ok(Some(r)) = logline::parse(line) {
                records += 1;
                s.push(&r, &mut out);
            }
        }
        s.finish(&mut out);
        let st = s.stats;
        assert_eq!(st.records, records);
        assert_eq!(st.candidates, out.len() as u64);
        assert!(st.candidates + st.undecided <= st.events && st.events <= st.records);
        for c in &out {
            let ev = &c.event;
            assert!(ev.records.iter().all(|r| r.stamp == ev.stamp));
            assert!(matches!(ev.closed_by, Close::Eoe | Close::Evicted | Close::Flush));
            assert!(ev.records.iter().all(|r| r.rtype != types::EOE && !r.body.contains(&0x1d)));
            if let Some(cv) = connect::extract(ev)
                && let Some(id) = by_name(&cv, &targets)
            {
                assert!(targets.iter().any(|t| t.id == Some(id)));
            }
        }
    }
});
