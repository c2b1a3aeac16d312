//! sockwatch's one error type: a message a user can act on, built up with
//! context ("cannot list the audit rules: Operation not permitted"). Every
//! subcommand returns it and `main` prints it as `sockwatch: error: ...`.
//! Errors that carry more than a message (a configuration error's file and
//! line) are turned into it at the edge, with their `Display`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn msg(message: impl Into<String>) -> Error {
        Error(message.into())
    }

    /// Puts `what` in front: what was being done when this went wrong.
    pub fn context(self, what: impl fmt::Display) -> Error {
        Error(format!("{what}: {}", self.0))
    }

    pub fn message(&self) -> &str {
        &self.0
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
                Error(e.to_string())
            }
        }
    )*};
}
from_display!(std::io::Error, nix::errno::Errno, String, crate::config::ConfigError);

/// `.context("what")` on any result whose error can be displayed.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
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
}
