#!/usr/bin/env bash
# Fuzzes every parser of outside bytes (README "Fuzzing"): builds the targets in
# fuzz/fuzz_targets once with cargo-fuzz (installed if missing), then runs each
# under libFuzzer for FUZZ_SECONDS (30) from a corpus seeded from tests/data
# (fuzz/seed.sh), FUZZ_JOBS (the number of cores) at a time, and prints a table:
# target, seconds, executions, result. Exits 1 if any target failed (a panic, a
# sanitizer's report, a timeout, out of memory), naming the input that did it,
# kept in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [TARGET...]    run these (default: all)
#   fuzz/run.sh --check        whether it can run here: exit 0, or 1 and the reason
#
# libFuzzer needs nightly rustc flags: `cargo +nightly` where rustup has a
# nightly toolchain, else the default toolchain with RUSTC_BOOTSTRAP=1 (only the
# -Z flags are nightly's). The targets reach safe Rust only, so by default no
# sanitizer is built in (panics, overflow checks and debug assertions stay on):
# it runs 3.5 times as many inputs. FUZZ_SANITIZER=address brings ASan back.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(record netlink assemble logline scanner fanotify socket_acl lineage cgroup
     runtime_state monitor_argv config glob end_to_end)
# The largest input each target gets, in bytes: one record, datagram or file of
# the kind sockwatch reads (the kernel's records stay under 9 KiB).
declare -A max_len=(
    [record]=4096 [netlink]=16384 [assemble]=4096 [logline]=4096 [scanner]=16384
    [fanotify]=4096 [socket_acl]=1024 [lineage]=4096 [cgroup]=4096 [runtime_state]=8192
    [monitor_argv]=4096 [config]=8192 [glob]=1024 [end_to_end]=16384
)
# The targets that read audit text get its tokens.
declare -A dict=([record]=1 [netlink]=1 [logline]=1 [scanner]=1 [end_to_end]=1)
seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-$(nproc)}
[ "$jobs" -ge 1 ] || jobs=1
sanitizer=${FUZZ_SANITIZER:-none}

if rustup run nightly rustc --version >/dev/null 2>&1; then
    cargo=(cargo +nightly) rustc=(rustc +nightly) toolchain=nightly
else
    cargo=(env RUSTC_BOOTSTRAP=1 cargo) rustc=(rustc) toolchain="default (RUSTC_BOOTSTRAP=1)"
fi

tools() {
    "${rustc[@]}" --version >/dev/null 2>&1 || { echo "no Rust toolchain"; return 1; }
    command -v c++ >/dev/null || { echo "no C++ compiler to build libFuzzer"; return 1; }
}

if [ "${1:-}" = --check ]; then
    # As tests/run.sh asks: cargo-fuzz is installed here only as root.
    tools || exit 1
    if ! cargo fuzz --version >/dev/null 2>&1 && [ "$(id -u)" -ne 0 ]; then
        echo "cargo-fuzz is not installed and not root (cargo install cargo-fuzz --locked)"
        exit 1
    fi
    exit 0
fi
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
for t in "${targets[@]}"; do
    [ -n "${max_len[$t]:-}" ] || { echo "fuzz/run.sh: no target $t (${all[*]})" >&2; exit 2; }
done
why=$(tools) || { echo "fuzz/run.sh: cannot fuzz here: $why" >&2; exit 1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cargo fmt --check --manifest-path fuzz/Cargo.toml
logs=fuzz/target/logs
mkdir -p "$logs"
rm -f "$logs"/*.status
started=$SECONDS
echo "fuzz/run.sh: building ${#targets[@]} targets ($toolchain toolchain, sanitizer $sanitizer)" >&2
# All at once (one cargo run), or each of those named.
if [ $# -eq 0 ]; then build=(all); else build=("${targets[@]}"); fi
for t in "${build[@]}"; do
    [ "$t" != all ] || t=
    if ! "${cargo[@]}" fuzz build -s "$sanitizer" ${t:+"$t"} > "$logs/build.log" 2>&1; then
        tail -n 40 "$logs/build.log" >&2
        echo "fuzz/run.sh: the build failed" >&2
        exit 1
    fi
done
built=$((SECONDS - started))
bin=fuzz/target/$("${rustc[@]}" -vV | sed -n 's/^host: //p')/release
fuzz/seed.sh > "$logs/seed.log"

# One target: libFuzzer for `seconds`, its output in $logs/T.log, its wall
# time and exit status in $logs/T.status.
run() {
    local t=$1 t0=$SECONDS rc=0
    local args=(-max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10
                -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/")
    [ -z "${dict[$t]:-}" ] || args+=(-dict=fuzz/audit.dict)
    mkdir -p "fuzz/artifacts/$t"
    "$bin/$t" "${args[@]}" "fuzz/corpus/$t" > "$logs/$t.log" 2>&1 || rc=$?
    echo "$((SECONDS - t0)) $rc" > "$logs/$t.status"
}

echo "fuzz/run.sh: ${#targets[@]} targets, $seconds s each, $jobs at a time" >&2
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    run "$t" &
    running=$((running + 1))
done
wait

passed=0 failed=0
printf '%-14s %7s %12s  %s\n' target seconds executions result
for t in "${targets[@]}"; do
    read -r secs rc < "$logs/$t.status"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        result=ok
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        kind=crash
        grep -q 'ERROR: libFuzzer: timeout' "$logs/$t.log" && kind=timeout
        grep -q 'out-of-memory' "$logs/$t.log" && kind=out-of-memory
        artifact=$(sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$logs/$t.log" | tail -n 1)
        result="$kind (exit $rc): ${artifact:-no input saved; see $logs/$t.log}"
    fi
    printf '%-14s %7s %12s  %s\n' "$t" "$secs" "${execs:-?}" "$result"
done
for t in "${targets[@]}"; do
    read -r _ rc < "$logs/$t.status"
    [ "$rc" -ne 0 ] || continue
    echo
    echo "=== $t failed ($logs/$t.log):"
    sed -n '/panicked at\|ERROR: AddressSanitizer\|ERROR: libFuzzer\|==ERROR/,$p' "$logs/$t.log" | head -n 60
    artifact=$(sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$logs/$t.log" | tail -n 1)
    if [ -n "$artifact" ]; then
        echo "reproduce: ${cargo[*]} fuzz run -s $sanitizer $t $artifact"
    fi
done
echo "fuzz/run.sh: build ${built} s, all in $((SECONDS - started)) s"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
