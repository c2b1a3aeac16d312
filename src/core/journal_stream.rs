//! Whether sockwatch's stderr is the journal, and what follows for health
//! events. Under systemd, stderr is a stream into the journal, and systemd sets
//! `$JOURNAL_STREAM` to that stream's device and inode. A health event logged
//! on stderr there is a second journal entry beside the native one the
//! journald output writes. The native entry is the one kept: it has the
//! structured fields (MESSAGE_ID and its catalog text, HEALTH_EVENT,
//! SOCKWATCH_JSON) that the stderr line lacks. Pure: the caller reads the
//! variable and fstat(2)s fd 2 (`io::log::stderr_is_journal`).

/// Whether `var`, the value of `$JOURNAL_STREAM` (`DEVICE:INODE`, both in
/// decimal, as systemd writes them), names the file of device `dev` and inode
/// `ino`. The variable is inherited by children whose stderr may be elsewhere
/// (a shell started from a unit, redirected): only a match with fd 2 itself
/// means stderr is the journal.
pub fn names(var: Option<&str>, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = var.and_then(|v| v.split_once(':')) else { return false };
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u64>().ok())?
    };
    number(d) == Some(dev) && number(i) == Some(ino)
}

/// Whether a health event is also logged on stderr: not when stderr is the
/// journal and the journald output writes it there already.
pub fn health_on_stderr(stderr_is_journal: bool, journald_output: bool) -> bool {
    !(stderr_is_journal && journald_output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_must_name_stderr_itself() {
        #[rustfmt::skip]
        let rows: [(&str, Option<&str>, bool); 10] = [
            ("stderr's own stream", Some("8:12345"), true),
            ("another stream (inherited, stderr redirected)", Some("8:54321"), false),
            ("another device", Some("9:12345"), false),
            ("unset", None, false),
            ("empty", Some(""), false),
            ("no colon", Some("812345"), false),
            ("empty inode", Some("8:"), false),
            ("signs are no digits", Some("+8:12345"), false),
            ("trailing text", Some("8:12345x"), false),
            ("too large", Some("8:99999999999999999999999"), false),
        ];
        for (name, var, want) in rows {
            assert_eq!(names(var, 8, 12345), want, "{name}");
        }
    }

    #[test]
    fn health_events_go_to_stderr_unless_the_journal_has_them() {
        #[rustfmt::skip]
        let rows = [
            // (stderr is the journal, journald output, also on stderr)
            (true, true, false),
            (true, false, true),
            (false, true, true),
            (false, false, true),
        ];
        for (journal, output, want) in rows {
            assert_eq!(health_on_stderr(journal, output), want, "{journal} {output}");
        }
    }
}
