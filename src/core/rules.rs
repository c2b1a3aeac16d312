//! The audit rules sockwatch needs, in both of their forms: auditctl text for
//! rules.d, and the kernel's `audit_rule_data` (via netlink-packet-audit, whose
//! encoding is byte-identical to auditctl's).
//!
//! Per watched socket there is a connect rule for each ABI the kernel runs (the
//! native one, and 32-bit where the build's architecture has a compat ABI), each
//! filtered by `-F path=`, which the kernel resolves to an inode. io_uring gets one
//! rule for all sockets: the kernel never fires a uring rule that has a path
//! filter, but it does honour a socket-family filter there (`saddr_fam=1`,
//! AF_UNIX only), so a flood of a container's AF_INET io_uring connects makes no
//! records. (The field came in Linux 5.3, the uring list in 5.16: every kernel
//! that takes the rule knows the field.) netlink-packet-audit has no variant for that field: rules are kept,
//! loaded and compared as the kernel's bytes (`rule_data`).

use netlink_packet_audit::rules::{
    RuleAction, RuleField, RuleFieldFlags, RuleFlags, RuleMessage, RuleSyscalls,
};
use netlink_packet_core::Emitable;

use super::abi::{Abi, URING_OP_CONNECT};
use super::rule_data::{self, Value};

/// The key of the rules sockwatch installs: `scan` takes a record carrying it
/// for a connect to a watched socket.
pub const KEY: &str = "sockwatch";
/// The key of the rules of `sockwatch test`'s own run, so that its throw-away
/// connect is never taken by a later `scan` for a connect to a watched socket.
pub const TEST_KEY: &str = "sockwatch-test";

static ACTIVE_KEY: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// The key this process's rules carry: KEY, or TEST_KEY once `use_test_key` ran.
pub fn key() -> &'static str {
    ACTIVE_KEY.get().copied().unwrap_or(KEY)
}

/// For `run --test-rules`, before any rule is built: set once, for the process.
pub fn use_test_key() {
    let _ = ACTIVE_KEY.set(TEST_KEY);
}

/// The kernel's queue of records not yet delivered. Its default, 64, overflows
/// within a burst of container starts; a full queue loses records (counted in
/// `lost`). A record takes 1-9 KiB, so a full queue of 8192 holds 8-70 MiB of
/// kernel memory; it fills only while nothing reads it.
pub const BACKLOG_LIMIT: u32 = 8192;

pub const AUDIT_FILTER_EXIT: u32 = 4;
pub const AUDIT_FILTER_URING_EXIT: u32 = 7;
pub const AUDIT_FILTER_PREPEND: u32 = 0x10;
const AUDIT_ALWAYS: u32 = 2;
/// The rule field for the socket address's family (the SOCKADDR record's).
const AUDIT_SADDR_FAM: u32 = 113;
const AF_UNIX: u32 = 1;
const AUDIT_EQUAL: u32 = 0x4000_0000;
const AUDIT_WATCH: u32 = 105;
const AUDIT_FILTERKEY: u32 = 210;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSpec {
    /// `-A always,exit -F arch=.. -S connect|socketcall [-F a0=3] -F path=P -F key=K`
    Connect { abi: Abi, socketcall: bool, path: String },
    /// The io_uring connect op, on the uring exit list, without a path.
    Uring,
}

impl RuleSpec {
    /// The rule in auditctl syntax. The uring rule has none that auditctl 3.0.9
    /// accepts; `None` for it.
    pub fn auditctl(&self) -> Option<String> {
        match self {
            RuleSpec::Connect { abi, socketcall, path } => {
                let (sys, a0) =
                    if *socketcall { ("socketcall", " -F a0=3") } else { ("connect", "") };
                Some(format!(
                    "-A always,exit -F arch={} -S {sys}{a0} -F path={path} -F key={}",
                    abi.name,
                    key()
                ))
            }
            RuleSpec::Uring => None,
        }
    }

