/*
 * kiln_jail.h: Kiln's sandbox for untrusted processes (candidates' workers, the compiler, the agent's shell).
 *
 * jail_spawn() starts a program in new user, PID, mount, IPC, network, UTS and cgroup namespaces:
 *   - identity: an unprivileged uid (65534 inside); when Kiln runs as root and `as_nobody` is set, the host's
 *     nobody (65534) as well, so the program shares no uid with Kiln; otherwise Kiln's own uid, mapped;
 *     every capability dropped (bounding and ambient sets too), no_new_privs set;
 *   - file system: an empty read-only tmpfs root holding only the mounts asked for (the system's /usr and
 *     library links read-only, single files, folders, a private tmpfs, /dev/null or a minimal /dev, and a
 *     /proc of the sandbox's own PID namespace), nothing else of the host: no /proc of Kiln, no home, no cache;
 *   - processes: the program is PID 2 under a tiny init (PID 1) that reaps, reports the program's stops,
 *     continues and end over `report_fd`, and dies with its parent (PR_SET_PDEATHSIG), taking the whole
 *     namespace with it;
 *   - limits: address space, CPU time, file size, open files, processes; no core dumps; its own session.
 *
 * With `isolate` = 0 (Kiln's --unsafe-no-sandbox) the same process tree is made without namespaces.
 */
#ifndef KILN_JAIL_H
#define KILN_JAIL_H

#include <sys/types.h>

enum jail_mount_kind {
    JAIL_SYSTEM,      /* the host's /usr read-only, its /bin /sbin /lib* links (or read-only copies), /etc/ld.so.cache */
    JAIL_RO_BIND,     /* source (file or folder) at target, read-only */
    JAIL_BIND,        /* source at target, writable */
    JAIL_TMPFS,       /* an empty tmpfs of size_mb at target */
    JAIL_DEV_NULL,    /* /dev/null only */
    JAIL_DEV_MINIMAL, /* /dev with null, zero, full, random, urandom (and fd links when /proc is mounted) */
    JAIL_PROC,        /* a /proc of the sandbox's own PID namespace at target */
};

struct jail_mount {
    enum jail_mount_kind kind;
    const char *source;
    const char *target;
    long size_mb;
};

#define JAIL_MAX_MOUNTS 64
#define JAIL_MAX_FDS 8

struct jail_config {
    int isolate;   /* 1: namespaces; 0: none (unsafe) */
    int as_nobody; /* as root: run as the host's nobody rather than Kiln's uid */
    int mount_count;
    struct jail_mount mounts[JAIL_MAX_MOUNTS];
    const char *workdir;                  /* inside the sandbox; NULL: "/" */
    long memory_mb, cpu_seconds, file_mb; /* 0: unchanged */
    long max_fds, max_procs;              /* 0: unchanged */
    int stdin_fd, stdout_fd, stderr_fd;   /* -1: /dev/null (stdin) or inherited (stdout, stderr) */
    int extra_fd_count;                   /* extra_fds[i] becomes fd 3 + i in the program */
    int extra_fds[JAIL_MAX_FDS];
    int report_fd;      /* a SOCK_SEQPACKET socket: the program's pid (SCM_CREDENTIALS), then stop/continue/end reports */
    int ignore_sigxfsz; /* the program starts with SIGXFSZ ignored (writes past the file-size limit fail) */
    char *const *argv;  /* argv[0] is a path inside the sandbox, or a name searched on PATH from envp */
    char *const *envp;
};

/* Report messages on report_fd, one per datagram. */
#define JAIL_REPORT_PID 'P'       /* carries SCM_CREDENTIALS: the program's pid in the receiver's namespace */
#define JAIL_REPORT_STOPPED 'S'   /* the program's whole thread group stopped */
#define JAIL_REPORT_CONTINUED 'C' /* it was continued */
#define JAIL_REPORT_ENDED 'X'     /* followed by a 4-byte wait status; the init then exits */

void jail_config_init(struct jail_config *config);
/* Adds a mount; returns -1 when there are too many. */
int jail_add_mount(struct jail_config *config, enum jail_mount_kind kind, const char *source, const char *target,
                   long size_mb);

/* Starts the program. Returns the init's pid (in the caller's namespace) or -1 with a message in `error`. */
pid_t jail_spawn(const struct jail_config *config, char *error, size_t error_size);

/* Receives the program's pid from the report socket (the first message); -1 with `error` set on failure. */
pid_t jail_receive_pid(int report_fd, int timeout_ms, char *error, size_t error_size);

/* Checks that a sandbox can be made here: 0, or -1 with the reason in `error`. */
int jail_check(char *error, size_t error_size);

#endif
