//! A runtime monitor's command line (the containerd shim's, conmon's, `runc
//! exec`'s), as /proc/PID/cmdline gives it: NUL-separated, any bytes.
//! `runtime_state::exe_kind` says what the program is and
//! `runtime_state::monitored_container` which container it looks after.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockwatch::core::cgroup::hex64;
use sockwatch::core::runtime_state::{ExeKind, exe_kind, monitored_container};
use sockwatch_fuzz::argv;

fuzz_target!(|data: &[u8]| {
    let argv = argv(data);
    let kind = exe_kind(&argv);
    if let Some(c) = monitored_container(&argv) {
        assert!(matches!(kind, ExeKind::Monitor | ExeKind::RuntimeTool), "{kind:?} named {c:?}");
        assert!(hex64(c.id.as_bytes()).is_some(), "{c:?}");
        assert!(c.pod_uid.is_none());
    }
    // argv[0] alone, as the attribution asks of a program's path.
    let _ = exe_kind(&argv[..argv.len().min(1)]);
});
