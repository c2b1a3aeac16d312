//! The process connector and attribution: `struct proc_event` messages
//! (`lineage::parse_proc_event`) applied to a `Lineage` and an `Attributor`,
//! then connects attributed against a simulated /proc (`origin::ProcView`)
//! whose cgroup files, command lines, namespaces, start times and programs
//! come from the fuzzer: what a container can make its processes show.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwatch::core::cgroup::{Runtime, hex64};
use sockwatch::core::finding::container_info;
use sockwatch::core::lineage::{Lineage, ProcEvent, parse_proc_event};
use sockwatch::core::origin::{Attributor, Exe, HostNamespaces, Namespaces, Origin, ProcView};
use sockwatch_fuzz::{Input, argv};

/// pids 1 to 8 may be readable; 0 and 9 never are.
const PIDS: u32 = 10;
const AT: f64 = 1000.0;
const HOST: Namespaces = Namespaces { mnt: 1, pid: 2 };

#[derive(Default)]
struct Proc {
    cgroup: Option<Vec<u8>>,
    cmdline: Option<Vec<Vec<u8>>>,
    ns: Option<Namespaces>,
    started: f64,
    exe: Option<Exe>,
}

struct View {
    procs: Vec<Proc>,
}

impl View {
    fn get(&self, pid: u32) -> Option<&Proc> {
        self.procs.get(usize::try_from(pid).ok()?)
    }
}

impl ProcView for View {
    fn cgroup(&self, pid: u32) -> Option<Vec<u8>> {
        self.get(pid)?.cgroup.clone()
    }
    fn cmdline(&self, pid: u32) -> Option<Vec<Vec<u8>>> {
        self.get(pid)?.cmdline.clone()
    }
    fn namespaces(&self, pid: u32) -> Option<Namespaces> {
        self.get(pid)?.ns
    }
    fn host_namespaces(&self) -> HostNamespaces {
        HostNamespaces { mnt: Some(HOST.mnt), pid: Some(HOST.pid) }
    }
    fn start_time(&self, pid: u32) -> Option<f64> {
        self.get(pid).map(|p| p.started)
    }
    fn exe(&self, pid: u32) -> Exe {
        self.get(pid).and_then(|p| p.exe.clone()).unwrap_or(Exe::Unreadable)
    }
}

fn view(input: &mut Input<'_>) -> View {
    let mut procs = vec![Proc::default()];
    for _ in 1..PIDS - 1 {
        let flags = input.u8();
        let (cgroup, cmdline, exe) = (input.chunk(), input.chunk(), input.chunk());
        let ns = match flags >> 2 & 3 {
            0 => HOST,
            1 => Namespaces { mnt: HOST.mnt, pid: 7 },
            2 => Namespaces { mnt: 7, pid: HOST.pid },
            _ => Namespaces { mnt: 7, pid: 8 },
        };
        procs.push(Proc {
            cgroup: (flags & 1 != 0).then(|| cgroup.to_vec()),
            cmdline: (flags & 2 != 0).then(|| argv(cmdline)),
            ns: (flags & 16 == 0).then_some(ns),
            started: if flags & 32 == 0 { 10.0 } else { AT + 1.0 },
            exe: match flags >> 6 {
                0 => Some(Exe::Trusted(exe.to_vec())),
                1 => Some(Exe::Untrusted(exe.to_vec())),
                _ => None,
            },
        });
    }
    View { procs }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let capacity = usize::from(input.u8() % 8) + 2;
    let mut lineage = Lineage::new(capacity);
    let mut attributor = Attributor::new(capacity, true);
    let events = input.u8() % 32;
    for _ in 0..events {
        let len = usize::from(input.u8() % 48);
        let ev = match parse_proc_event(input.bytes(len)) {
            Some(ProcEvent::Fork { parent, child }) => {
                ProcEvent::Fork { parent: parent % PIDS, child: child % PIDS }
            }
            Some(ProcEvent::Exit { pid }) => ProcEvent::Exit { pid: pid % PIDS },
            Some(ProcEvent::Exec { pid }) => ProcEvent::Exec { pid: pid % PIDS },
            Some(ProcEvent::Other) | None => continue,
        };
        lineage.apply(ev);
        attributor.apply(ev);
        if let ProcEvent::Fork { parent, child } = ev {
            assert_eq!(lineage.parent(child), Some(parent), "a fork just seen is forgotten");
        }
    }
    let procs = view(&mut input);
    while !input.is_empty() {
        let (pid, ppid) = (input.u8(), input.u8());
        let pid = (pid & 0x80 == 0).then_some(u32::from(pid) % PIDS);
        let ppid = (ppid & 0x80 == 0).then_some(u32::from(ppid) % PIDS);
        let origin = attributor.attribute(pid, ppid, AT, &procs);
        if let Origin::Container(a) = &origin {
            let c = &a.container;
            match c.runtime {
                Runtime::Lxc | Runtime::Nspawn => {
                    assert!(!c.id.is_empty() && !c.id.chars().any(char::is_control), "{c:?}");
                }
                _ => assert!(hex64(c.id.as_bytes()).is_some(), "{c:?}"),
            }
        }
        let info = serde_json::to_string(&container_info(&origin)).unwrap();
        assert!(!info.bytes().any(|b| b < 0x20), "{info}");
    }
});
