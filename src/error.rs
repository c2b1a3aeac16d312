//! sockwatch's one error type: a message a user can act on, built up with
//! context ("cannot list the audit rules: Operation not permitted"). Every
//! subcommand returns it and `main` prints it as `sockwatch: error: ...`.
//! Errors that carry more than a message (a configuration error's file and
//! line) are turned into it at the edge, with their `Display`.
//!
//! An error is either a failure (exit status 1) or a usage error (2): what the
//! person asked for cannot be done as asked (a bad configuration file, an
//! option value only the program can judge), which a script must be able to
//! tell apart from "it did not work here".

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String, Kind);

/// What the error says about the request, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// It was asked for properly and failed here: exit status 1.
    Failure,
    /// The command line or the configuration asks for something impossible:
    /// exit status 2, as clap's own usage errors.
    Usage,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn msg(message: impl Into<String>) -> Error {
        Error(message.into(), Kind::Failure)
    }

    /// A usage error: the request itself is wrong (exit status 2).
    pub fn usage(message: impl Into<String>) -> Error {
        Error(message.into(), Kind::Usage)
    }

    /// Puts `what` in front: what was being done when this went wrong.
    pub fn context(self, what: impl fmt::Display) -> Error {
        Error(format!("{what}: {}", self.0), self.1)
    }

    pub fn message(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> Kind {
        self.1
    }

    /// The process's exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self.1 {
            Kind::Failure => 1,
            Kind::Usage => 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

macro_rules! from_display {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error(e.to_string(), Kind::Failure)
            }
        }
    )*};
}
from_display!(std::io::Error, nix::errno::Errno, String);

/// A configuration file that cannot be taken is a usage error: the request
/// (this file) is wrong, not the host.
impl From<crate::config::ConfigError> for Error {
    fn from(e: crate::config::ConfigError) -> Error {
        Error(e.to_string(), Kind::Usage)
    }
}

/// `.context("what")` on any result whose error can be displayed.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}"), Kind::Failure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_reads_outside_in() {
        let r: std::result::Result<(), std::io::Error> = Err(std::io::Error::from_raw_os_error(1));
        let e = r.context("cannot list the audit rules").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot list the audit rules: Operation not permitted (os error 1)"
        );
        assert_eq!(Error::msg("x").context("a").context("b").message(), "b: a: x");
    }

    #[test]
    fn the_kind_decides_the_exit_status_and_survives_context() {
        for (e, code) in [
            (Error::msg("x"), 1),
            (Error::usage("x"), 2),
            (Error::usage("x").context("socket /a b"), 2),
            (Error::msg("x").context("a"), 1),
            (Error::from(std::io::Error::from_raw_os_error(2)), 1),
        ] {
            assert_eq!(e.exit_code(), code, "{e}");
        }
    }
}