    /// A human-readable description for every rule, auditctl-like for the uring one.
    pub fn describe(&self) -> String {
        self.auditctl().unwrap_or_else(|| {
            format!("-A always,io_uring -U connect -F saddr_fam=1 -F key={}", key())
        })
    }

    /// The `audit_rule_data` for AUDIT_ADD_RULE: first on its list.
    pub fn add_bytes(&self) -> Vec<u8> {
        let mut raw = self.bytes();
        let flags = rule_data::word(&raw, 0).unwrap_or(0) | AUDIT_FILTER_PREPEND;
        raw[..4].copy_from_slice(&flags.to_ne_bytes());
        raw
    }

    /// The `audit_rule_data` as the kernel keeps it, for AUDIT_DEL_RULE and for
    /// comparing with AUDIT_LIST_RULES. The kernel clears the prepend flag once the
    /// rule is in place and compares rules with their flags, so a delete or a
    /// duplicate check that carried it would never match.
    pub fn bytes(&self) -> Vec<u8> {
        let m = self.message();
        let mut raw = vec![0; m.buffer_len()];
        m.emit(&mut raw);
        if let RuleSpec::Uring = self {
            rule_data::push_field(&mut raw, AUDIT_SADDR_FAM, AUDIT_EQUAL, AF_UNIX);
        }
        raw
    }

    /// The rule as netlink-packet-audit encodes it: all of it but the uring
    /// rule's family field.
    fn message(&self) -> RuleMessage {
        let mut m = RuleMessage::new();
        m.action = RuleAction::from(AUDIT_ALWAYS);
        let mut syscalls = RuleSyscalls::new_zeroed();
        match self {
            RuleSpec::Connect { abi, socketcall, path } => {
                m.flags = RuleFlags::from(AUDIT_FILTER_EXIT);
                m.fields.push((RuleField::Arch(abi.arch), RuleFieldFlags::Equal));
                match (socketcall, abi.socketcall) {
                    (true, Some(nr)) => {
                        syscalls.set(nr);
                        m.fields.push((RuleField::Arg0(3), RuleFieldFlags::Equal));
                    }
                    _ => {
                        syscalls.set(abi.connect);
                    }
                }
                m.fields.push((RuleField::Watch(path.clone()), RuleFieldFlags::Equal));
            }
            RuleSpec::Uring => {
                m.flags = RuleFlags::from(AUDIT_FILTER_URING_EXIT);
                syscalls.set(URING_OP_CONNECT);
            }
        }
        m.syscalls = syscalls;
        m.fields.push((RuleField::Filterkey(key().into()), RuleFieldFlags::Equal));
        m
    }

    /// Whether a rule as the kernel lists it (AUDIT_LIST_RULES) is this one.
    pub fn is(&self, listed: &[u8]) -> bool {
        rule_data::same(&self.bytes(), listed)
    }
}

/// How many times each of `rules` is loaded, as the kernel lists them. The kernel
/// refuses a duplicate only when the flags match too, and a rule added first on
/// its list (`-A`, as ours are, from sockwatch or from the rules file through
/// augenrules) never matches one already in place, whose prepend flag is cleared:
/// both loaders together leave each rule loaded twice.
pub fn copies(rules: &[RuleSpec], listed: &[Vec<u8>]) -> Vec<usize> {
    let ours: Vec<Vec<u8>> = rules.iter().map(RuleSpec::bytes).collect();
    ours.iter().map(|r| listed.iter().filter(|l| rule_data::same(r, l)).count()).collect()
}

/// Whether a listed rule carries sockwatch's key, whatever else it says: what
/// `rules remove --all` unloads, so that rules for sockets no longer configured
/// go too.
pub fn carries_our_key(listed: &[u8]) -> bool {
    rule_data::fields(listed)
        .iter()
        .any(|(f, _, v)| *f == AUDIT_FILTERKEY && *v == Value::Str(key().into()))
}

/// A listed rule of ours, in words: its path, or that it is the io_uring rule.
pub fn describe_listed(listed: &[u8]) -> String {
    let path = rule_data::fields(listed).into_iter().find_map(|(f, _, v)| match v {
        Value::Str(p) if f == AUDIT_WATCH => Some(String::from_utf8_lossy(&p).into_owned()),
        _ => None,
    });
    match path {
        Some(p) => format!("a rule with key={} for {p}", key()),
        None => format!("a rule with key={} and no path (io_uring)", key()),
    }
}

