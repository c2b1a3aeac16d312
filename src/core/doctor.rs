//! `sockwatch doctor`'s verdicts on the watched sockets and the outputs: what
//! the state `cmd::doctor` found means for detection, and what to do about it.
//! A problem makes doctor exit 1, so each one is something that keeps `run`
//! from working as configured, never a state that resolves by itself.

/// What doctor says about one socket or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Works as it is.
    Ok,
    /// Works once something expected happens (a runtime starts): not a problem.
    Waiting(&'static str),
    /// Worth knowing, but detection works: findings are kept and retried.
    Warning(String),
    /// Detection cannot work as configured: what is wrong and how to fix it.
    Problem(String),
}

/// What is at a watched socket's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketFile {
    Socket,
    /// Something else: a directory, a regular file... (`kind` names it).
    NotSocket {
        kind: &'static str,
    },
    /// Nothing; `dir_exists`: whether its directory does.
    Absent {
        dir_exists: bool,
    },
}

/// A watched socket's verdict. `configured`: it was named (`--socket`,
/// `sockets`), rather than one of the known runtime sockets watched by default,
/// of which most hosts have only some, and some under users' own directories.
pub fn socket(file: SocketFile, configured: bool) -> Verdict {
    match file {
        SocketFile::Socket => Verdict::Ok,
        // Docker makes a directory where a bind mount's missing source was: a
        // runtime cannot then create its socket there, and no connect is seen.
        SocketFile::NotSocket { kind } if configured => Verdict::Problem(format!(
            "it is {kind}, not a socket, so no connect to a runtime can happen there; remove it so the runtime can create its socket, or name the runtime's socket with --socket or `sockets`"
        )),
        // Of the known paths, a user owns those under /run/user/UID: what they
        // put there must not make doctor fail for the administrator.
        SocketFile::NotSocket { kind } => Verdict::Warning(format!(
            "NOT A SOCKET: it is {kind}; a runtime that starts later cannot create its socket there"
        )),
        SocketFile::Absent { dir_exists: true } => {
            Verdict::Waiting("absent for now (watched, its rules load now)")
        }
        SocketFile::Absent { dir_exists: false } if !configured => {
            Verdict::Waiting("absent for now, and its directory too (its rules load when that appears)")
        }
        // Named by hand and nowhere near existing: most likely a typo, which
        // would otherwise wait for a directory that never comes.
        SocketFile::Absent { dir_exists: false } => Verdict::Problem(
            "neither it nor its directory exists, so no audit rule can be loaded for it; check the path (--socket or `sockets` in the configuration), or start the runtime that creates it and run doctor again".into(),
        ),
    }
}

