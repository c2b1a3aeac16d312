//! Diagnostics on stderr, one line each, with a level (under systemd, stderr is the
//! journal: `stderr_is_journal`). Findings never go through here: they have their
//! own outputs.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
#[repr(u8)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub fn set_level(l: Level) {
    LEVEL.store(l as u8, Ordering::Relaxed);
}

pub fn enabled(l: Level) -> bool {
    l as u8 <= LEVEL.load(Ordering::Relaxed)
}

pub fn write(l: Level, args: std::fmt::Arguments<'_>) {
    if !enabled(l) {
        return;
    }
    let tag = match l {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
    };
    let _ = writeln!(std::io::stderr().lock(), "sockwatch: {tag}: {args}");
}

/// Whether stderr is the journal: `$JOURNAL_STREAM` names fd 2's own device
/// and inode (`core::journal_stream`).
pub fn stderr_is_journal() -> bool {
    let var = std::env::var("JOURNAL_STREAM").ok();
    match nix::sys::stat::fstat(std::io::stderr()) {
        Ok(st) => crate::core::journal_stream::names(var.as_deref(), st.st_dev, st.st_ino),
        Err(_) => false,
    }
}

#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::io::log::write($crate::io::log::Level::Error, format_args!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::io::log::write($crate::io::log::Level::Warn, format_args!($($t)*)) } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::io::log::write($crate::io::log::Level::Info, format_args!($($t)*)) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::io::log::write($crate::io::log::Level::Debug, format_args!($($t)*)) } }
