//! `sockwatch scan`'s pure half: the first line is a `--socket-inode` value
//! (`scan::parse_socket_inode`) and, through `time::parse_instant`, a time; the
//! rest an audit log (looked at by `sniff::sniff` first), each line through
//! `logline::parse` into two `scan::Scanner`s (one with room for two open
//! events, so eviction happens, one as large as scan's), then every candidate
//! through `connect::extract`, the name fallback `scan::by_name` and the
//! offline matcher `scan::match_offline`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwatch::core::assemble::Close;
use sockwatch::core::connect;
use sockwatch::core::detect::WatchedSocket;
use sockwatch::core::logline;
use sockwatch::core::record::types;
use sockwatch::core::scan::{
    Candidate, Scanner, SocketIdentity, Target, by_name, match_offline, parse_socket_inode,
};
use sockwatch::core::{sniff, time};

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let spec = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let _ = time::parse_instant(&spec);
    let _ = sniff::sniff(data);
    let mut targets = Vec::new();
    let mut watched = Vec::new();
    if let Ok(SocketIdentity { id, name, .. }) = parse_socket_inode(&spec) {
        assert!(name.as_ref().is_none_or(|n| n.starts_with('/')));
        let names = name.map(|n| vec![n.into_bytes()]).unwrap_or_default();
        targets.push(Target { id: Some(id), names });
        watched.push(WatchedSocket::new("x".into(), Some(id)));
    }
    targets.push(Target { id: None, names: vec![b"/run/docker.sock".to_vec()] });
    watched.push(WatchedSocket::new("/run/docker.sock".into(), None));
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
            if let Some(cv) = connect::extract(ev) {
                if let Some(id) = by_name(&cv, &targets) {
                    assert!(targets.iter().any(|t| t.id == Some(id)));
                }
                if let Ok(hit) = match_offline(&cv, &watched, &targets, b"sockwatch") {
                    assert!(hit.target.is_none_or(|t| t < targets.len()));
                }
            }
        }
    }
});
