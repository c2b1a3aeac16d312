//! `core::assemble::Assembler`, driven the way the daemon drives it: records
//! of interleaving events (any type, EOE or not, standalone or not) pushed as
//! they arrive, the clock moving on, expiry, and the flush at shutdown. Checks
//! what the module promises: every record that enters leaves again, exactly
//! once, in an event of its own stamp; the table stays within its capacity;
//! nothing is left waiting past its deadline; each closed event goes through
//! `connect::extract`.

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sockwatch::core::assemble::{Assembler, Close, Event};
use sockwatch::core::connect;
use sockwatch::core::record::{Record, Stamp, types};
use sockwatch_fuzz::Input;

/// Types that matter to assembly: a connect's, EOE, standalone user-space
/// records, kernel records that stand aside, and an unknown one.
const TYPES: &[u16] = &[
    types::SYSCALL,
    types::PATH,
    types::SOCKADDR,
    types::CWD,
    types::PROCTITLE,
    types::URINGOP,
    types::EOE,
    types::EOE,
    types::CONFIG_CHANGE,
    1100,
    1334,
    1400,
    2100,
    1999,
];

/// Bodies: a connect's fields, so some events are connects.
const BODIES: &[&[u8]] = &[
    b"arch=c000003e syscall=42 success=yes exit=0 a0=3 pid=10 ppid=9 comm=\"socat\"",
    b"saddr=01002F72756E2F646F636B65722E736F636B00",
    b"item=0 name=\"/run/docker.sock\" inode=77 dev=fe:00",
    b"cwd=\"/\"",
    b"proctitle=736F636174",
    b"uring_op=16 success=yes exit=0 pid=9",
    b"arch=40000003 syscall=102 a0=3 success=no exit=-13",
    b"",
];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let capacity = usize::from(input.u8() % 8) + 1;
    let timeout = Duration::from_millis(100);
    let t0 = Instant::now();
    let mut now = t0;
    let mut a = Assembler::new(timeout, capacity);
    let mut out: Vec<Event> = Vec::new();
    let mut pushed = 0usize;
    while !input.is_empty() {
        match input.u8() % 5 {
            0..=2 => {
                let kind = input.u8();
                let rtype = match TYPES.get(usize::from(kind) % (TYPES.len() + 1)) {
                    Some(&t) => t,
                    None => input.u16(),
                };
                let stamp = Stamp {
                    sec: u64::from(input.u8() % 2),
                    msec: u32::from(input.u8() % 2),
                    serial: u64::from(input.u8() % 12),
                };
                let body = match input.u8() {
                    b if usize::from(b) < BODIES.len() * 16 => {
                        BODIES[usize::from(b) % BODIES.len()]
                    }
                    _ => input.chunk(),
                };
                if rtype != types::EOE {
                    pushed += 1;
                }
                a.push(Record { rtype, stamp, body: body.to_vec() }, now, &mut out);
                assert!(a.in_flight() <= capacity, "{} in flight", a.in_flight());
            }
            3 => {
                now += Duration::from_millis(u64::from(input.u8()));
                a.expire(now, &mut out);
                assert!(a.next_deadline().is_none_or(|d| d > now), "a deadline already past");
            }
            _ => {
                if let Some(d) = a.next_deadline() {
                    assert!(d <= now + timeout, "a deadline past the timeout");
                }
            }
        }
    }
    a.flush(&mut out);
    assert_eq!(a.in_flight(), 0);
    assert_eq!(a.next_deadline(), None);
    let mut left = 0usize;
    for ev in &out {
        assert!(ev.records.iter().all(|r| r.stamp == ev.stamp), "a record in another's event");
        if ev.closed_by != Close::Eoe {
            assert!(!ev.records.is_empty(), "{:?} closed an empty event", ev.closed_by);
        }
        left += ev.records.len();
        let _ = connect::extract(ev);
    }
    assert_eq!(left, pushed, "records in != records out");
});
