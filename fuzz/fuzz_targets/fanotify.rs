//! `core::fanotify::parse`: a read(2) buffer of fanotify events in FID mode
//! (metadata, then info records with file handles and entry names), whose
//! lengths it must not trust.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwatch::core::fanotify::parse;

/// struct fanotify_event_metadata.
const METADATA_LEN: usize = 24;

fuzz_target!(|data: &[u8]| {
    let (events, malformed) = parse(data);
    assert!(events.len() <= data.len() / METADATA_LEN, "more events than fit");
    assert!(malformed || !events.is_empty() || data.is_empty());
    for ev in &events {
        assert!(ev.name.as_ref().is_none_or(|n| !n.contains(&0)), "a NUL in a name");
        assert!(ev.name.is_none() || ev.dir.is_some(), "a name without its directory");
        for handle in [&ev.dir, &ev.object].into_iter().flatten() {
            assert!(handle.len() >= 4 && handle.len() <= data.len());
        }
    }
});
