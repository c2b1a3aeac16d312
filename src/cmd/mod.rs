//! The subcommands: each wires the pure core to the I/O it needs.

pub mod doctor;
pub mod generate;
pub mod rules;
pub mod run;
pub mod scan;

use crate::io::sockets;

/// A failure a user can act on: the message says what failed and, where it helps,
/// what to do.
#[derive(Debug)]
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

pub fn ctx<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, Failure> {
    r.map_err(|e| Failure(format!("{what}: {e}")))
}

/// The watched sockets' host paths, resolved and without duplicates: those
/// configured, or (`None`) every known runtime socket, the rootless ones of each
/// user whose runtime directory exists now included. The known paths are taken
/// as they are, never resolved: a user owns /run/user/UID and could otherwise
/// point a rootless socket's name anywhere, or at a name that is not UTF-8 and
/// stop sockwatch from starting.
pub fn resolve_sockets(configured: Option<&[std::path::PathBuf]>) -> Result<Vec<String>, Failure> {
    let Some(paths) = configured else {
        return Ok(crate::core::runtimes::default_set(&sockets::user_ids()));
    };
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        let r = ctx(sockets::resolve(p), &format!("socket {}", p.display()))?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}
