//! A watched socket's permissions as fanotify's FAN_ATTRIB makes sockwatch read
//! them: the `system.posix_acl_access` attribute (`socket_file::Acl::parse`),
//! getfacl's text of it, and the SW-1001 verdict (`socket_file::judge`) on a
//! change from one mode, owner and ACL to another, with its details as JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwatch::core::socket_file::{ACL_MAX, Acl, Actor, Event, Perms, judge};
use sockwatch_fuzz::Input;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.u8();
    let old_acl = input.chunk();
    let (old_mode, old_uid, old_gid) = (input.u32(), input.u32(), input.u32());
    let (mode, uid, gid) = (input.u32(), input.u32(), input.u32());
    let new_acl = input.rest();
    let acls = [Acl::parse(old_acl), Acl::parse(new_acl)];
    for (raw, acl) in [old_acl, new_acl].into_iter().zip(acls) {
        let Some(acl) = acl else { continue };
        assert_eq!(raw.len() % 8, 4);
        assert!(acl.entries().len() <= ACL_MAX);
        let texts = acl.texts();
        assert!(texts.iter().all(|t| !t.contains('\n')));
        if acl.grants_write() && !acl.more {
            assert!(texts.iter().any(|t| t.starts_with("user:") || t.starts_with("group:")));
            assert!(texts.iter().any(|t| t.contains(":-w") || t.contains(":rw")));
        }
    }
    let [old_acl, new_acl] = acls.map(Option::unwrap_or_default);
    let old = (flags & 1 != 0).then_some(Perms {
        mode: old_mode,
        uid: old_uid,
        gid: old_gid,
        acl: old_acl,
    });
    let new = Perms { mode, uid, gid, acl: new_acl };
    let actor = Actor { owner: flags & 2 != 0, alive: flags & 4 != 0 };
    for event in [Event::Perms { old, new }, Event::Removed, Event::Appeared] {
        if let Some(v) = judge(event, actor, flags & 8 != 0) {
            let json = v.details_json();
            assert!(json.is_object(), "{json}");
            let text = json.to_string();
            assert_eq!(serde_json::from_str::<serde_json::Value>(&text).ok(), Some(json));
        }
    }
});
