#!/bin/bash
# The checks, inside the Debian guest that tests/vm/debian-host.sh boots, under
# the packaged sockwatch.service that systemd started at boot (with one drop-in:
# --dedup-window 0). Started by sockwatch-vmtest.service after multi-user.target;
# writes $R/results.txt (KEY=VALUE lines, read by tests/vm_debian_host.rs) and
# the evidence beside it, puts the lot as a tar on the second disk (/dev/vdb) and
# powers off. Lives in /var/lib/sockwatch-vmtest: Debian's initramfs mounts /run
# noexec.
#
# sw.mode=full on the kernel command line: the late-audit check first, then
# checks 1-6, 10, 12, 8; 7 (reload, and a stop that must leave nothing of sockwatch's),
# a start again, 9 (auditd), then 7b (a stop beside auditd, and purge) last.
# sw.mode=locked (booted with lockdown=confidentiality): checks 1-3 and 6, the
# stats line (10) and the freeze (12). sw.mode=old (Debian 11's 5.10, booted with syscall.x32=y):
# checks 1 and 2, 11 (the rule the kernel refuses, x32), and 10. Every mode
# records `sockwatch doctor`.
#
# sw.late=1 (full mode): a drop-in in the image (ConditionKernelCommandLine=
# !sw.late=1) kept sockwatch.service from starting at boot. The late check starts
# a container first, then the unit (clearing that condition with a drop-in in
# /run), then a control container, and lets both connect: without audit=1 on the
# kernel command line, audit was never enabled when the first container's process
# was created, so the kernel gives it no audit context and its connect makes no
# record at all; sockwatch can only warn (audit_enabled_late). With audit=1 it is
# reported.
set -u
H=/var/lib/sockwatch-vmtest
R=$H/results
mkdir -p "$R"
RES=$R/results.txt
: > "$RES"
mode=$(sed -n 's/.*sw\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)
mode=${mode:-full}
late=no
grep -qw 'sw\.late=1' /proc/cmdline && late=yes
FINDINGS=/var/log/sockwatch/findings.jsonl
SOCK_RULES=/etc/audit/rules.d/50-sockwatch.rules

put() { echo "$1=$2" >> "$RES"; echo "SWVM: $1=$2" > /dev/console; }
get() { sed -n "s/^$1=//p" "$RES" | tail -1; }
up() { cut -d' ' -f1 /proc/uptime; }
mono() { # UNIT PROPERTY: a monotonic timestamp property, in seconds since boot
    systemctl show -p "$2" --value "$1" | awk '{ printf "%.1f", $1 / 1000000 }'
}
T0=$(up)
check_t=$T0
begin() { check_t=$(up); echo "SWVM: check $1" > /dev/console; }
end() { put "time.check$1" "$(awk -v a="$check_t" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')"; }

# Findings (TRC-1019) naming container ID in the JSON lines file.
jsonl_count() { grep '"TRC-1019"' "$FINDINGS" 2>/dev/null | grep -c "\"$1\"" ; }
journal_count() { journalctl -q -o cat SYSLOG_IDENTIFIER=sockwatch "CONTAINER_ID=$1" 2>/dev/null | wc -l; }
count() { local c; c=$(grep -c "$@" 2>/dev/null); echo "${c:-0}"; }  # grep -c, 0 without the file
trc_total() { count '"TRC-1019"' "$FINDINGS"; }
# Waits up to SECONDS for `jsonl_count ID` to reach N; prints the count.
wait_count() { # ID N SECONDS
    local i c=0
    for i in $(seq "$3"); do
        c=$(jsonl_count "$1")
        [ "$c" -ge "$2" ] && break
        sleep 1
    done
    echo "$c"
}
# A container that connects to SOCKET (mounted from /run/docker.sock) and stays
# a moment, so that it is alive when sockwatch looks; prints its full id.
connect_container() { # SOCKET-PATH-IN-CONTAINER
    docker run -d --network none -v "/run/docker.sock:$1" sw:test sh -c "/client $1; sleep 3" 2>>"$R/docker.err"
}
# A container connects now: PREFIX.after_id, PREFIX.after_jsonl (1 when it was
# reported) and PREFIX.sockwatch_active.
connect_now() { # PREFIX
    local id
    id=$(connect_container /run/docker.sock)
    put "$1.after_id" "$id"
    put "$1.after_jsonl" "$(wait_count "$id" 1 30)"
    put "$1.sockwatch_active" "$(systemctl is-active sockwatch)"
}
stats_now() { # a "stats:" line now (SIGUSR1), the last one in the journal
    local pid; pid=$(systemctl show -p MainPID --value sockwatch)
    [ "$pid" -gt 0 ] 2>/dev/null && kill -USR1 "$pid"
    sleep 2
    journalctl -q -o cat -u sockwatch -b | grep 'stats:' | tail -1
}

put mode "$mode"
put kernel "$(uname -r)"
put cmdline "$(cat /proc/cmdline)"
put lockdown "$(cat /sys/kernel/security/lockdown 2>/dev/null)"

# Boot phases, in seconds since the kernel started.
put time.harness_start "$T0"
put time.multi_user "$(mono multi-user.target ActiveEnterTimestampMonotonic)"
put time.docker_active "$(mono docker.service ActiveEnterTimestampMonotonic)"
# (systemd-analyze time has no answer yet: this unit is part of the boot.) Debian's
# initramfs runs no systemd: systemd starts when the kernel and the initramfs are done.
put time.userspace_start "$(systemctl show -p UserspaceTimestampMonotonic --value | awk '{ printf "%.1f", $1 / 1000000 }')"

# audit's state before anything of the harness's (sockwatch has not started
# when sw.late=1, and auditd is disabled in the image).
auditctl -s > "$R/auditctl-s-start.txt" 2>&1
put start.audit_enabled "$(awk '$1 == "enabled" { print $2 }' "$R/auditctl-s-start.txt")"
put start.sockwatch "$(systemctl is-active sockwatch)"
put start.sockwatch_condition "$(systemctl show -p ConditionResult --value sockwatch)"

# Every audit record from here on, raw, for the events closed without EOE.
"$H/audit_reader" > "$R/audit-raw.txt" 2> "$R/audit-reader.err" &
reader=$!

# Docker answers; the container image (busybox, /client, /late_client) is in.
docker_ready() {
    local t i
    t=$(up)
    for i in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    put time.docker_ready "$(up)"
    docker import "$H/sw-image.tar" sw:test > /dev/null 2>> "$R/docker.err"
    put time.docker_import "$(awk -v a="$t" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')"
}

# --- late: audit turned on after the container's process was created -----------
# A container whose process waits on the FIFO /run/swlate/NAME, then connects to
# /run/docker.sock from the same task; prints its full id.
late_container() { # NAME
    mkfifo "/run/swlate/$1"
    docker run -d --network none -v /run/docker.sock:/run/docker.sock -v /run/swlate:/t sw:test \
        /late_client /run/docker.sock "/t/$1" 20 2>>"$R/docker.err"
}
late_go() { timeout 10 sh -c "echo go > /run/swlate/$1"; }  # NAME: it connects now
host_pid() { docker inspect -f '{{.State.Pid}}' "$1" 2>>"$R/docker.err"; }
# SYSCALL records in the raw capture for PID: all of them, and those with
# sockwatch's key.
records_all() { count -E "^type=1300 .* pid=$1 " "$R/audit-raw.txt"; }
records_key() { grep -E "^type=1300 .* pid=$1 " "$R/audit-raw.txt" 2>/dev/null | count -F 'key="sockwatch"'; }
if [ "$late" = yes ]; then
    begin late
    docker_ready
    mkdir -p /run/swlate
    lid=$(late_container L)
    put late.id "$lid"
    put late.pid "$(host_pid "$lid")"
    put late.audit_enabled_before "$(auditctl -s 2>&1 | awk '$1 == "enabled" { print $2 }')"
    put late.sockwatch_before "$(systemctl is-active sockwatch)"
    # Audit was never on before this point: it is off now (above), it was off
    # when the kernel initialised it, and no CONFIG_CHANGE record switched it
    # (the kernel logs no record when audit goes on from off, but one when it
    # goes off again, or is set while on).
    put late.audit_at_init "$(journalctl -q -b -k -o cat | sed -n 's/.*state=initialized audit_enabled=\([0-9]\).*/\1/p' | head -1)"
    put late.audit_switches_before "$(journalctl -q -b -o cat | count 'op=set audit_enabled=')"
    mkdir -p /run/systemd/system/sockwatch.service.d
    printf '[Unit]\nConditionKernelCommandLine=\n' > /run/systemd/system/sockwatch.service.d/60-vmtest-late.conf
    systemctl daemon-reload
    t=$(up)
    systemctl start sockwatch
    put late.start_rc "$?"
    put time.late_sockwatch_start "$(awk -v a="$t" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')"
    put late.sockwatch_active "$(systemctl is-active sockwatch)"
    cid=$(late_container C)
    put late.control_id "$cid"
    put late.control_pid "$(host_pid "$cid")"
    late_go L
    sleep 1
    late_go C
    # The control is reported; the first container connected before it.
    put late.control_jsonl "$(wait_count "$cid" 1 30)"
    put late.jsonl "$(wait_count "$lid" 1 5)"
    put late.client_out "$(docker logs "$lid" 2>&1 | tr '\n' ' ' | sed 's/ $//')"
    put late.control_client_out "$(docker logs "$cid" 2>&1 | tr '\n' ' ' | sed 's/ $//')"
    put late.records "$(records_all "$(get late.pid)")"
    put late.records_key "$(records_key "$(get late.pid)")"
    put late.control_records "$(records_all "$(get late.control_pid)")"
    put late.control_records_key "$(records_key "$(get late.control_pid)")"
    grep '"audit_enabled_late"' "$FINDINGS" > "$R/audit-enabled-late.json" 2>/dev/null
    put late.event_count "$(count . "$R/audit-enabled-late.json")"
    put late.event_names_container "$(count -F "$lid" "$R/audit-enabled-late.json")"
    put late.event_names_control "$(count -F "$cid" "$R/audit-enabled-late.json")"
    put late.event_level "$(grep -o '"level": *"[a-z]*"' "$R/audit-enabled-late.json" | head -1 | sed 's/.*"\([a-z]*\)"$/\1/')"
    put late.event_cmdline_audit "$(grep -o '"cmdline_audit": *[^,}]*' "$R/audit-enabled-late.json" | head -1 | sed 's/^"cmdline_audit": *//')"
    journalctl -q -o short-monotonic -u sockwatch -b > "$R/sockwatch-late.log" 2>&1
    end late
fi

# --- 1. the unit came up and stays up, without sandbox denials -----------------
# (started by the late check above when sw.late=1; by systemd at boot otherwise)
put time.sockwatch_active "$(mono sockwatch.service ActiveEnterTimestampMonotonic)"
begin 1
put check1.started_by "$([ "$late" = yes ] && echo harness || echo boot)"
put check1.active "$(systemctl is-active sockwatch)"
put check1.substate "$(systemctl show -p SubState --value sockwatch)"
put check1.nrestarts "$(systemctl show -p NRestarts --value sockwatch)"
systemctl --failed --no-legend --plain > "$R/failed-units.txt" 2>&1
put check1.failed_units "$(awk '{print $1}' "$R/failed-units.txt" | grep -v '^$' | tr '\n' ' ' | sed 's/ $//')"
journalctl -q -o short-monotonic -u sockwatch -b > "$R/sockwatch-boot.log" 2>&1
put check1.eperm_lines "$(grep -c 'Operation not permitted' "$R/sockwatch-boot.log")"
journalctl -q -b -o short-monotonic _TRANSPORT=audit > "$R/journal-audit.txt" 2>&1
journalctl -q -b -k -o short-monotonic > "$R/kernel.log" 2>&1
put check1.seccomp_records "$(cat "$R/journal-audit.txt" "$R/kernel.log" | grep -E 'type=1326|SECCOMP' | grep -c sockwatch)"
put check1.ready_line "$(grep -c 'sockwatch: info: ready' "$R/sockwatch-boot.log")"
end 1

[ "$late" = yes ] || docker_ready

# --- doctor: what sockwatch says of this host ----------------------------------
sockwatch doctor > "$R/doctor.txt" 2>&1
put doctor.rc "$?"
put doctor.x32 "$(grep -m1 '^x32 ' "$R/doctor.txt")"
put doctor.cmdline "$(grep -m1 '^cmdline ' "$R/doctor.txt")"
put doctor.result "$(grep -m1 '^result ' "$R/doctor.txt")"

# --- 2. one container, one finding, in the journal and in the JSON lines file -
begin 2
t=$(up)
id=$(connect_container /run/docker.sock)
put time.first_docker_run "$(awk -v a="$t" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')"
put check2.id "$id"
put check2.jsonl "$(wait_count "$id" 1 30)"
sleep 1
put check2.journal "$(journal_count "$id")"
put check2.file_mode "$(stat -c '%U:%G %a' "$FINDINGS" 2>&1)"
id2=$(connect_container /tmp/other.sock)
put check2.alias_id "$id2"
put check2.alias_jsonl "$(wait_count "$id2" 1 30)"
sleep 1
put check2.alias_journal "$(journal_count "$id2")"
grep "$id2" "$FINDINGS" | head -1 > "$R/finding-alias.json"
docker wait "$id" "$id2" > /dev/null 2>&1
end 2

# --- 11. Debian 11's 5.10: the rule it refuses, and x32 ------------------------
if [ "$mode" = old ]; then
    begin 11
    sockwatch rules status > "$R/rules-status.txt" 2>&1
    put check11.rules_status_rc "$?"
    put check11.rules_status "$(tr '\n' '|' < "$R/rules-status.txt")"
    grep '"rules_refused"' "$FINDINGS" > "$R/rules-refused.json" 2>/dev/null
    put check11.refused_events "$(count . "$R/rules-refused.json")"
    put check11.refused_rules "$(grep -o '"rules": *\[[^]]*\]' "$R/rules-refused.json" | head -1)"
    put check11.refused_errors "$(grep -o '"errors": *\[[^]]*\]' "$R/rules-refused.json" | head -1)"
    put check11.refused_invisible "$(grep -o '"invisible": *\[[^]]*\]' "$R/rules-refused.json" | head -1)"
    grep '"x32_enabled"' "$FINDINGS" > "$R/x32-enabled.json" 2>/dev/null
    put check11.x32_events "$(count . "$R/x32-enabled.json")"
    put check11.x32_syscall_param "$(tr ' ' '\n' < /proc/cmdline | grep '^syscall\.x32=')"
    auditctl -l > "$R/auditctl-l.txt" 2>&1
    put check11.loaded_rules "$(count 'key=sockwatch' "$R/auditctl-l.txt")"
    end 11
fi

if [ "$mode" != old ]; then
    # --- 3. short-lived clients: 50 docker exec, 10 docker run --rm -----------
    begin 3
    before=$(trc_total)
    # (health events share the file: the window starts after its last line)
    lines_before=$(count '' "$FINDINGS")
    box=$(docker run -d --network none -v /run/docker.sock:/run/docker.sock sw:test sleep 100000 2>>"$R/docker.err")
    put check3.exec_box "$box"
    t=$(up)
    for i in $(seq 50); do docker exec "$box" /client /run/docker.sock >> "$R/client.out" 2>&1; done
    put time.check3_exec50 "$(awk -v a="$t" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')"
    put check3.exec_reported "$(wait_count "$box" 50 30)/50"
    t=$(up)
    ids=()
    for i in $(seq 10); do
        rm -f "$H/cid"
        docker run --rm --network none --cidfile "$H/cid" -v /run/docker.sock:/run/docker.sock sw:test /client /run/docker.sock >> "$R/client.out" 2>&1
        ids+=("$(cat "$H/cid" 2>/dev/null)")
    done
    put time.check3_run10 "$(awk -v a="$t" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')"
    # The last one reported (or 20 s gone), the others are in by then too.
    [ -n "${ids[9]:-}" ] && wait_count "${ids[9]}" 1 20 > /dev/null
    ok=0
    for i in "${ids[@]}"; do
        [ -n "$i" ] && [ "$(jsonl_count "$i")" -ge 1 ] && ok=$((ok + 1))
    done
    put check3.run_reported "$ok/10"
    put check3.run_ids "${ids[*]}"
    sleep 2
    after=$(trc_total)
    # Findings in this window that name none of the expected containers.
    wrong=$(tail -n +$((lines_before + 1)) "$FINDINGS" | grep '"TRC-1019"' | grep -v -e "$box" $(for i in "${ids[@]}"; do [ -n "$i" ] && printf -- '-e %s ' "$i"; done) | wc -l)
    put check3.total_new "$((after - before))"
    put check3.wrong_id "$wrong"
    put check3.run_counts "$(for i in "${ids[@]}"; do printf '%s ' "$(jsonl_count "$i")"; done | sed 's/ $//')"
    docker rm -f "$box" > /dev/null 2>&1
    end 3

    # --- 6. what lockdown refuses --------------------------------------------
    begin 6
    "$H/lockdown_probe" > "$R/lockdown-probe.txt" 2>&1
    cat "$R/lockdown-probe.txt" >> "$RES"
    end 6
fi

if [ "$mode" = full ]; then
    # --- 4. host clients give no finding --------------------------------------
    begin 4
    before=$(trc_total)
    docker version > "$R/docker-version.txt" 2>&1
    put check4.docker_version_rc "$?"
    sleep 3
    put check4.new_findings "$(( $(trc_total) - before ))"
    end 4

    # --- 5. dockerd restart -----------------------------------------------------
    begin 5
    sw5() { count -E '"SW-100[12]"' "$FINDINGS"; }
    before=$(sw5)
    t=$(up)
    systemctl restart docker
    put check5.restart_rc "$?"
    for i in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    put time.check5_docker_restart "$(awk -v a="$t" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')"
    sleep 3
    put check5.sw1001_sw1002 "$(( $(sw5) - before ))"
    grep -E '"SW-100[12]"' "$FINDINGS" > "$R/sw100x.json" 2>/dev/null
    connect_now check5
    end 5
fi

# --- 10. event assembly: the stats line for the run so far ----------------------
begin 10
put check10.stats "$(stats_now)"
end 10

# --- 12. --respond freeze under the packaged unit -------------------------------
# The configuration gets respond = "freeze" and the unit is restarted: a
# container's connect freezes it (its shell's echo waits), `sockwatch release`
# thaws it and it finishes; then the configuration is put back.
if [ "$mode" != old ]; then
    begin 12
    CONF=/etc/sockwatch/sockwatch.toml
    cp "$CONF" "$H/sockwatch.toml.orig"
    echo 'respond = "freeze"' >> "$CONF"
    since=$(date '+%Y-%m-%d %H:%M:%S')
    systemctl restart sockwatch
    put check12.active "$(systemctl is-active sockwatch)"
    id=$(docker run -d --network none -v /run/docker.sock:/run/docker.sock sw:test \
        sh -c '/client /run/docker.sock > /dev/null; sleep 2; echo after-release' 2>>"$R/docker.err")
    put check12.id "$id"
    put check12.jsonl "$(wait_count "$id" 1 30)"
    grep '"TRC-1019"' "$FINDINGS" | grep "\"$id\"" | head -1 > "$R/finding-frozen.json"
    put check12.result "$(grep -o '"result":"[a-z_]*"' "$R/finding-frozen.json" | head -1 | cut -d'"' -f4)"
    put check12.latency_us "$(grep -o '"latency_us":[0-9]*' "$R/finding-frozen.json" | head -1 | cut -d: -f2)"
    cg=$(grep -o '"cgroup":"[^"]*"' "$R/finding-frozen.json" | head -1 | cut -d'"' -f4)
    put check12.cgroup "$cg"
    sleep 3
    # Debian 12 mounts only cgroup v2.
    put check12.frozen "$(count '^frozen 1$' "/sys/fs/cgroup$cg/cgroup.events")"
    put check12.output_frozen "$(docker logs "$id" 2>&1 | tr '\n' ' ')"
    sockwatch release "${id:0:12}" > "$R/release.txt" 2>&1
    put check12.release_rc "$?"
    put check12.exit "$(timeout 30 docker wait "$id" 2>&1)"
    put check12.output_after "$(docker logs "$id" 2>&1 | tr '\n' ' ')"
    sleep 1
    put check12.released "$(count '"container_released"' "$FINDINGS")"
    journalctl -q -o short-monotonic -u sockwatch --since "$since" > "$R/sockwatch-respond.log" 2>&1
    put check12.failed "$(count -e ' failed: ' -e 'Operation not permitted' -e 'Read-only file system' "$R/sockwatch-respond.log")"
    docker rm -f "$id" > /dev/null 2>&1
    cp "$H/sockwatch.toml.orig" "$CONF"
    systemctl restart sockwatch
    put check12.active_after "$(systemctl is-active sockwatch)"
    end 12
fi

if [ "$mode" = full ]; then
    # --- 8. systemd-analyze security --------------------------------------------
    begin 8
    systemd-analyze security --no-pager sockwatch.service > "$R/analyze-security.txt" 2>&1
    put check8.exposure "$(grep -i 'overall exposure' "$R/analyze-security.txt" | tail -1)"
    end 8

    # --- 7. reload and stop, before auditd: nothing of sockwatch's is left ------
    begin 7
    pid=$(systemctl show -p MainPID --value sockwatch)
    systemctl reload sockwatch
    put check7.reload_rc "$?"
    sleep 2
    put check7.reload_same_pid "$([ "$(systemctl show -p MainPID --value sockwatch)" = "$pid" ] && echo yes || echo "no ($pid -> $(systemctl show -p MainPID --value sockwatch))")"
    put check7.reload_active "$(systemctl is-active sockwatch)"
    put check7.reload_error "$(journalctl -q -o cat -b -u sockwatch --since=-10s | grep -E 'Failed|error:|denied' | head -3 | tr '\n' '|')"
    put check7.reopened "$(journalctl -q -o cat -b -u sockwatch --since=-10s | grep -c 'SIGHUP: outputs reopened')"
    # What sockwatch found at start: audit off (journald turns it off) and the
    # kernel's backlog limit, both to be put back at stop.
    started=$(journalctl -q -o cat -b -u sockwatch | grep -E 'audit was off; turned it on|raised audit.s backlog limit')
    put check7.turned_on "$(echo "$started" | grep -c 'audit was off')"
    put check7.backlog_at_start "$(echo "$started" | sed -n 's/.*backlog limit from \([0-9]*\) to.*/\1/p' | tail -1)"
    auditctl -l > "$R/auditctl-before-stop.txt" 2>&1
    systemctl stop sockwatch
    put check7.stop_rc "$?"
    put check7.exec_main_status "$(systemctl show -p ExecMainStatus --value sockwatch)"
    put check7.result "$(systemctl show -p Result --value sockwatch)"
    auditctl -l > "$R/auditctl-after-stop.txt" 2>&1
    auditctl -s > "$R/auditctl-s-after-stop.txt" 2>&1
    put check7.rules_after_stop "$(grep -c 'key=sockwatch' "$R/auditctl-after-stop.txt")"
    others() { grep -v -e 'key=sockwatch' -e '^No rules$' "$1"; }
    put check7.other_rules_same "$(cmp -s <(others "$R/auditctl-before-stop.txt") <(others "$R/auditctl-after-stop.txt") && echo yes || echo no)"
    put check7.enabled_after_stop "$(awk '$1 == "enabled" { print $2 }' "$R/auditctl-s-after-stop.txt")"
    put check7.backlog_after_stop "$(awk '$1 == "backlog_limit" { print $2 }' "$R/auditctl-s-after-stop.txt")"
    journalctl -q -o short-monotonic -u sockwatch -b > "$R/sockwatch.log" 2>&1
    # At exit sockwatch logs "stopped: " and its counters.
    put check10.stats_at_stop "$(grep -E 'stopped: |stats: ' "$R/sockwatch.log" | tail -1 | sed -E 's/^.*(stopped|stats): /\1: /')"
    systemctl start sockwatch
    put check7.started_again "$(systemctl is-active sockwatch)"
    end 7

    # --- 9. auditd started after sockwatch ---------------------------------------
    begin 9
    auditctl -l > "$R/auditctl-before-auditd.txt" 2>&1
    auditctl -s > "$R/auditctl-s-before-auditd.txt" 2>&1
    put check9.rules_before "$(grep -c 'key=sockwatch' "$R/auditctl-before-auditd.txt")"
    put check9.rules_file "$(grep -c '^-[aA]' "$SOCK_RULES" 2>/dev/null)"
    systemctl start auditd
    put check9.start_rc "$?"
    put check9.auditd_active "$(systemctl is-active auditd)"
    sleep 5
    auditctl -l > "$R/auditctl-after-auditd.txt" 2>&1
    auditctl -s > "$R/auditctl-s-after-auditd.txt" 2>&1
    put check9.rules_after "$(grep -c 'key=sockwatch' "$R/auditctl-after-auditd.txt")"
    put check9.duplicates "$(sort "$R/auditctl-after-auditd.txt" | uniq -d | grep -c .)"
    put check9.auditctl_l "$(tr '\n' '|' < "$R/auditctl-after-auditd.txt")"
    connect_now check9
    end 9

    # --- 7, continued: stop with auditd beside it, then purge -------------------
    begin 7b
    cp "$FINDINGS" "$R/findings.jsonl" 2>/dev/null
    auditctl -l > "$R/auditctl-before-stop2.txt" 2>&1
    systemctl stop sockwatch
    put check7.stop2_rc "$?"
    auditctl -l > "$R/auditctl-after-stop2.txt" 2>&1
    auditctl -s > "$R/auditctl-s-after-stop2.txt" 2>&1
    put check7.auditd_pid "$(awk '$1 == "pid" { print $2 }' "$R/auditctl-s-after-stop2.txt")"
    # The rules augenrules loaded for auditd stay, once each; audit stays on.
    put check7.rules_after_stop2 "$(grep -c 'key=sockwatch' "$R/auditctl-after-stop2.txt")"
    put check7.duplicates_after_stop2 "$(sort "$R/auditctl-after-stop2.txt" | uniq -d | grep -c .)"
    put check7.auditctl_after_stop2 "$(tr '\n' '|' < "$R/auditctl-after-stop2.txt")"
    put check7.enabled_after_stop2 "$(awk '$1 == "enabled" { print $2 }' "$R/auditctl-s-after-stop2.txt")"
    # Purge with the service running: prerm stops it and unloads every rule
    # with sockwatch's key, auditd's copies too.
    systemctl start sockwatch
    put check7.restart_for_purge "$(systemctl is-active sockwatch)"
    rm -rf /etc/systemd/system/sockwatch.service.d
    systemctl daemon-reload
    apt-get purge -y sockwatch > "$R/purge.txt" 2>&1
    put check7.purge_rc "$?"
    left=""
    for p in /lib/systemd/system/sockwatch.service /usr/lib/systemd/system/sockwatch.service \
             /etc/systemd/system/multi-user.target.wants/sockwatch.service /etc/sockwatch \
             /var/log/sockwatch "$SOCK_RULES" /usr/sbin/sockwatch; do
        [ -e "$p" ] && left="$left $p"
    done
    put check7.left_after_purge "${left# }"
    put check7.dpkg_status "$(dpkg-query -W -f='${Status}' sockwatch 2>&1)"
    put check7.process_left "$(pgrep -x sockwatch | tr '\n' ' ')"
    auditctl -l > "$R/auditctl-after-purge.txt" 2>&1
    put check7.rules_after_purge "$(grep -c 'key=sockwatch' "$R/auditctl-after-purge.txt")"
    end 7b
fi

[ -e "$R/findings.jsonl" ] || cp "$FINDINGS" "$R/findings.jsonl" 2>/dev/null
grep '"kind": *"health"' "$R/findings.jsonl" > "$R/health-events.json" 2>/dev/null
put health.events "$(grep -o '"event": *"[a-z_0-9]*"' "$R/health-events.json" | sed 's/.*"\([a-z_0-9]*\)"$/\1/' | sort | uniq -c | awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $2, $1 }')"

# --- the raw records: which events closed without EOE ---------------------------
kill "$reader" 2>/dev/null
wait "$reader" 2>/dev/null
# Per event (stamp): its record types; those without EOE (1320), and not a single
# standalone record (1100-1299, 2100-2999), are what an assembler has to time out.
awk '
    match($0, /audit\([0-9.]+:[0-9]+\)/) {
        s = substr($0, RSTART, RLENGTH); t = substr($1, 6); name = t
        if (t == 1334 && match($0, /op=[A-Z]+/)) name = t "(" substr($0, RSTART, RLENGTH) ")"
        if (!(s in types)) order[++n] = s
        types[s] = types[s] " " name
        if (t == 1320) eoe[s] = 1
    }
    END {
        for (i = 1; i <= n; i++) {
            s = order[i]; split(types[s], a, " "); k = 0; for (j in a) k++
            t = a[1] + 0
            standalone = (k == 1 && ((t >= 1100 && t <= 1299) || (t >= 2100 && t <= 2999)))
            if (!eoe[s] && !standalone) { c[types[s]]++; tot++ }
        }
        for (x in c) printf "%d events with types%s\n", c[x], x
        printf "total %d\n", tot
    }' "$R/audit-raw.txt" | sort -rn > "$R/no-eoe-summary.txt"
put check10.no_eoe_total "$(tail -1 "$R/no-eoe-summary.txt" | awk '{print $2}')"
put check10.no_eoe_top "$(grep -v '^total' "$R/no-eoe-summary.txt" | head -5 | tr '\n' ';')"
put check10.raw_records "$(wc -l < "$R/audit-raw.txt")"
# Keep the raw capture small enough for the results disk.
if [ "$(stat -c %s "$R/audit-raw.txt")" -gt 50000000 ]; then
    head -c 50000000 "$R/audit-raw.txt" > "$R/audit-raw.head" && mv "$R/audit-raw.head" "$R/audit-raw.txt"
fi

journalctl -q -b -o short-monotonic --no-pager > "$R/journal.txt" 2>&1
put time.total "$(up)"
put done yes
sync
tar -C "$R" -cf /dev/vdb . && sync
echo "SWVM: results written" > /dev/console
systemctl --no-block poweroff
