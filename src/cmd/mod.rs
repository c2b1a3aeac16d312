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
/// user whose runtime directory exists now included.
pub fn resolve_sockets(configured: Option<&[std::path::PathBuf]>) -> Result<Vec<String>, Failure> {
    let defaults: Vec<std::path::PathBuf>;
    let paths = match configured {
        Some(p) => p,
        None => {
            defaults = crate::core::runtimes::default_set(&sockets::user_ids()).into_iter().map(Into::into).collect();
            &defaults
        }
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
