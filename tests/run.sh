#!/usr/bin/env bash
# The one command that runs every test: `sudo tests/run.sh` (README, CONTRIBUTING.md, .ci/run).
# As root it first installs and starts what the tests need: Debian packages,
# dockerd and the test image. Without root it runs what it can; the privileged
# and end-to-end tests then skip, each with a one-line reason.
# With CI=true nothing may skip: those tests fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    need=()
    for p in gcc g++ gcc-multilib liburing-dev socat util-linux busybox-static docker.io curl openssl qemu-system-x86 acl \
             strace man-db groff-base zsh fish lintian logrotate dpkg-dev rpm debootstrap e2fsprogs; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || need+=("$p")
    done
    if [ "${#need[@]}" -gt 0 ]; then
        echo "tests/run.sh: installing ${need[*]}" >&2
        apt-get -o DPkg::Lock::Timeout=300 update -qq
        updated=1
        apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    # Daemons the tests start and stop themselves, each on its own files and on
    # loopback: auditd (living beside it), rsyslog with RELP, journal-remote and
    # journal-upload, node_exporter; prometheus for promtool (the alert rules'
    # checks). Installed without starting them.
    daemons=()
    for p in auditd rsyslog rsyslog-relp systemd-journal-remote prometheus-node-exporter prometheus; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || daemons+=("$p")
    done
    if [ "${#daemons[@]}" -gt 0 ]; then
        echo "tests/run.sh: installing ${daemons[*]} (not started)" >&2
        [ -n "${updated:-}" ] || apt-get -o DPkg::Lock::Timeout=300 update -qq
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${daemons[@]}" >/dev/null || { rm -f /usr/sbin/policy-rc.d; exit 1; }
        rm -f /usr/sbin/policy-rc.d
    fi
    tests/env/setup-docker.sh
    tests/env/setup-podman.sh
    tests/env/setup-journald.sh
else
    echo "tests/run.sh: not root: no packages or dockerd set up; privileged tests will skip" >&2
fi

# Style and lints first: a formatting slip or a new lint fails the run in
# seconds rather than after the long tests.
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets "$@"

# Fuzzing last (fuzz/run.sh, README "Fuzzing"): skipped by a filtered run, and
# without root unless cargo-fuzz is installed; with CI=true it must run.
if [ "${CI:-}" = true ]; then
    fuzz/run.sh
elif [ $# -gt 0 ]; then
    echo "tests/run.sh: fuzzing skipped: a filtered run ($*)" >&2
elif why=$(fuzz/run.sh --check); then
    fuzz/run.sh
else
    echo "tests/run.sh: fuzzing skipped: $why" >&2
fi