/// The rule set for these sockets (host paths, symlinks resolved), in load order.
pub fn rule_set(sockets: &[String], abis: &[Abi]) -> Vec<RuleSpec> {
    let mut rules = Vec::new();
    for path in sockets {
        for abi in abis {
            rules.push(RuleSpec::Connect { abi: *abi, socketcall: false, path: path.clone() });
            if abi.socketcall.is_some() {
                rules.push(RuleSpec::Connect { abi: *abi, socketcall: true, path: path.clone() });
            }
        }
    }
    rules.push(RuleSpec::Uring);
    rules
}

/// Why a rules file line cannot name the socket `path`, or `None` when it can.
/// auditctl splits a line on whitespace and has no quoting (auditctl 3.0.9: a
/// path with a space or a tab makes `auditctl -R` stop at that line, and quotes
/// are taken as part of the path, so `"/a b"` names another file); a control
/// character would break the line or hide in it. Over netlink a path is bytes
/// with a length, so `run` and `rules install --no-persist` still take it.
pub fn unwritable_in_file(path: &str) -> Option<&'static str> {
    if path.chars().any(|c| c.is_ascii_whitespace() || c == '\x0b') {
        Some(
            "it holds whitespace, which auditctl's rules file parser splits on (it has no quoting)",
        )
    } else if path.chars().any(char::is_control) {
        Some("it holds a control character, which a line of the rules file cannot carry")
    } else {
        None
    }
}

/// The rules file for /etc/audit/rules.d: every rule auditctl can load, and the
/// uring rule as a comment, since sockwatch loads that one itself over netlink.
pub fn rules_file(rules: &[RuleSpec]) -> String {
    let mut out = String::from(
        "## sockwatch: audit rules for connects to container runtime sockets.\n\
         ## Written by `sockwatch rules install`; `sockwatch rules print` shows the same.\n\
         ## -A puts each rule first on its list, so an earlier `never` rule cannot hide it.\n",
    );
    out.push_str(&format!(
        "## A queue deep enough for bursts matters (a full one loses records): `sockwatch run`\n\
         ## raises the backlog limit to {BACKLOG_LIMIT} while it runs if it is lower. To keep it\n\
         ## for auditd too, set `-b {BACKLOG_LIMIT}` (or more) in your own rules.\n"
    ));
    let deferred =
        |r: &RuleSpec| matches!(r, RuleSpec::Connect { path, .. } if !exists_at_boot(path));
    if rules.iter().any(deferred) {
        // auditctl -R stops at the first rule it cannot load, and the kernel
        // refuses a path rule whose directory does not exist: at boot, a
        // runtime's own directory under /run does not yet.
        out.push_str(
            "## Rules for sockets in a runtime's own directory under /run are commented out:\n\
             ## that directory is made after boot, the kernel refuses a path rule until it\n\
             ## exists, and auditctl -R would stop there. `sockwatch run` loads them when it appears.\n",
        );
    }
    for r in rules {
        match r.auditctl() {
            Some(line) if deferred(r) => out.push_str(&format!("# {line}\n")),
            Some(line) => {
                out.push_str(&line);
                out.push('\n');
            }
            None => {
                out.push_str("## io_uring connects (auditctl 3.0.9 cannot parse this rule; `sockwatch run`\n");
                out.push_str("## and `sockwatch rules install` load it over netlink):\n");
                out.push_str(&format!("# {}\n", r.describe()));
            }
        }
    }
    out
}

/// Whether the rules.d file (as `rules_file` writes it, or as an administrator
/// edited it) loads `rule`: a line, not commented out, that is the rule's
/// auditctl text.
pub fn file_loads(text: &str, rule: &RuleSpec) -> bool {
    let Some(line) = rule.auditctl() else { return false };
    text.lines().any(|l| l.trim() == line)
}

