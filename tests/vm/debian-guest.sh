#!/bin/bash
# The checks, inside the Debian guest that tests/vm/debian-host.sh boots, under
# the packaged sockwatch.service that systemd started at boot (with one drop-in:
# --dedup-window 0). Started by sockwatch-vmtest.service after multi-user.target;
# writes $R/results.txt (KEY=VALUE lines, read by tests/vm_debian_host.rs) and
# the evidence beside it, puts the lot as a tar on the second disk (/dev/vdb) and
# powers off. Lives in /var/lib/sockwatch-vmtest: Debian's initramfs mounts /run
# noexec.
#
# sw.mode=full on the kernel command line: checks 1-6, 10, 8; 7 (reload, and a
# stop that must leave nothing of sockwatch's), a start again, 9 (auditd), then
# 7b (a stop beside auditd, and purge) last. sw.mode=locked (booted with
# lockdown=confidentiality): checks 1-3 and 6, and the stats line (10).
set -u
H=/var/lib/sockwatch-vmtest
R=$H/results
mkdir -p "$R"
RES=$R/results.txt
: > "$RES"
mode=$(sed -n 's/.*sw\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)
mode=${mode:-full}
FINDINGS=/var/log/sockwatch/findings.jsonl
SOCK_RULES=/etc/audit/rules.d/50-sockwatch.rules

put() { echo "$1=$2" >> "$RES"; echo "SWVM: $1=$2" > /dev/console; }
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
put time.sockwatch_active "$(mono sockwatch.service ActiveEnterTimestampMonotonic)"
put time.docker_active "$(mono docker.service ActiveEnterTimestampMonotonic)"
# (systemd-analyze time has no answer yet: this unit is part of the boot.) Debian's
# initramfs runs no systemd: systemd starts when the kernel and the initramfs are done.
put time.userspace_start "$(systemctl show -p UserspaceTimestampMonotonic --value | awk '{ printf "%.1f", $1 / 1000000 }')"

# Every audit record from here on, raw, for the events closed without EOE.
"$H/audit_reader" > "$R/audit-raw.txt" 2> "$R/audit-reader.err" &
reader=$!

# --- 1. the unit came up and stays up, without sandbox denials -----------------
begin 1
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

# --- the container image -------------------------------------------------------
t=$(up)
for i in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
put time.docker_ready "$(up)"
docker import "$H/sw-image.tar" sw:test > /dev/null 2>> "$R/docker.err"
put time.docker_import "$(awk -v a="$t" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')"

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

# --- 3. short-lived clients: 50 docker exec, 10 docker run --rm ---------------
begin 3
before=$(trc_total)
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
wrong=$(tail -n +$((before + 1)) "$FINDINGS" | grep '"TRC-1019"' | grep -v -e "$box" $(for i in "${ids[@]}"; do [ -n "$i" ] && printf -- '-e %s ' "$i"; done) | wc -l)
put check3.total_new "$((after - before))"
put check3.wrong_id "$wrong"
put check3.run_counts "$(for i in "${ids[@]}"; do printf '%s ' "$(jsonl_count "$i")"; done | sed 's/ $//')"
docker rm -f "$box" > /dev/null 2>&1
end 3

# --- 6. what lockdown refuses ------------------------------------------------
begin 6
"$H/lockdown_probe" > "$R/lockdown-probe.txt" 2>&1
cat "$R/lockdown-probe.txt" >> "$RES"
end 6

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
