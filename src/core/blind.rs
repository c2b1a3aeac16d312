//! What can leave audit blind while everything looks fine: a `never` rule on the
//! task list, audit first switched on after the containers started, an ABI no
//! syscall rule sees, a rule the kernel refused. Each is a decision over plain
//! data (rule bytes, the kernel command line, process start times), so the
//! daemon, `rules status` and `doctor` share it and it is tested without root.

use std::collections::BTreeMap;

use super::cgroup::Container;
use super::rule_data::{rule_text, word};
use super::rules::RuleSpec;

/// The task list: consulted once when a task is created. A `never` there gives
/// the task no audit context, and no exit rule can fire for it, ever.
pub const AUDIT_FILTER_TASK: u32 = 1;
const AUDIT_NEVER: u32 = 0;
/// Where the rule usually comes from: auditd's sample set, loaded by default on
/// Fedora, RHEL and their relatives.
pub const TASK_NEVER_SOURCE: &str = "/etc/audit/rules.d/10-no-audit.rules (auditd's sample rules; loaded by default on Fedora and RHEL-family systems)";

/// The text of a loaded rule if it is a `never` rule on the task list, from the
/// bytes the kernel listed (decoded or not: a rule with fields no crate knows
/// still blinds).
pub fn task_never(raw: &[u8]) -> Option<String> {
    let list = word(raw, 0)? & !0x10;
    (list == AUDIT_FILTER_TASK && word(raw, 1)? == AUDIT_NEVER)
        .then(|| rule_text(raw, "never,task"))
}

/// The value of `audit=` on the kernel command line (the last one wins, as in the
/// kernel), or `None` when there is none.
pub fn cmdline_audit(cmdline: &str) -> Option<String> {
    cmdline
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("audit="))
        .next_back()
        .map(str::to_string)
}

/// Whether processes that ran before audit was first switched on since boot may
/// be unaudited: only `audit=1` (or `on`) on the command line gives every task an
/// audit context from the start.
pub fn may_be_enabled_late(cmdline_audit: Option<&str>) -> bool {
    !matches!(cmdline_audit, Some("1" | "on"))
}

/// A process, as far as the blind-spot reports need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    /// Clock ticks since boot at which this task (the process, or one of its
    /// threads: each gets its own audit context, or none) started.
    pub start: u64,
    pub container: Option<Container>,
}

/// The containers with tasks that started within `[from, until]` (ticks since
/// boot; `from` `None` means since boot), with how many processes have such
/// tasks.
/// The bounds are inclusive: a tick is 10 ms, and a process of the same tick may
/// be on either side, so it counts.
pub fn containers_started(
    procs: &[Proc],
    from: Option<u64>,
    until: u64,
) -> Vec<(Container, usize)> {
    let mut by: BTreeMap<(String, &'static str), (Container, std::collections::BTreeSet<u32>)> =
        BTreeMap::new();
    for p in procs {
        let Some(c) = &p.container else { continue };
        if p.start > until || from.is_some_and(|f| p.start < f) {
            continue;
        }
        by.entry((c.id.clone(), c.runtime.as_str()))
            .or_insert_with(|| (c.clone(), Default::default()))
            .1
            .insert(p.pid);
    }
    by.into_values().map(|(c, pids)| (c, pids.len())).collect()
}

/// Which connects go unseen without this rule, in words for the operator.
pub fn invisible_without(rule: &RuleSpec) -> &'static str {
    match rule {
        RuleSpec::Uring => "io_uring connects (IORING_OP_CONNECT) to every watched socket",
        RuleSpec::Connect { socketcall: true, .. } => {
            "32-bit programs' connects made through socketcall()"
        }
        RuleSpec::Connect { abi, .. } if abi.name == "b32" => "32-bit programs' connects",
        RuleSpec::Connect { .. } => "every connect to this socket",
    }
}

/// Whether a kernel of this release (`uname -r`) has the io_uring audit filter
/// (list 7, since 5.16); `None` when the release does not parse.
pub fn has_uring_filter(release: &str) -> Option<bool> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    Some((major, minor) >= (5, 16))
}

/// What the x32 probe found: x32 system calls (numbers with bit 30 set) never
/// match an audit syscall rule (the kernel's `audit_in_mask` ignores numbers of
/// 2048 and above), so a connect through x32 is invisible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum X32 {
    Enabled,
    Disabled,
    /// The probe was stopped (a seccomp filter) and no kernel configuration said.
    Unknown,
}