/// What doctor found about a `jsonl:` output's file and directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonlState {
    /// The directory is missing, or is not a directory (`kind` names it).
    NoDirectory { kind: Option<&'static str> },
    /// The file does not exist and the directory cannot take it (the error).
    DirectoryNotWritable(String),
    /// The file exists but is not a regular file (`kind` names it).
    NotAFile { kind: &'static str },
    /// The file exists and cannot be opened for writing (the error).
    FileNotWritable(String),
    /// The file can be appended to, or created.
    Writable,
}

/// A `jsonl:PATH` output's verdict; `dir` is PATH's directory.
pub fn jsonl(state: &JsonlState, dir: &str) -> Verdict {
    match state {
        JsonlState::Writable => Verdict::Ok,
        JsonlState::NoDirectory { kind: None } => Verdict::Problem(format!(
            "its directory {dir} does not exist, so findings cannot be written; create it (mkdir -p {dir}) or name a file in an existing directory"
        )),
        JsonlState::NoDirectory { kind: Some(kind) } => Verdict::Problem(format!(
            "{dir} is {kind}, not a directory, so findings cannot be written; name a file in a directory"
        )),
        JsonlState::DirectoryNotWritable(e) => Verdict::Problem(format!(
            "the file cannot be created in {dir} ({e}); make the directory writable for sockwatch (a read-only file system, or the service's sandbox: only /var/log/sockwatch is writable there) or name a file elsewhere"
        )),
        JsonlState::NotAFile { kind } => Verdict::Problem(format!(
            "it is {kind}, not a file that lines can be appended to; remove it or name another file"
        )),
        JsonlState::FileNotWritable(e) => Verdict::Problem(format!(
            "it cannot be written ({e}); fix its permissions or name another file"
        )),
    }
}

/// A journald or syslog output's verdict: a daemon that is not there yet
/// costs nothing but a delay, since findings are queued and retried.
pub fn daemon_socket(path: &str, present: bool) -> Verdict {
    if present {
        Verdict::Ok
    } else {
        Verdict::Warning(format!(
            "{path} is not there now (findings are queued, up to 10,000, and retried every 5 s)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(v: &Verdict) -> Option<&str> {
        match v {
            Verdict::Problem(s) => Some(s),
            _ => None,
        }
    }

    #[test]
    fn sockets() {
        use SocketFile::*;
        let dir = NotSocket { kind: "a directory" };
        let cases: &[(SocketFile, bool, Option<&str>)] = &[
            (Socket, true, None),
            (Socket, false, None),
            (dir, true, Some("it is a directory, not a socket")),
            (dir, true, Some("remove it so the runtime can create its socket")),
            (NotSocket { kind: "a regular file" }, true, Some("a regular file")),
            (dir, false, None),
            (Absent { dir_exists: true }, true, None),
            (Absent { dir_exists: true }, false, None),
            (Absent { dir_exists: false }, false, None),
            (Absent { dir_exists: false }, true, Some("neither it nor its directory exists")),
        ];
        for &(file, configured, want) in cases {
            let v = socket(file, configured);
            match (problem(&v), want) {
                (None, None) => {}
                (Some(got), Some(want)) => assert!(got.contains(want), "{file:?}: {got}"),
                _ => panic!("{file:?} configured={configured}: {v:?}, want {want:?}"),
            }
        }
        // Absent is never a problem once its directory exists.
        assert!(matches!(socket(Absent { dir_exists: true }, true), Verdict::Waiting(_)));
        // A known path that is not a socket (a user's, under /run/user) is said,
        // but cannot make doctor fail.
        let Verdict::Warning(w) = socket(NotSocket { kind: "a symbolic link" }, false) else {
            panic!()
        };
        assert!(w.starts_with("NOT A SOCKET: it is a symbolic link"), "{w}");
    }

    #[test]
    fn jsonl_outputs() {
        use JsonlState::*;
        let cases: Vec<(JsonlState, Option<&str>)> = vec![
            (Writable, None),
            (NoDirectory { kind: None }, Some("its directory /v/x does not exist")),
            (NoDirectory { kind: None }, Some("mkdir -p /v/x")),
            (NoDirectory { kind: Some("a regular file") }, Some("/v/x is a regular file")),
            (DirectoryNotWritable("EROFS".into()), Some("cannot be created in /v/x (EROFS)")),
            (NotAFile { kind: "a directory" }, Some("it is a directory, not a file")),
            (FileNotWritable("EACCES".into()), Some("cannot be written (EACCES)")),
        ];
        for (state, want) in cases {
            let v = jsonl(&state, "/v/x");
            match (problem(&v), want) {
                (None, None) => assert_eq!(v, Verdict::Ok),
                (Some(got), Some(want)) => assert!(got.contains(want), "{state:?}: {got}"),
                _ => panic!("{state:?}: {v:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_missing_log_daemon_is_a_warning_not_a_problem() {
        assert_eq!(daemon_socket("/dev/log", true), Verdict::Ok);
        let Verdict::Warning(w) = daemon_socket("/dev/log", false) else { panic!() };
        assert!(w.contains("/dev/log is not there") && w.contains("retried"), "{w}");
    }
}
