//! Groups records into events by their stamp (time and serial).
//!
//! The kernel writes a syscall event as several records (SYSCALL, SOCKADDR, PATH,
//! CWD, PROCTITLE, ...) and closes it with EOE. Records of different events may
//! interleave, some record types never get an EOE, and a lost EOE must not pin an
//! event in memory forever. So an event closes on EOE, on a timeout, or when the
//! in-flight table is full (the oldest goes first). Every record that enters leaves
//! again inside an event: nothing is dropped here.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::time::{Duration, Instant};

use super::record::{Record, Stamp, StampHasher, types};

/// An assembled event: all records that share a stamp, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub stamp: Stamp,
    pub records: Vec<Record>,
    pub closed_by: Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// The kernel's end-of-event record arrived.
    Eoe,
    /// A record that is complete by itself (`types::is_standalone`,
    /// `types::stands_aside`).
    Standalone,
    /// No EOE came within the timeout.
    Timeout,
    /// The in-flight table was full and this was the oldest event.
    Evicted,
    /// Shutdown flushed it.
    Flush,
}

impl Event {
    pub fn first(&self, rtype: u16) -> Option<&Record> {
        self.records.iter().find(|r| r.rtype == rtype)
    }

    pub fn all(&self, rtype: u16) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |r| r.rtype == rtype)
    }
}

pub struct Assembler {
    inflight: HashMap<Stamp, Vec<Record>, BuildHasherDefault<StampHasher>>,
    /// Stamps in order of their first record, with the time it arrived. May hold
    /// stamps that already closed on EOE; those are skipped when met.
    order: VecDeque<(Stamp, Instant)>,
    timeout: Duration,
    capacity: usize,
    /// Emptied record vectors of closed events, for new ones (`recycle`).
    spare: Vec<Vec<Record>>,
}

/// Spare record vectors kept, at most.
const SPARE: usize = 256;

impl Assembler {
    pub fn new(timeout: Duration, capacity: usize) -> Self {
        Assembler {
            inflight: HashMap::default(),
            order: VecDeque::new(),
            timeout,
            capacity: capacity.max(1),
            spare: Vec::new(),
        }
    }