/// The x32 verdict from the kernel's configuration, when no probe could be made:
/// `CONFIG_X86_X32_ABI` builds it in, Debian's `CONFIG_X86_X32_DISABLED` keeps it
/// off unless `syscall.x32=y` is on the command line.
pub fn x32_from_config(config: &str, cmdline: &str) -> X32 {
    let set = |name: &str| config.lines().any(|l| l.trim() == format!("{name}=y"));
    if !set("CONFIG_X86_X32_ABI") && !set("CONFIG_X86_X32") {
        return X32::Disabled;
    }
    let param =
        cmdline.split_whitespace().filter_map(|w| w.strip_prefix("syscall.x32=")).next_back();
    let disabled_by_default = set("CONFIG_X86_X32_DISABLED");
    match param {
        Some("y" | "Y" | "1") => X32::Enabled,
        Some("n" | "N" | "0") => X32::Disabled,
        _ if disabled_by_default => X32::Disabled,
        _ => X32::Enabled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cgroup::Runtime;
    use netlink_packet_audit::rules::{
        RuleAction, RuleField, RuleFieldFlags, RuleFlags, RuleMessage,
    };

    fn raw(m: &RuleMessage) -> Vec<u8> {
        use netlink_packet_core::Emitable;
        let mut buf = vec![0u8; m.buffer_len()];
        m.emit(&mut buf);
        buf
    }

    fn rule(list: u32, action: u32, fields: Vec<(RuleField, RuleFieldFlags)>) -> RuleMessage {
        let mut m = RuleMessage::new();
        m.flags = RuleFlags::from(list);
        m.action = RuleAction::from(action);
        m.fields = fields;
        m
    }

    #[test]
    fn task_never_rules_are_found_with_their_text() {
        // auditctl -a never,task
        assert_eq!(task_never(&raw(&rule(1, 0, vec![]))).as_deref(), Some("-a never,task"));
        let with = rule(
            1,
            0,
            vec![
                (RuleField::Uid(1000), RuleFieldFlags::Equal),
                (RuleField::Dir("/srv/x y".into()), RuleFieldFlags::Equal),
            ],
        );
        assert_eq!(
            task_never(&raw(&with)).as_deref(),
            Some("-a never,task -F uid=1000 -F dir=/srv/x y")
        );
        // A never rule on the exit list, an always rule on the task list, our own rules: not blinding.
        assert_eq!(task_never(&raw(&rule(4, 0, vec![]))), None);
        assert_eq!(task_never(&raw(&rule(1, 2, vec![]))), None);
        for r in
            crate::core::rules::rule_set(&["/run/docker.sock".into()], crate::core::abi::native())
        {
            assert_eq!(task_never(&r.bytes()), None, "{}", r.describe());
        }
        // Short or garbage bytes never panic.
        assert_eq!(task_never(&[1, 0, 0]), None);
        let mut cut = raw(&with);
        cut.truncate(cut.len() - 3);
        assert!(task_never(&cut).is_some());
    }

    #[test]
    fn audit_on_the_command_line() {
        let cases: &[(&str, Option<&str>, bool)] = &[
            ("root=/dev/vda ro quiet", None, true),
            ("root=/dev/vda audit=1", Some("1"), false),
            ("audit=on", Some("on"), false),
            ("audit=0 x", Some("0"), true),
            ("audit=1 audit=0", Some("0"), true),
            ("noaudit=1 audit_backlog_limit=8192", None, true),
        ];
        for (line, value, late) in cases {
            let v = cmdline_audit(line);
            assert_eq!(v.as_deref(), *value, "{line}");
            assert_eq!(may_be_enabled_late(v.as_deref()), *late, "{line}");
        }
    }

    #[test]
    fn containers_started_within_a_window() {
        let c =
            |id: &str| Some(Container { runtime: Runtime::Docker, id: id.into(), pod_uid: None });
        let procs = vec![
            Proc { pid: 1, start: 100, container: c("a") },
            Proc { pid: 2, start: 200, container: c("a") },
            // A thread of process 2, started later.
            Proc { pid: 2, start: 210, container: c("a") },
            Proc { pid: 3, start: 300, container: c("b") },
            Proc { pid: 4, start: 150, container: None },
            Proc { pid: 5, start: 900, container: c("c") },
        ];
        let ids =
            |v: Vec<(Container, usize)>| v.into_iter().map(|(c, n)| (c.id, n)).collect::<Vec<_>>();
        assert_eq!(ids(containers_started(&procs, None, 500)), [("a".into(), 2), ("b".into(), 1)]);
        assert_eq!(
            ids(containers_started(&procs, Some(200), 300)),
            [("a".into(), 1), ("b".into(), 1)]
        );
        // A thread started in the window of a process started before it counts.
        assert_eq!(ids(containers_started(&procs, Some(205), 250)), [("a".into(), 1)]);
        assert_eq!(ids(containers_started(&procs, Some(301), 899)), Vec::<(String, usize)>::new());
    }

    #[test]
    fn x32_from_the_kernel_configuration() {
        let debian = "CONFIG_X86_X32_ABI=y\nCONFIG_X86_X32_DISABLED=y\n";
        assert_eq!(x32_from_config(debian, "root=/dev/vda"), X32::Disabled);
        assert_eq!(x32_from_config(debian, "root=/dev/vda syscall.x32=y"), X32::Enabled);
        assert_eq!(x32_from_config("CONFIG_X86_X32_ABI=y\n", "quiet"), X32::Enabled);
        assert_eq!(x32_from_config("CONFIG_X86_X32_ABI=y\n", "syscall.x32=n"), X32::Disabled);
        assert_eq!(
            x32_from_config("# CONFIG_X86_X32_ABI is not set\n", "syscall.x32=y"),
            X32::Disabled
        );
    }

    #[test]
    fn the_uring_filter_came_in_5_16() {
        for (release, want) in [
            ("5.10.0-32-amd64", Some(false)),
            ("5.15.0-91-generic", Some(false)),
            ("5.16.0", Some(true)),
            ("6.18.44-fc-v1045", Some(true)),
            ("6.1.0-27-cloud-amd64", Some(true)),
            ("x", None),
            ("", None),
        ] {
            assert_eq!(has_uring_filter(release), want, "{release}");
        }
    }

    #[test]
    fn refused_rules_say_what_goes_unseen() {
        assert!(invisible_without(&RuleSpec::Uring).starts_with("io_uring"));
        for r in crate::core::rules::rule_set(
            &["/s".into()],
            &[crate::core::abi::X86_64, crate::core::abi::I386],
        ) {
            assert!(!invisible_without(&r).is_empty());
        }
    }
}
