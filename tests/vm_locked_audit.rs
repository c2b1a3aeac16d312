//! `rules install` and `run` on a locked audit configuration (`auditctl -e 2`).
//! Locking cannot be undone until reboot, so it happens inside a throw-away qemu VM
//! running Debian's kernel (tests/vm/locked-audit.sh), never on the host.

mod common;

use common::*;

#[test]
fn locked_audit_is_reported_in_one_line_with_a_non_zero_exit() {
    if !privileged("locked audit in a VM") {
        return;
    }
    if run("sh", &["-c", "command -v qemu-system-x86_64"]).stdout.is_empty() {
        let why = "qemu-system-x86_64 is not installed (tests/run.sh installs qemu-system-x86)";
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "cannot run under CI=true: {why}"
        );
        skip("locked audit in a VM", why);
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vm/locked-audit.sh");
    let out = run(script, &[BIN]);
    let console = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> =
        console.lines().filter_map(|l| l.split_once("SW: ").map(|(_, r)| r)).collect();
    let text = lines.join("\n");
    assert!(
        out.status.success() && lines.last() == Some(&"done"),
        "the VM did not finish: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lines.contains(&"audit locked"), "{text}");
    assert!(lines.contains(&"install rc=1 stderr-lines=1"), "{text}");
    let msg = "sockwatch: error: the audit configuration is locked (enabled=2, auditctl -e 2): rules cannot be changed until reboot";
    assert!(lines.contains(&format!("install stderr: {msg}").as_str()), "{text}");
    assert!(lines.contains(&"run rc=1"), "{text}");
    assert!(lines.contains(&format!("run stderr: {msg}").as_str()), "{text}");
    assert!(lines.contains(&"status rc=1"), "{text}");
    eprintln!("VM console:\n{text}");

    // Rules loaded before the lock: `run` starts with them and says what it
    // cannot change.
    let out = run(script, &[BIN, "preloaded"]);
    let console = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> =
        console.lines().filter_map(|l| l.split_once("SW: ").map(|(_, r)| r)).collect();
    let text = lines.join("\n");
    assert!(lines.last() == Some(&"done"), "the VM did not finish: {text}");
    assert!(lines.contains(&"preload rc=0") && lines.contains(&"audit locked"), "{text}");
    assert!(lines.contains(&"run rc=0"), "{text}");
    assert!(text.contains("the audit configuration is locked (enabled=2) until reboot: using the rules already loaded; sockwatch cannot add, remove or restore rules"), "{text}");
    assert!(text.contains("sockwatch: info: ready:"), "{text}");
}
