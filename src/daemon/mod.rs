//! `sockwatch run`: the daemon. One thread, one mio `Poll`, a named token per
//! source and one handler each. Timers are armed only while there is something
//! to do (an event waiting for its EOE, a de-duplication window, a queued
//! output, counters to log), except the slow audit-state backstop poll (once a
//! minute). Every decision is a pure function in `core`; the files here read,
//! call them and write.
//!
//! - `start`: start-up, as named steps, to a running `Daemon`;
//! - `event_loop`: the poll loop, reading records and process events;
//! - `connects`: assembled events -> connects -> TRC-1019 findings;
//! - `files`: what fanotify saw happen to the socket files (SW-1001, SW-1002);
//! - `keeper`: keeps audit working while the host changes it;
//! - `respond`: `--respond`, freezing a container (or killing the process)
//!   before its finding is written;
//! - `report`: health events, findings and counters on their way out;
//! - `metrics`: the counters to the metrics file (`--metrics-file`);
//! - `stop`: shutdown and the clean-up of what this run changed in the kernel.

mod connects;
mod event_loop;
mod files;
mod keeper;
mod metrics;
mod report;
mod respond;
mod start;
mod stop;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::cli::RunArgs;
use crate::config::Config;
use crate::core::allow::AllowRule;
use crate::core::assemble::{Assembler, Event};
use crate::core::dedup::Dedup;
use crate::core::detect::WatchedSocket;
use crate::core::finding::Finding;
use crate::core::origin::Attributor;
use crate::core::stats::Stats;
use crate::error::Error;
use crate::io::output::Outputs;
use crate::io::proc::LiveProc;
use crate::io::runtime_meta::MetaCache;

/// Records of one event arrive within microseconds; an event without EOE after
/// this long is closed as it is.
const EVENT_TIMEOUT: Duration = Duration::from_millis(500);
const MAX_IN_FLIGHT: usize = 4096;
/// Processes remembered for attribution (parents of the dead, pid -> container).
const LINEAGE: usize = 65_536;

/// Runs the daemon until SIGTERM or SIGINT.
pub fn main(args: &RunArgs, cfg: &Config) -> Result<ExitCode, Error> {
    if args.test_rules {
        crate::core::rules::use_test_key();
    }
    let (mut daemon, sources) = start::start(args, cfg)?;
    let result = daemon.run(sources);
    stop::stop(daemon);
    result.map(|()| ExitCode::SUCCESS)
}

struct Daemon {
    watched: Vec<WatchedSocket>,
    outputs: Outputs,
    stats: Stats,
    assembler: Assembler,
    hostname: String,
    closed: Vec<Event>,
    /// Record bodies of closed events, emptied, for the next records: six
    /// allocations a connect saved.
    spare_bodies: Vec<Vec<u8>>,
    attributor: Attributor,
    meta: MetaCache,
    allow: Vec<AllowRule>,
    dedup: Dedup,
    /// Findings on their way to the outputs, reused between turns.
    emitted: Vec<Finding>,
    /// The counters as last logged, and when they are next due.
    reported: Stats,
    stats_due: Option<Instant>,
    /// The metrics file, when one is configured.
    metrics: Option<metrics::Metrics>,
    /// Programs that may re-create the watched sockets.
    socket_owners: Vec<String>,
    keeper: keeper::Keeper,
    /// /proc, with the host's namespaces as read at start.
    proc: LiveProc,
    stalls: report::Stalls,
    /// Whether health events are logged on stderr too: not when stderr is the
    /// journal and the journald output has them (`core::journal_stream`).
    health_on_stderr: bool,
    /// `--respond`, when it is not `none`.
    responder: Option<respond::Responder>,
    /// The runtime's state (name, image, labels) is read after the response,
    /// not before: with `--respond`, when no allow rule needs it.
    meta_after_response: bool,
}