/// Which of the rules this run added to remove on exit. With an audit daemon
/// registered, a rule that its rules file also loads stays: that daemon's
/// loader (augenrules after auditd's `-D`) found the rule already there, as
/// sockwatch had restored it first, so no copy of its own exists; removing
/// sockwatch's would leave the host without a rule its rules file asks for.
pub fn removed_on_exit<'a>(
    added: &'a [RuleSpec],
    audit_daemon: bool,
    rules_file: Option<&str>,
) -> (Vec<&'a RuleSpec>, Vec<&'a RuleSpec>) {
    added.iter().partition(|r| !(audit_daemon && rules_file.is_some_and(|t| file_loads(t, r))))
}

/// Whether a socket's directory exists when audit's rules are loaded at boot:
/// /run itself does, a runtime's directory under it (a tmpfs emptied at every
/// boot) does not.
pub fn exists_at_boot(path: &str) -> bool {
    let parent = path.rsplit_once('/').map_or("", |(d, _)| d);
    matches!(parent, "/run" | "/var/run")
        || !(path.starts_with("/run/") || path.starts_with("/var/run/"))
}

/// Native-ABI connect rules are the ones detection cannot do without; 32-bit and
/// io_uring rules are loaded where the kernel supports them.
pub fn is_required(rule: &RuleSpec) -> bool {
    matches!(rule, RuleSpec::Connect { abi, socketcall: false, .. } if Some(abi) == super::abi::native().first())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_path_with_whitespace_or_a_control_character_cannot_be_in_the_file() {
        use super::unwritable_in_file as f;
        let space = Some("whitespace");
        let control = Some("control");
        for (path, want) in [
            ("/run/docker.sock", None),
            // Taken by auditctl as they are (checked with auditctl -R).
            ("/tmp/sw\"q/x.sock", None),
            ("/tmp/sw'a/x.sock", None),
            ("/tmp/sw#h/x.sock", None),
            ("/tmp/sw\\b/x.sock", None),
            ("/tmp/sw\u{e9}/x.sock", None),
            ("/tmp/a b/x.sock", space),
            ("/tmp/a\tb/x.sock", space),
            ("/tmp/a\nb/x.sock", space),
            ("/tmp/a\rb", space),
            ("/tmp/a\x0bb", space),
            ("/tmp/a\x0cb", space),
            ("/tmp/a\x01b", control),
            ("/tmp/a\x7fb", control),
            ("/tmp/a\u{85}b", control),
        ] {
            let got = f(path);
            assert_eq!(got.is_some(), want.is_some(), "{path:?}: {got:?}");
            if let (Some(got), Some(want)) = (got, want) {
                assert!(got.contains(want), "{path:?}: {got}");
            }
        }
    }

    use netlink_packet_audit::rules::RuleBuffer;
    use netlink_packet_core::Parseable;

    use super::super::abi::{I386, X86_64};
    use super::*;

    /// What the kernel sends back for a rule added with the prepend flag: the same
    /// bytes, with that flag cleared (and, in a reply, maybe padding after them).
    fn as_kernel_lists(added: &[u8]) -> Vec<u8> {
        let mut buf = added.to_vec();
        let flags = u32::from_ne_bytes(buf[0..4].try_into().unwrap()) & !AUDIT_FILTER_PREPEND;
        buf[0..4].copy_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&[0, 0, 0]);
        buf
    }

    #[test]
    fn our_key_is_recognised_on_any_rule_of_ours_and_no_other() {
        for r in rule_set(
            &["/run/docker.sock".into(), "/elsewhere.sock".into()],
            super::super::abi::native(),
        ) {
            assert!(carries_our_key(&r.bytes()), "{}", r.describe());
        }
        assert!(carries_our_key(&RuleSpec::Uring.bytes()));
        let mut other = RuleSpec::Uring.message();
        other.fields.retain(|(f, _)| !matches!(f, RuleField::Filterkey(_)));
        other.fields.push((RuleField::Filterkey("sockwatch2".into()), RuleFieldFlags::Equal));
        let mut raw = vec![0; other.buffer_len()];
        other.emit(&mut raw);
        assert!(!carries_our_key(&raw));
        assert_eq!(
            describe_listed(&RuleSpec::Uring.bytes()),
            "a rule with key=sockwatch and no path (io_uring)"
        );
        let docker = &rule_set(&["/run/docker.sock".into()], &[X86_64])[0];
        assert_eq!(
            describe_listed(&docker.bytes()),
            "a rule with key=sockwatch for /run/docker.sock"
        );
    }

    #[test]
    fn encode_list_decode_roundtrip() {
        let rules = rule_set(
            &["/run/docker.sock".into(), "/run/containerd/containerd.sock".into()],
            &[X86_64, I386],
        );
        assert_eq!(rules.len(), 2 * 3 + 1);
        for r in &rules {
            let listed = as_kernel_lists(&r.add_bytes());
            assert!(r.is(&listed), "{}", r.describe());
            assert!(!r.is(&r.add_bytes()), "as added (prepend flag set), not as listed");
            for other in rules.iter().filter(|o| *o != r) {
                assert!(!other.is(&listed), "{} mistaken for {}", other.describe(), r.describe());
            }
        }
        // Every connect rule is the crate's encoding, which decodes back to itself.
        for r in rules.iter().filter(|r| **r != RuleSpec::Uring) {
            let raw = r.bytes();
            let m = RuleMessage::parse(&RuleBuffer::new_checked(&raw[..]).unwrap()).unwrap();
            assert_eq!(m, r.message(), "{}", r.describe());
        }
    }

    #[test]
    fn copies_count_each_rule_as_listed() {
        let rules = rule_set(&["/run/docker.sock".into()], &[X86_64, I386]);
        let listed: Vec<Vec<u8>> =
            [0, 1, 1, 3, 3, 3].iter().map(|&i| as_kernel_lists(&rules[i].add_bytes())).collect();
        assert_eq!(copies(&rules, &listed), [1, 2, 0, 3]);
        // As added (prepend flag set), a rule is not the one the kernel lists.
        assert_eq!(copies(&rules[..1], &[rules[0].add_bytes()]), [0]);
        // Bytes cut short are no rule.
        assert_eq!(copies(&rules[..1], &[rules[0].bytes()[..100].to_vec()]), [0]);
    }

    #[test]
    fn b64_rule_bytes_match_auditctl() {
        // auditctl -A always,exit -F arch=b64 -S connect -F path=/run/docker.sock -F key=sockwatch
        let buf = rule_set(&["/run/docker.sock".into()], &[X86_64])[0].add_bytes();
        let word = |i: usize| u32::from_ne_bytes(buf[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(word(0), AUDIT_FILTER_EXIT | AUDIT_FILTER_PREPEND);
        assert_eq!(word(1), AUDIT_ALWAYS);
        assert_eq!(word(2), 3, "field count: arch, path, key");
        assert_eq!(word(3 + 1), 1 << (42 - 32), "connect is bit 42 of the mask");
        let fields = 3 + 64;
        let values = fields + 64;
        let flags = values + 64;
        assert_eq!((word(fields), word(fields + 1), word(fields + 2)), (11, 105, 210));
        assert_eq!((word(values), word(values + 1), word(values + 2)), (X86_64.arch, 16, 9));
        assert_eq!(word(flags), 0x4000_0000);
        let buflen = word(flags + 64) as usize;
        assert_eq!(&buf[buf.len() - buflen..], b"/run/docker.socksockwatch");
    }

    #[test]
    fn printed_rules() {
        let rules = rule_set(&["/run/docker.sock".into()], &[X86_64, I386]);
        let lines: Vec<String> = rules.iter().filter_map(RuleSpec::auditctl).collect();
        assert_eq!(
            lines,
            [
                "-A always,exit -F arch=b64 -S connect -F path=/run/docker.sock -F key=sockwatch",
                "-A always,exit -F arch=b32 -S connect -F path=/run/docker.sock -F key=sockwatch",
                "-A always,exit -F arch=b32 -S socketcall -F a0=3 -F path=/run/docker.sock -F key=sockwatch",
            ]
        );
        let file = rules_file(&rules);
        assert!(
            file.contains("\n# -A always,io_uring -U connect -F saddr_fam=1 -F key=sockwatch\n")
        );
        assert_eq!(file.lines().filter(|l| l.starts_with("-A")).count(), 3);
        assert!(
            !file.lines().any(|l| l.starts_with("-b") || l.starts_with("--backlog")),
            "no global settings in our file"
        );

        let deep = rules_file(&rule_set(
            &["/run/docker.sock".into(), "/run/crio/crio.sock".into(), "/srv/x.sock".into()],
            &[X86_64],
        ));
        let active: Vec<&str> = deep.lines().filter(|l| l.starts_with("-A")).collect();
        assert_eq!(
            active,
            [
                "-A always,exit -F arch=b64 -S connect -F path=/run/docker.sock -F key=sockwatch",
                "-A always,exit -F arch=b64 -S connect -F path=/srv/x.sock -F key=sockwatch"
            ]
        );
        assert!(deep.contains("\n# -A always,exit -F arch=b64 -S connect -F path=/run/crio/crio.sock -F key=sockwatch\n"));
    }

    #[test]
    fn on_exit_the_rules_an_audit_daemons_file_loads_stay() {
        let added = rule_set(
            &["/run/docker.sock".into(), "/run/crio/crio.sock".into(), "/srv/x.sock".into()],
            &[X86_64],
        );
        let file = rules_file(&added);
        let names = |v: Vec<&RuleSpec>| v.into_iter().map(RuleSpec::describe).collect::<Vec<_>>();
        // Alone on the host: everything this run added goes.
        let (gone, kept) = removed_on_exit(&added, false, Some(&file));
        assert_eq!((gone.len(), kept.len()), (added.len(), 0));
        // auditd registered, no rules file: the same.
        let (gone, kept) = removed_on_exit(&added, true, None);
        assert_eq!((gone.len(), kept.len()), (added.len(), 0));
        // auditd registered with our file: what it loads stays; the commented-out
        // rules (a runtime directory made after boot, io_uring) still go.
        let (gone, kept) = removed_on_exit(&added, true, Some(&file));
        assert_eq!(
            names(kept),
            [
                "-A always,exit -F arch=b64 -S connect -F path=/run/docker.sock -F key=sockwatch",
                "-A always,exit -F arch=b64 -S connect -F path=/srv/x.sock -F key=sockwatch"
            ]
        );
        assert_eq!(gone.len(), 2);
        // A line edited by hand (another key) does not count as ours.
        let edited = file.replace("/srv/x.sock -F key=sockwatch", "/srv/x.sock -F key=other");
        let (_, kept) = removed_on_exit(&added, true, Some(&edited));
        assert_eq!(kept.len(), 1);
    }

    #[test]
    fn uring_rule_is_on_list_7_with_op_16_af_unix_and_no_path() {
        let raw = RuleSpec::Uring.add_bytes();
        let word = |i: usize| rule_data::word(&raw, i).unwrap();
        assert_eq!(word(0), AUDIT_FILTER_URING_EXIT | AUDIT_FILTER_PREPEND);
        assert_eq!(word(1), AUDIT_ALWAYS);
        // The mask: op 16 (IORING_OP_CONNECT) only.
        assert_eq!((3..3 + 64).map(word).collect::<Vec<_>>()[..2], [1 << 16, 0]);
        assert!((3 + 1..3 + 64).all(|i| word(i) == 0));
        assert_eq!(
            rule_data::fields(&raw),
            [
                (AUDIT_FILTERKEY, AUDIT_EQUAL, Value::Str(KEY.into())),
                (AUDIT_SADDR_FAM, AUDIT_EQUAL, Value::Num(AF_UNIX)),
            ]
        );
        assert_eq!(
            rule_data::rule_text(&raw, "always,io_uring"),
            "-a always,io_uring -F key=sockwatch -F saddr_fam=1"
        );
    }
}
