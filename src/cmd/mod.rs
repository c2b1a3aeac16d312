//! The subcommands other than `run` (see `daemon`): each wires the pure core to
//! the I/O it needs.

pub mod doctor;
pub mod generate;
pub mod release;
pub mod rules;
pub mod scan;
pub mod scan_input;
pub mod test;

use crate::error::Error;
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
        // Only a path that names no file or resolves to one that is not UTF-8
        // fails here (a missing socket is watched anyway): the value is wrong.
        let r = sockets::resolve(p)
            .map_err(|e| Error::usage(format!("socket {}: {e}", p.display())))?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}
