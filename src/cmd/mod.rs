//! The subcommands other than `run` (see `daemon`): each wires the pure core to
//! the I/O it needs.

pub mod doctor;
pub mod generate;
pub mod rules;
pub mod scan;
pub mod test;

use crate::error::{Context, Error};
use crate::io::sockets;

/// The watched sockets' host paths, resolved and without duplicates: those
/// configured, or (`None`) every known runtime socket, the rootless ones of each
/// user whose runtime directory exists now included. The known paths are taken
/// as they are, never resolved: a user owns /run/user/UID and could otherwise
/// point a rootless socket's name anywhere, or at a name that is not UTF-8 and
/// stop sockwatch from starting.
pub fn resolve_sockets(configured: Option<&[std::path::PathBuf]>) -> Result<Vec<String>, Error> {
    let Some(paths) = configured else {
        return Ok(crate::core::runtimes::default_set(&sockets::user_ids()));
    };
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        let r = sockets::resolve(p).context(format!("socket {}", p.display()))?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}
