//! Where findings go. Each output is a `Sink` that takes one finished JSON line; a
//! new kind of output (journald, syslog) is one more `Sink` and one more arm in
//! `OutputSpec::parse`. A failing sink is counted and logged, never fatal, and
//! never stops the other sinks from getting the finding.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::core::finding::Finding;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    Stdout,
    /// Append JSON lines to a file (created 0640).
    Jsonl(PathBuf),
}

impl FromStr for OutputSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "stdout" => Ok(OutputSpec::Stdout),
            Some(("jsonl", path)) if path.starts_with('/') => Ok(OutputSpec::Jsonl(PathBuf::from(path))),
            Some(("jsonl", path)) => Err(format!("jsonl needs an absolute path, got {path:?}")),
            _ => Err(format!("unknown output {s:?}: expected `stdout` or `jsonl:/absolute/path`")),
        }
    }
}

pub trait Sink {
    fn describe(&self) -> String;
    /// Writes one complete line, newline included.
    fn write_line(&mut self, line: &[u8]) -> io::Result<()>;
}

struct Stdout;

impl Sink for Stdout {
    fn describe(&self) -> String {
        "stdout".into()
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(line)?;
        out.flush()
    }
}

struct Jsonl {
    path: PathBuf,
    file: File,
}

impl Sink for Jsonl {
    fn describe(&self) -> String {
        format!("jsonl:{}", self.path.display())
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        // One write on an O_APPEND file: lines from concurrent writers never interleave.
        self.file.write_all(line)
    }
}

pub fn open(spec: &OutputSpec) -> io::Result<Box<dyn Sink>> {
    match spec {
        OutputSpec::Stdout => Ok(Box::new(Stdout)),
        OutputSpec::Jsonl(path) => {
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o640)
                .open(path)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot open {} for appending: {e}", path.display())))?;
            Ok(Box::new(Jsonl { path: path.clone(), file }))
        }
    }
}

pub struct Outputs {
    sinks: Vec<Box<dyn Sink>>,
    line: Vec<u8>,
}

impl Outputs {
    pub fn open(specs: &[OutputSpec]) -> io::Result<Outputs> {
        let sinks = specs.iter().map(open).collect::<io::Result<Vec<_>>>()?;
        Ok(Outputs { sinks, line: Vec::with_capacity(2048) })
    }

    /// Writes the finding to every sink; returns how many sinks failed.
    pub fn emit(&mut self, f: &Finding) -> u64 {
        self.line.clear();
        if let Err(e) = serde_json::to_writer(&mut self.line, f) {
            crate::error!("cannot serialize a finding: {e}");
            return self.sinks.len() as u64;
        }
        self.line.push(b'\n');
        let mut failed = 0;
        for s in &mut self.sinks {
            if let Err(e) = s.write_line(&self.line) {
                failed += 1;
                crate::error!("output {} failed: {e}; finding: {}", s.describe(), String::from_utf8_lossy(&self.line).trim_end());
            }
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!("stdout".parse(), Ok(OutputSpec::Stdout));
        assert_eq!("jsonl:/var/log/x.jsonl".parse(), Ok(OutputSpec::Jsonl("/var/log/x.jsonl".into())));
        assert!("jsonl:rel.jsonl".parse::<OutputSpec>().is_err());
        assert!("syslog".parse::<OutputSpec>().is_err());
    }

    #[test]
    fn jsonl_is_created_0640_and_appends() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("sockwatch-out-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut s = open(&OutputSpec::Jsonl(path.clone())).unwrap();
        s.write_line(b"{\"a\":1}\n").unwrap();
        drop(s);
        let mut s = open(&OutputSpec::Jsonl(path.clone())).unwrap();
        s.write_line(b"{\"a\":2}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        std::fs::remove_file(&path).unwrap();
        // The umask may take bits away, never add them.
        assert_eq!(mode & !0o640, 0);
    }
}
