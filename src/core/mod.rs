//! The pure core: parsing, assembly, attribution from cgroup text, detection and
//! the finding format. Nothing in here reads a file, a socket or the clock (times
//! are passed in), so all of it is tested on recorded data.

pub mod abi;
pub mod allow;
pub mod assemble;
pub mod blind;
pub mod cgroup;
pub mod connect;
pub mod dedup;
pub mod detect;
pub mod doctor;
pub mod fanotify;
pub mod finding;
pub mod finding_json;
pub mod formats;
pub mod health;
pub mod journal;
pub mod journal_stream;
pub mod json;
pub mod keeper;
pub mod lineage;
pub mod logline;
pub mod message;
pub mod metrics;
pub mod origin;
pub mod record;
pub mod respond;
pub mod rule_data;
pub mod rules;
pub mod runtime_state;
pub mod runtimes;
pub mod scan;
pub mod selftest;
pub mod signature;
pub mod sniff;
pub mod socket_file;
pub mod stats;
pub mod tally;
pub mod time;
