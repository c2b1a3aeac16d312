//! When a process entered connect(), to the microsecond, from the kernel's
//! function tracer: the reference that the response latency is measured
//! against. The audit stamp cannot be: the kernel takes it from its coarse
//! clock, which lags the real time by a tick or more (3 to 7 ms measured on
//! these VMs, HZ=250), so a latency counted from it is an upper bound only.
//!
//! A private trace instance (never the global buffer) with the `tai` trace
//! clock, which is CLOCK_REALTIME plus the kernel's TAI offset, measured here
//! and taken off.

use std::path::PathBuf;

const TRACEFS: &str = "/sys/kernel/tracing";

/// A trace instance recording every connect() entry of processes with a
/// given command name, removed on drop.
pub struct ConnectTrace {
    dir: PathBuf,
    /// CLOCK_TAI minus CLOCK_REALTIME, in seconds.
    tai_offset: f64,
}

impl ConnectTrace {
    /// Starts tracing connect() entries by `comm`. Mounts tracefs if it is not.
    pub fn start(comm: &str) -> Result<ConnectTrace, String> {
        if !std::path::Path::new(TRACEFS).join("instances").exists() {
            let out = super::run("mount", &["-t", "tracefs", "nodev", TRACEFS]);
            if !out.status.success() {
                return Err(format!("mount tracefs: {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        let dir = PathBuf::from(TRACEFS)
            .join("instances")
            .join(format!("sockwatch-test-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let t = ConnectTrace { dir, tai_offset: tai_offset() };
        let write = |f: &str, v: &str| {
            std::fs::write(t.dir.join(f), v).map_err(|e| format!("{f} <- {v}: {e}"))
        };
        write("trace_clock", "tai")?;
        write("options/record-tgid", "1")?;
        write("buffer_size_kb", "1024")?;
        write("events/syscalls/sys_enter_connect/filter", &format!("comm == \"{comm}\""))?;
        write("events/syscalls/sys_enter_connect/enable", "1")?;
        write("tracing_on", "1")?;
        Ok(t)
    }

    /// The first connect() entry of the process `tgid` so far, as Unix time.
    pub fn first_connect(&self, tgid: u32) -> Option<f64> {
        let text = std::fs::read_to_string(self.dir.join("trace")).ok()?;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(parse)
            .filter(|&(g, _)| g == tgid)
            .map(|(_, t)| t - self.tai_offset)
            .reduce(f64::min)
    }

    /// The first connect() entry of the process `tgid` at or after `t` (Unix
    /// time), for the connect a finding with audit stamp `t` is about. The
    /// stamp is never later than the connect, and is a reference that leaves
    /// out connects before it: not the very first connect (the docker CLI asks
    /// nscd through glibc about 15 ms before it reaches Docker's socket), nor
    /// the last one before the response (podman-remote opens a second and a
    /// third connection within 2 to 4 ms of the first).
    pub fn first_connect_from(&self, tgid: u32, t: f64) -> Option<f64> {
        let text = std::fs::read_to_string(self.dir.join("trace")).ok()?;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(parse)
            .filter(|&(g, _)| g == tgid)
            .map(|(_, c)| c - self.tai_offset)
            .filter(|&c| c >= t)
            .reduce(f64::min)
    }
}

/// `   docker-1234    (   1230) [001] ..... 1764680000.123456: sys_connect(...)`:
/// the tgid and the time.
fn parse(line: &str) -> Option<(u32, f64)> {
    let open = line.find('(')?;
    let close = open + line[open..].find(')')?;
    let tgid: u32 = line[open + 1..close].trim().parse().ok()?;
    let rest = &line[close + 1..];
    let colon = rest.find(": sys_connect")?;
    let time: f64 = rest[..colon].split_whitespace().last()?.parse().ok()?;
    Some((tgid, time))
}

fn tai_offset() -> f64 {
    use nix::time::{ClockId, clock_gettime};
    let r = clock_gettime(ClockId::CLOCK_REALTIME).unwrap();
    let t = clock_gettime(ClockId::CLOCK_TAI).unwrap();
    let secs = |ts: nix::sys::time::TimeSpec| ts.tv_sec() as f64 + ts.tv_nsec() as f64 / 1e9;
    (secs(t) - secs(r)).round()
}

impl Drop for ConnectTrace {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("tracing_on"), "0");
        let _ = std::fs::write(self.dir.join("events/syscalls/sys_enter_connect/enable"), "0");
        let _ = std::fs::remove_dir(&self.dir);
    }
}
