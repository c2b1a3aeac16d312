//! The keeper's decisions, as tables.
use super::*;
use crate::core::abi;

fn h(event: Event, level: Level, msg: String) -> Health {
    Health::new("T".into(), event, level, msg, "host")
}

fn events(hs: &[Health]) -> Vec<(&'static str, Level)> {
    hs.iter().map(|e| (e.event.name(), e.level)).collect()
}

#[test]
fn status_table() {
    let st = |enabled, lost, pid| Status { enabled, lost, pid, ..Status::default() };
    let restore = Policy { keep_audit_state: false, unicast: false, own_pid: 7 };
    let keep = Policy { keep_audit_state: true, ..restore };
    let unicast = Policy { unicast: true, ..restore };
    let blind = Memory { blind: true, ..Memory::default() };
    // (status, policy, memory before, events, enable?, blind after)
    type Row = (Status, Policy, Memory, Vec<(&'static str, Level)>, bool, bool);
    let cases: Vec<Row> = vec![
        (st(1, 0, 0), restore, Memory::default(), vec![], false, false),
        (st(0, 0, 0), restore, Memory::default(), vec![], true, false),
        (st(0, 0, 0), keep, Memory::default(), vec![("audit_disabled", Level::Error)], false, true),
        // Said once while it stays off.
        (st(0, 0, 0), keep, blind.clone(), vec![], false, true),
        (st(1, 0, 0), keep, blind.clone(), vec![("audit_enabled", Level::Info)], false, false),
        (
            st(1, 5, 0),
            restore,
            Memory { lost: 2, ..Memory::default() },
            vec![("records_lost", Level::Error)],
            false,
            false,
        ),
        (st(1, 2, 0), restore, Memory { lost: 2, ..Memory::default() }, vec![], false, false),
        (st(1, 0, 7), unicast, Memory::default(), vec![], false, false),
        (
            st(1, 0, 9),
            unicast,
            Memory::default(),
            vec![("registration_lost", Level::Error)],
            false,
            false,
        ),
        (
            st(1, 0, 9),
            unicast,
            Memory { lost_registration: true, ..Memory::default() },
            vec![],
            false,
            false,
        ),
        (st(2, 0, 0), restore, Memory::default(), vec![], false, false),
    ];
    for (i, (s, p, mut m, want, enable, blind_after)) in cases.into_iter().enumerate() {
        let mut plan = on_status(&s, p, &mut m, &h);
        plan.health.extend(registration(&s, p, &mut m, &h));
        let want: Vec<(&str, Level)> = want;
        let got: Vec<(&str, Level)> = events(&plan.health).into_iter().collect();
        assert_eq!(got, want, "case {i}");
        assert_eq!(plan.enable, enable, "case {i}: enable");
        assert_eq!(m.blind, blind_after, "case {i}: blind");
        assert_eq!(m.lost, s.lost, "case {i}: the lost counter is remembered");
    }
    let (ev, now) = enabled(Ok(()), &h);
    assert_eq!((ev.event.name(), ev.level, now), ("audit_disabled", Level::Warning, 1));
    let (ev, now) = enabled(Err("EPERM".into()), &h);
    assert_eq!((ev.event.name(), ev.level, now), ("audit_disabled", Level::Error, 0));
}

#[test]
fn load_outcomes() {
    let native = abi::native()[0];
    let conn = |p: &str| RuleSpec::Connect { abi: native, socketcall: false, path: p.into() };
    let (docker, podman) = (conn("/run/docker.sock"), conn("/run/podman/podman.sock"));
    let uring = RuleSpec::Uring;
    let rt = |_: &str| Some("docker");
    let mut mem = RuleMemory { wanted_before: vec![docker.clone()], ..RuleMemory::default() };
    let mut added = Vec::new();
    // docker's rule was there before and is back: restored; podman's is new:
    // its directory appeared; the uring rule is optional and refused.
    let refused = Load::Refused("EINVAL".into());
    let outcomes = [
        Outcome { rule: &docker, load: &Load::Added, dir_gone: false },
        Outcome { rule: &podman, load: &Load::Added, dir_gone: false },
        Outcome { rule: &uring, load: &refused, dir_gone: false },
    ];
    let got = after_load(&outcomes, &mut mem, &mut added, &rt, &h).0;
    assert_eq!(
        events(&got),
        vec![
            ("rules_restored", Level::Warning),
            ("socket_watched", Level::Info),
            ("rules_refused", Level::Warning)
        ]
    );
    assert_eq!(added, vec![docker.clone(), podman.clone()]);
    assert_eq!(mem.wanted_before.len(), 3);
    // The same again: nothing new to say (announced and refused once each).
    mem.wanted_before.retain(|r| *r != podman);
    let again = [
        Outcome { rule: &podman, load: &Load::Added, dir_gone: false },
        Outcome { rule: &uring, load: &refused, dir_gone: false },
    ];
    assert!(after_load(&again, &mut mem, &mut added, &rt, &h).0.is_empty());
    // A required rule refused: said once, and again only after it loaded.
    let req = [Outcome { rule: &docker, load: &refused, dir_gone: false }];
    assert_eq!(
        events(&after_load(&req, &mut mem, &mut added, &rt, &h).0),
        vec![("rules_missing", Level::Error)]
    );
    assert!(after_load(&req, &mut mem, &mut added, &rt, &h).0.is_empty());
    // Its directory went between the look and the load: waiting, not missing.
    let gone = [Outcome { rule: &docker, load: &refused, dir_gone: true }];
    assert!(after_load(&gone, &mut mem, &mut added, &rt, &h).0.is_empty());
    assert!(!mem.missing_reported);
    // Locked: the missing required rules are counted once.
    let mut m = RuleMemory::default();
    let ev = when_locked(&[docker.clone(), uring.clone()], &[false, false], &mut m, &h).unwrap();
    assert!(ev.message.starts_with("1 required rule(s)"), "{}", ev.message);
    assert!(when_locked(&[docker], &[false], &mut m, &h).is_none());
}

#[test]
fn task_never_actions() {
    use NeverAction::*;
    // (new, --remove-task-never, enabled) -> action
    let cases = [
        ((true, false, 1), Report { locked: false }),
        ((false, false, 1), Keep),
        ((true, true, 1), Remove),
        ((false, true, 1), Remove),
        ((true, true, 2), Report { locked: true }),
        ((false, true, 2), Keep),
        ((true, false, 2), Report { locked: false }),
    ];
    for ((new, remove, enabled), want) in cases {
        assert_eq!(task_never_action(new, remove, enabled), want, "{new} {remove} {enabled}");
    }
    let r = never_reported("-a never,task", false, &h);
    assert_eq!(r.details["removed"], false);
    assert!(r.message.contains("--remove-task-never"));
    let r = never_removed("-a never,task", serde_json::json!([]), 0, &h);
    assert_eq!((r.level, &r.details["removed"]), (Level::Warning, &serde_json::json!(true)));
}