    /// Adds one record. Returns the events this closes: its own (on EOE or for a
    /// standalone type) and, when the table overflows, the oldest one.
    pub fn push(&mut self, rec: Record, now: Instant, out: &mut Vec<Event>) {
        let stamp = rec.stamp;
        if rec.rtype == types::EOE {
            let records = self.inflight.remove(&stamp).unwrap_or_default();
            out.push(Event { stamp, records, closed_by: Close::Eoe });
            return;
        }
        if (types::is_standalone(rec.rtype) || types::stands_aside(rec.rtype))
            && !self.inflight.contains_key(&stamp)
        {
            out.push(Event { stamp, records: vec![rec], closed_by: Close::Standalone });
            return;
        }
        match self.inflight.get_mut(&stamp) {
            Some(records) => records.push(rec),
            None => {
                if self.inflight.len() >= self.capacity {
                    self.evict_oldest(out);
                }
                // A connect is six records: room for them at once.
                let mut records = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(8));
                records.push(rec);
                self.inflight.insert(stamp, records);
                self.order.push_back((stamp, now));
            }
        }
        self.compact();
    }

    /// Closes the events whose first record arrived `timeout` or longer before `now`.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<Event>) {
        while let Some(&(stamp, t)) = self.order.front() {
            if self.inflight.contains_key(&stamp) {
                if now.duration_since(t) < self.timeout {
                    break;
                }
                let records = self.inflight.remove(&stamp).unwrap_or_default();
                out.push(Event { stamp, records, closed_by: Close::Timeout });
            }
            self.order.pop_front();
        }
    }

    /// When the next event would time out; `None` when nothing is in flight, so the
    /// caller can sleep without a timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.order
            .iter()
            .find(|(s, _)| self.inflight.contains_key(s))
            .map(|&(_, t)| t + self.timeout)
    }

    pub fn flush(&mut self, out: &mut Vec<Event>) {
        while let Some((stamp, _)) = self.order.pop_front() {
            if let Some(records) = self.inflight.remove(&stamp) {
                out.push(Event { stamp, records, closed_by: Close::Flush });
            }
        }
    }

    /// Takes back a closed event's record vector (emptied) for a later event.
    pub fn recycle(&mut self, mut records: Vec<Record>) {
        records.clear();
        if self.spare.len() < SPARE && records.capacity() <= 64 {
            self.spare.push(records);
        }
    }

    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    fn evict_oldest(&mut self, out: &mut Vec<Event>) {
        while let Some((stamp, _)) = self.order.pop_front() {
            if let Some(records) = self.inflight.remove(&stamp) {
                out.push(Event { stamp, records, closed_by: Close::Evicted });
                return;
            }
        }
    }

    /// Drops stale entries (events closed by EOE) from the front of the order queue,
    /// so it stays proportional to what is really in flight.
    fn compact(&mut self) {
        while let Some((stamp, _)) = self.order.front() {
            if self.inflight.contains_key(stamp) {
                break;
            }
            self.order.pop_front();
        }
        if self.order.len() > 4 * self.capacity {
            let inflight = &self.inflight;
            self.order.retain(|(s, _)| inflight.contains_key(s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u16, serial: u64) -> Record {
        Record { rtype: t, stamp: Stamp { sec: 100, msec: 5, serial }, body: b"x=1".to_vec() }
    }

    #[test]
    fn interleaved_serials_assemble_separately() {
        let now = Instant::now();
        let mut a = Assembler::new(Duration::from_millis(500), 64);
        let mut out = Vec::new();
        a.push(rec(types::SYSCALL, 1), now, &mut out);
        a.push(rec(types::SYSCALL, 2), now, &mut out);
        a.push(rec(types::PATH, 1), now, &mut out);
        a.push(rec(types::PATH, 2), now, &mut out);
        a.push(rec(types::EOE, 2), now, &mut out);
        a.push(rec(types::PROCTITLE, 1), now, &mut out);
        a.push(rec(types::EOE, 1), now, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].stamp.serial, 2);
        assert_eq!(
            out[0].records.iter().map(|r| r.rtype).collect::<Vec<_>>(),
            [types::SYSCALL, types::PATH]
        );
        assert_eq!(out[1].stamp.serial, 1);
        assert_eq!(out[1].records.len(), 3);
        assert!(out.iter().all(|e| e.closed_by == Close::Eoe));
        assert_eq!(a.in_flight(), 0);
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn a_closed_events_vector_is_reused_and_the_spares_are_bounded() {
        let now = Instant::now();
        let mut a = Assembler::new(Duration::from_millis(500), 64);
        let mut out = Vec::new();
        a.push(rec(types::SYSCALL, 1), now, &mut out);
        a.push(rec(types::EOE, 1), now, &mut out);
        let ev = out.pop().unwrap();
        assert_eq!(ev.records.len(), 1);
        a.recycle(ev.records);
        assert_eq!(a.spare.len(), 1);
        a.push(rec(types::SYSCALL, 2), now, &mut out);
        assert_eq!(a.spare.len(), 0, "the new event took the spare");
        for _ in 0..SPARE + 10 {
            a.recycle(Vec::with_capacity(8));
        }
        assert_eq!(a.spare.len(), SPARE);
        a.spare.clear();
        a.recycle(Vec::with_capacity(1000));
        assert_eq!(a.spare.len(), 0, "a vector grown large is not kept");
    }

    #[test]
    fn missing_eoe_closes_on_timeout() {
        let t0 = Instant::now();
        let mut a = Assembler::new(Duration::from_millis(500), 64);
        let mut out = Vec::new();
        a.push(rec(types::SOCKADDR, 7), t0, &mut out);
        a.push(rec(types::SYSCALL, 8), t0 + Duration::from_millis(100), &mut out);
        assert!(out.is_empty());
        assert_eq!(a.next_deadline(), Some(t0 + Duration::from_millis(500)));
        a.expire(t0 + Duration::from_millis(499), &mut out);
        assert!(out.is_empty());
        a.expire(t0 + Duration::from_millis(500), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].stamp.serial, out[0].closed_by), (7, Close::Timeout));
        assert_eq!(a.next_deadline(), Some(t0 + Duration::from_millis(600)));
        a.expire(t0 + Duration::from_secs(5), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn full_table_evicts_oldest_without_loss() {
        let now = Instant::now();
        let mut a = Assembler::new(Duration::from_secs(10), 2);
        let mut out = Vec::new();
        for s in 1..=5 {
            a.push(rec(types::SYSCALL, s), now, &mut out);
        }
        assert_eq!(out.iter().map(|e| e.stamp.serial).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(out.iter().all(|e| e.closed_by == Close::Evicted));
        a.flush(&mut out);
        assert_eq!(out.len(), 5);
        assert_eq!(out.iter().map(|e| e.records.len()).sum::<usize>(), 5);
    }

    #[test]
    fn standalone_types_close_at_once_and_eoe_alone_is_an_empty_event() {
        let now = Instant::now();
        let mut a = Assembler::new(Duration::from_secs(1), 8);
        let mut out = Vec::new();
        a.push(rec(1105, 9), now, &mut out);
        a.push(rec(types::EOE, 10), now, &mut out);
        assert_eq!(out[0].closed_by, Close::Standalone);
        assert_eq!((out[1].closed_by, out[1].records.len()), (Close::Eoe, 0));
        assert_eq!(a.in_flight(), 0);
    }

    #[test]
    fn kernel_records_that_may_stand_alone_close_at_once_and_their_syscall_follows() {
        // As captured on Debian's 6.12 under dockerd: a lone BPF unload, then a
        // BPF load inside bpf(2) whose SYSCALL ... EOE follow under its stamp.
        let now = Instant::now();
        let mut a = Assembler::new(Duration::from_secs(1), 8);
        let mut out = Vec::new();
        a.push(rec(1334, 45), now, &mut out);
        a.push(rec(1334, 46), now, &mut out);
        a.push(rec(types::SYSCALL, 46), now, &mut out);
        a.push(rec(types::PROCTITLE, 46), now, &mut out);
        a.push(rec(types::EOE, 46), now, &mut out);
        let got: Vec<(u64, Close, usize)> =
            out.iter().map(|e| (e.stamp.serial, e.closed_by, e.records.len())).collect();
        assert_eq!(
            got,
            [(45, Close::Standalone, 1), (46, Close::Standalone, 1), (46, Close::Eoe, 2)]
        );
        assert_eq!(a.next_deadline(), None, "nothing waits for an EOE that may never come");
        // Inside an event already assembling (never seen, but possible), it joins.
        a.push(rec(types::SYSCALL, 47), now, &mut out);
        a.push(rec(types::CONFIG_CHANGE, 47), now, &mut out);
        a.push(rec(types::EOE, 47), now, &mut out);
        assert_eq!(out.last().map(|e| e.records.len()), Some(2));
        // The records a connect's event is made of still wait for their EOE.
        for t in [
            types::SYSCALL,
            types::PATH,
            types::SOCKADDR,
            types::CWD,
            types::PROCTITLE,
            types::URINGOP,
        ] {
            assert!(!types::stands_aside(t) && !types::is_standalone(t), "{t}");
        }
    }

    #[test]
    fn order_queue_stays_bounded_under_eoe_churn() {
        let now = Instant::now();
        let mut a = Assembler::new(Duration::from_secs(1), 4);
        let mut out = Vec::new();
        a.push(rec(types::SYSCALL, 0), now, &mut out); // stays in flight, pins the front
        for s in 1..10_000 {
            a.push(rec(types::SYSCALL, s), now, &mut out);
            a.push(rec(types::EOE, s), now, &mut out);
        }
        assert!(a.order.len() <= 4 * 4 + 1, "{}", a.order.len());
        assert_eq!(a.in_flight(), 1);
    }
}
