//! `sockwatch scan --summary`: counts of findings per container image, per
//! executable and per socket, as aureport counts events, in place of the
//! findings themselves. The names are a container's to choose, so each table
//! keeps a bounded number of rows and counts the rest together, and every
//! control character is escaped before it reaches a terminal.

use std::collections::HashMap;

use super::finding::Finding;

/// Distinct names kept per table; findings past it are counted as "(others)".
pub const MAX_ROWS: usize = 10_000;
/// A name is kept up to this many bytes (names alike that far are one row,
/// marked cut): a log's exe can be as long as its line.
const MAX_NAME: usize = 256;
/// And shown up to this many characters, escapes included, so that one long
/// name does not pad every row of its table.
const MAX_SHOWN: usize = 120;

#[derive(Debug, Default)]
struct Table {
    rows: HashMap<String, u64>,
    others: u64,
}

impl Table {
    fn add(&mut self, key: &str) {
        let key = cut(key, MAX_NAME);
        let key = key.as_ref();
        if let Some(n) = self.rows.get_mut(key) {
            *n += 1;
        } else if self.rows.len() < MAX_ROWS {
            self.rows.insert(key.to_string(), 1);
        } else {
            self.others += 1;
        }
    }

    /// Rows by count, largest first, then by name.
    fn sorted(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> =
            self.rows.iter().map(|(k, n)| (shown(&escape(k)), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        if self.others > 0 {
            v.push(("(others)".into(), self.others));
        }
        v
    }
}

#[derive(Debug, Default)]
pub struct Tally {
    pub findings: u64,
    image: Table,
    exe: Table,
    socket: Table,
    matched_by: Table,
}

impl Tally {
    /// Counts one finding. The image is the container's image where the finding
    /// knows it, else its runtime (`unknown` offline); the executable is `exe`,
    /// else `comm`; the socket is the watched socket it reached.
    pub fn add(&mut self, f: &Finding) {
        self.findings += 1;
        let image =
            f.container.image.clone().unwrap_or_else(|| format!("({})", f.container.runtime));
        self.image.add(&image);
        let exe = f.process.exe.as_deref().or(f.process.comm.as_deref()).unwrap_or("(none)");
        self.exe.add(exe);
        self.socket.add(&f.socket.watched);
        let by = f
            .details
            .as_ref()
            .and_then(|d| d.get("matched_by"))
            .and_then(|m| m.as_str())
            .unwrap_or("inode");
        self.matched_by.add(by);
    }

    /// The report: one table per key, aligned.
    pub fn render(&self) -> String {
        let mut out = format!("Findings: {}\n", self.findings);
        for (title, table) in [
            ("container image", &self.image),
            ("executable", &self.exe),
            ("socket", &self.socket),
            ("matched by", &self.matched_by),
        ] {
            let rows = table.sorted();
            let width =
                rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0).max(title.len());
            out.push_str(&format!("\n{title:<width$}  count\n{}  -----\n", "-".repeat(width)));
            for (k, n) in rows {
                out.push_str(&format!("{k:<width$}  {n:>5}\n"));
            }
        }
        out
    }
}

/// `s` up to `max` bytes, on a character boundary, marked `…` where cut.
fn cut(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end]).into()
}

/// At most MAX_SHOWN characters of an escaped name, marked `…` where cut.
fn shown(s: &str) -> String {
    match s.char_indices().nth(MAX_SHOWN) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Control characters (a container's exe may hold any) as Rust escapes.
fn escape(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::connect::{ConnectEvent, Ids, SockAddr, Via};
    use crate::core::detect::{FileId, Hit};
    use crate::core::finding::{Extra, connect_finding};
    use crate::core::origin::{Origin, Unproven};
    use crate::core::record::Stamp;

    fn finding(exe: &str, watched: &str, by: Option<&str>) -> Finding {
        let ev = ConnectEvent {
            stamp: Stamp { sec: 1, msec: 0, serial: 1 },
            via: Via::Syscall,
            success: Some(true),
            exit: Some(0),
            ids: Ids::default(),
            comm: Some(b"c".to_vec()),
            exe: Some(exe.as_bytes().to_vec()),
            key: None,
            addr: Some(SockAddr::Unix(watched.as_bytes().to_vec())),
            paths: vec![],
            cwd: None,
            proctitle: None,
        };
        let hit = Hit { watched: 0, file: FileId { major: 0, minor: 1, inode: 2 } };
        let origin = Origin::Unknown { namespaces: None, why: Unproven::Offline };
        let extra = Extra { now: "T".into(), cmdline: None, hostname: None };
        let mut f = connect_finding(&ev, &hit, watched, &origin, extra);
        f.details = by.map(|b| serde_json::json!({ "matched_by": b }));
        f
    }

    #[test]
    fn counts_per_image_exe_socket_and_match() {
        let mut t = Tally::default();
        t.add(&finding("/usr/bin/curl", "/run/docker.sock", None));
        t.add(&finding("/usr/bin/curl", "/run/docker.sock", Some("rule_key")));
        t.add(&finding("/bin/evil\x1b[2J", "/run/containerd/containerd.sock", Some("path")));
        let r = t.render();
        assert!(r.starts_with("Findings: 3\n"), "{r}");
        // Each row: the name, spaces, the count; tables aligned on the widest name.
        let rows: Vec<(&str, &str)> = r
            .lines()
            .filter_map(|l| l.rsplit_once("  ").map(|(k, n)| (k.trim_end(), n.trim())))
            .collect();
        for row in [
            ("(unknown)", "3"),
            ("/usr/bin/curl", "2"),
            ("/run/docker.sock", "2"),
            ("/run/containerd/containerd.sock", "1"),
            ("inode", "1"),
            ("rule_key", "1"),
            ("path", "1"),
        ] {
            assert!(rows.contains(&row), "{row:?}: {r}");
        }
        assert!(r.contains("\nsocket                           count\n"), "{r}");
        assert!(r.contains("\\u{1b}[2J"), "escaped: {r}");
        assert!(!r.contains('\x1b'));
    }

    #[test]
    fn rows_are_bounded() {
        let mut t = Table::default();
        for i in 0..MAX_ROWS + 5 {
            t.add(&i.to_string());
        }
        t.add("0");
        let rows = t.sorted();
        assert_eq!(rows.len(), MAX_ROWS + 1);
        assert_eq!(rows[0], ("0".to_string(), 2));
        assert_eq!(rows.last().unwrap(), &("(others)".to_string(), 5));
    }

    #[test]
    fn long_names_are_kept_and_shown_cut() {
        let mut t = Table::default();
        let long = format!("/{}", "\x01".repeat(4000));
        t.add(&long);
        t.add(&format!("{long}/other"));
        let rows = t.sorted();
        // Alike for MAX_NAME bytes: one row, counted twice, cut where shown.
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].1, 2);
        assert_eq!(rows[0].0.chars().count(), MAX_SHOWN + 1);
        assert!(rows[0].0.ends_with('…') && rows[0].0.starts_with("/\\u{1}"));
        assert!(t.rows.keys().all(|k| k.len() <= MAX_NAME + '…'.len_utf8()));
        assert_eq!(cut("aé", 2), "a…");
    }
}
