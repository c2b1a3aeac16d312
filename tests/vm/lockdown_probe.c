/* What kernel lockdown refuses, tried one by one: prints one line per probe,
 *   probe.NAME=ok            the kernel allowed it
 *   probe.NAME=ERRNO detail  the kernel refused it (EINVAL, EPERM, ...)
 * Probes: BPF programs calling the bpf_probe_read_kernel family of helpers (in a
 * socket filter program, the plainest type; a program without the call as the
 * baseline), a kprobe through the perf PMU (perf_event_open, closed at once),
 * tracefs and /proc/kcore. Nothing is attached anywhere: no raw tracepoint
 * (attaching one to sys_enter panics 6.12 under TCG), no program kept loaded.
 * Built with gcc -static on the host (tests/vm/debian-host.sh). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/vfs.h>

static char vlog[4096];

static const char *ename(int e) {
    switch (e) {
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENODEV: return "ENODEV";
    case E2BIG: return "E2BIG";
    default: return strerror(e);
    }
}

/* The verifier's last non-empty line, for the record. */
static const char *last_line(const char *s) {
    static char buf[256];
    const char *best = "";
    size_t bestn = 0;
    for (const char *p = s; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0) { best = p; bestn = n; }
        if (!e) break;
        p = e + 1;
    }
    if (bestn >= sizeof buf) bestn = sizeof buf - 1;
    memcpy(buf, best, bestn);
    buf[bestn] = 0;
    return buf;
}

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

/* helper < 0: no call (baseline). Otherwise: r1 = fp-8, r2 = 8, r3 = 0; call helper. */
static void bpf_probe(const char *name, int helper) {
    struct bpf_insn prog[8];
    int n = 0;
    if (helper >= 0) {
        prog[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_10, 0, 0);
        prog[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_1, 0, 0, -8);
        prog[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, 8);
        prog[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, 0);
        prog[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, helper);
    }
    prog[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
    prog[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    static const char license[] = "GPL";
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    a.insns = (uint64_t)(uintptr_t)prog;
    a.insn_cnt = n;
    a.license = (uint64_t)(uintptr_t)license;
    a.log_buf = (uint64_t)(uintptr_t)vlog;
    a.log_size = sizeof vlog;
    a.log_level = 1;
    vlog[0] = 0;
    int fd = syscall(__NR_bpf, BPF_PROG_LOAD, &a, sizeof a);
    if (fd >= 0) {
        printf("probe.%s=ok\n", name);
        close(fd);
    } else {
        int e = errno;
        printf("probe.%s=%s %s\n", name, ename(e), last_line(vlog));
    }
}

static void kprobe_probe(void) {
    FILE *f = fopen("/sys/bus/event_source/devices/kprobe/type", "r");
    int type = -1;
    if (!f || fscanf(f, "%d", &type) != 1) {
        printf("probe.perf_kprobe=%s no kprobe PMU\n", ename(errno ? errno : ENOENT));
        if (f) fclose(f);
        return;
    }
    fclose(f);
    static const char func[] = "do_sys_openat2";
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = type;
    a.config1 = (uint64_t)(uintptr_t)func; /* kprobe_func */
    a.config2 = 0;                         /* probe_offset */
    a.sample_period = 1;
    a.disabled = 1;
    int fd = syscall(__NR_perf_event_open, &a, -1, 0, -1, 0);
    if (fd >= 0) {
        printf("probe.perf_kprobe=ok\n");
        close(fd);
    } else {
        printf("probe.perf_kprobe=%s\n", ename(errno));
    }
}

static void open_probe(const char *name, const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("probe.%s=%s open %s\n", name, ename(errno), path);
        return;
    }
    char b[64];
    ssize_t r = read(fd, b, sizeof b);
    if (r < 0)
        printf("probe.%s=%s read %s\n", name, ename(errno), path);
    else
        printf("probe.%s=ok\n", name);
    close(fd);
}

int main(void) {
    char mode[64] = "";
    int fd = open("/sys/kernel/security/lockdown", O_RDONLY);
    if (fd >= 0) {
        ssize_t r = read(fd, mode, sizeof mode - 1);
        if (r > 0) mode[r - 1] = 0;
        close(fd);
    }
    printf("probe.lockdown=%s\n", mode[0] ? mode : "(unreadable)");
    bpf_probe("bpf_baseline", -1);
    bpf_probe("bpf_probe_read_kernel", BPF_FUNC_probe_read_kernel);
    bpf_probe("bpf_probe_read_kernel_str", BPF_FUNC_probe_read_kernel_str);
    kprobe_probe();
    /* tracefs: systemd mounts it at /sys/kernel/tracing. Under lockdown the
     * kernel creates no files in it at all, so say what is there. */
    if (access("/sys/kernel/tracing/trace", F_OK) == 0) {
        open_probe("tracefs", "/sys/kernel/tracing/trace");
    } else {
        struct statfs fs;
        int mounted = statfs("/sys/kernel/tracing", &fs) == 0 && fs.f_type == 0x74726163 /* TRACEFS_MAGIC */;
        int entries = 0;
        DIR *d = opendir("/sys/kernel/tracing");
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)))
                if (e->d_name[0] != '.') entries++;
            closedir(d);
        }
        printf("probe.tracefs=ENOENT /sys/kernel/tracing/trace: tracefs %s, %d entries\n",
               mounted ? "mounted" : "not mounted", entries);
    }
    open_probe("kcore", "/proc/kcore");
    return 0;
}
