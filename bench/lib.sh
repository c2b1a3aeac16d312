# What the bench scripts share; sourced by them (`. "$here/lib.sh"`), not run.

# wait_ready LOG: until `sockwatch run`, logging to LOG, says it is ready (its
# rules loaded and audit on), for at most 10 s.
wait_ready() {
    for _ in $(seq 100); do grep -q "ready:" "$1" && break; sleep 0.1; done
}

# cpu_ns PID: the CPU time of all of PID's threads so far, in nanoseconds: the
# scheduler's run time (/proc/PID/task/*/schedstat), not the tick-sampled utime
# and stime.
cpu_ns() {
    cat /proc/"$1"/task/*/schedstat | awk '{n += $1} END{printf "%.0f", n}'
}
