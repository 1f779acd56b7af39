/*
 * kiln_jail.c: Kiln's sandbox (see kiln_jail.h). Built into Kiln's monitor, which uses it to start the
 * worker that runs one implementation, and, with -DKILN_JAIL_MAIN, into the `kiln-jail` launcher that
 * runs the compiler and the agent's shell:
 *
 *   kiln-jail [options] -- PROGRAM [ARGUMENT...]
 *     --system                the host's /usr (read-only) with its /bin, /sbin and /lib* links
 *     --ro-bind SOURCE TARGET a file or folder, read-only
 *     --bind SOURCE TARGET    a file or folder, writable
 *     --tmpfs TARGET MB       an empty, private tmpfs
 *     --dev-null | --dev      /dev/null only, or a minimal /dev (null, zero, full, random, urandom)
 *     --proc                  a /proc of the sandbox's own PID namespace
 *     --chdir DIR             the working folder inside
 *     --nobody                as root: run as the host's nobody (65534), not as Kiln's own uid
 *     --memory-mb N  --cpu-seconds N  --file-mb N  --max-fds N  --max-procs N
 *     --setenv NAME VALUE     (the environment is otherwise empty)
 *     --unsafe-no-sandbox     no namespaces at all: limits only
 *     --stdin                 the program reads the launcher's standard input (else /dev/null)
 *     --report-exit           when the program ends, write "\ndead status=exit:N" (or signal:N) on standard
 *                             output: for drivers speaking a line protocol there, whose end is then a reply
 *     --check                 make a sandbox, run nothing in it; print "ok" or why not
 *
 *   Exit status: the program's own, 128+N when a signal N ended it, 127 when the program could not be
 *   run in the sandbox, 125 when no sandbox could be made (a line "kiln-jail: ..." says why).
 */
#define _GNU_SOURCE
#include "kiln_jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define JAIL_UID 65534
#define JAIL_GID 65534

void jail_config_init(struct jail_config *config) {
    memset(config, 0, sizeof *config);
    config->isolate = 1;
    config->stdin_fd = -1;
    config->stdout_fd = -1;
    config->stderr_fd = -1;
    config->report_fd = -1;
}

int jail_add_mount(struct jail_config *config, enum jail_mount_kind kind, const char *source, const char *target,
                   long size_mb) {
    if (config->mount_count == JAIL_MAX_MOUNTS) return -1;
    struct jail_mount *m = &config->mounts[config->mount_count++];
    m->kind = kind;
    m->source = source;
    m->target = target;
    m->size_mb = size_mb;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Failures inside the child go back to the parent as one line on a pipe.
 */

static int error_fd = -1;

static void child_fail(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));
static void child_fail(const char *format, ...) {
    char message[512];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(message, sizeof message, format, args);
    va_end(args);
    if (n < 0) n = 0;
    if (n > (int)sizeof message - 1) n = (int)sizeof message - 1;
    if (error_fd >= 0) {
        ssize_t ignored = write(error_fd, message, (size_t)n);
        (void)ignored;
    }
    _exit(125);
}

/* ---------------------------------------------------------------------------------------------
 * The file system: an empty tmpfs root with only what was asked for.
 */

/* One mount to make, with its source already opened (O_PATH) before the identity changed. */
struct planned_mount {
    enum jail_mount_kind kind; /* JAIL_RO_BIND, JAIL_BIND, JAIL_TMPFS, JAIL_PROC, or JAIL_DEV_NULL for a device */
    int source_fd;
    int is_directory;
    char target[512];
    char link_target[512]; /* for a symbolic link (kind JAIL_SYSTEM) */
    long size_mb;
};

#define MAX_PLANNED 96
static struct planned_mount plan[MAX_PLANNED];
static int plan_count = 0;
static int devnull_fd = -1;

static struct planned_mount *plan_add(enum jail_mount_kind kind, const char *target) {
    if (plan_count == MAX_PLANNED) child_fail("too many mounts");
    struct planned_mount *p = &plan[plan_count++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->source_fd = -1;
    if (snprintf(p->target, sizeof p->target, "%s", target) >= (int)sizeof p->target)
        child_fail("mount target too long: %s", target);
    return p;
}

static void plan_bind(enum jail_mount_kind kind, const char *source, const char *target, int required) {
    int fd = open(source, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (!required && errno == ENOENT) return;
        child_fail("cannot open %s for the sandbox: %s", source, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) child_fail("cannot stat %s: %s", source, strerror(errno));
    struct planned_mount *p = plan_add(kind, target);
    p->source_fd = fd;
    p->is_directory = S_ISDIR(st.st_mode);
}

static void plan_system(void) {
    plan_bind(JAIL_RO_BIND, "/usr", "/usr", 1);
    static const char *const tops[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/%s", tops[i]);
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        if (S_ISLNK(st.st_mode)) {
            struct planned_mount *p = plan_add(JAIL_SYSTEM, path);
            ssize_t n = readlink(path, p->link_target, sizeof p->link_target - 1);
            if (n < 0) child_fail("cannot read the link %s: %s", path, strerror(errno));
            p->link_target[n] = 0;
        } else if (S_ISDIR(st.st_mode)) {
            plan_bind(JAIL_RO_BIND, path, path, 1);
        }
    }
    plan_bind(JAIL_RO_BIND, "/etc/ld.so.cache", "/etc/ld.so.cache", 0);
}

static void plan_devices(int minimal) {
    static const char *const names[] = {"null", "zero", "full", "random", "urandom"};
    int count = minimal ? 5 : 1;
    for (int i = 0; i < count; i++) {
        char path[64];
        snprintf(path, sizeof path, "/dev/%s", names[i]);
        plan_bind(JAIL_DEV_NULL, path, path, i == 0);
    }
}

static void make_directories(const char *path) {
    char buffer[1024];
    if (snprintf(buffer, sizeof buffer, "%s", path) >= (int)sizeof buffer) child_fail("path too long: %s", path);
    for (char *p = buffer + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buffer, 0755) != 0 && errno != EEXIST) child_fail("cannot create %s: %s", buffer, strerror(errno));
        *p = '/';
    }
    if (mkdir(buffer, 0755) != 0 && errno != EEXIST) child_fail("cannot create %s: %s", buffer, strerror(errno));
}

static void make_parent(const char *path) {
    char buffer[1024];
    if (snprintf(buffer, sizeof buffer, "%s", path) >= (int)sizeof buffer) child_fail("path too long: %s", path);
    char *slash = strrchr(buffer, '/');
    if (slash && slash != buffer) {
        *slash = 0;
        make_directories(buffer);
    }
}

static unsigned long locked_flags(const char *path) {
    struct statvfs sv;
    unsigned long flags = 0;
    if (statvfs(path, &sv) != 0) return flags;
    if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) flags |= MS_RELATIME;
    if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
    return flags;
}

static void bind_into(const char *root, struct planned_mount *p) {
    char target[1100];
    snprintf(target, sizeof target, "%s%s", root, p->target);
    if (p->is_directory) {
        make_directories(target);
    } else {
        make_parent(target);
        int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) child_fail("cannot create the mount point %s: %s", p->target, strerror(errno));
        close(fd);
    }
    char source[64];
    snprintf(source, sizeof source, "/proc/self/fd/%d", p->source_fd);
    if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) != 0)
        child_fail("cannot bind %s into the sandbox: %s", p->target, strerror(errno));
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | locked_flags(target);
    if (p->kind == JAIL_RO_BIND) flags |= MS_RDONLY | MS_NODEV;
    else if (p->kind == JAIL_BIND) flags |= MS_NODEV;
    else flags |= MS_RDONLY; /* a device: read-only mount, the device itself still writable */
    if (mount(NULL, target, NULL, flags, NULL) != 0)
        child_fail("cannot make %s %s in the sandbox: %s", p->target,
                   p->kind == JAIL_BIND ? "nosuid" : "read-only", strerror(errno));
    close(p->source_fd);
    p->source_fd = -1;
}

static const char *choose_base(void) {
    static const char *const candidates[] = {"/tmp", "/var/tmp", "/mnt", "/run", "/dev/shm"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        struct stat st;
        if (stat(candidates[i], &st) == 0 && S_ISDIR(st.st_mode)) return candidates[i];
    }
    child_fail("no folder to build the sandbox's root on (tried /tmp, /var/tmp, /mnt, /run, /dev/shm)");
}

static void build_root(const struct jail_config *config) {
    const char *root = choose_base();
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        child_fail("cannot make the mount namespace private: %s", strerror(errno));
    if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m") != 0)
        child_fail("cannot mount the sandbox's root tmpfs: %s", strerror(errno));
    int has_proc = 0;
    for (int i = 0; i < plan_count; i++) {
        struct planned_mount *p = &plan[i];
        char target[1100];
        snprintf(target, sizeof target, "%s%s", root, p->target);
        switch (p->kind) {
        case JAIL_SYSTEM:
            make_parent(target);
            if (symlink(p->link_target, target) != 0 && errno != EEXIST)
                child_fail("cannot link %s in the sandbox: %s", p->target, strerror(errno));
            break;
        case JAIL_TMPFS: {
            make_directories(target);
            char options[64];
            snprintf(options, sizeof options, "mode=1777,size=%ldm", p->size_mb > 0 ? p->size_mb : 64);
            if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0)
                child_fail("cannot mount a tmpfs at %s: %s", p->target, strerror(errno));
            break;
        }
        case JAIL_PROC:
            make_directories(target);
            if (mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
                child_fail("cannot mount a /proc of the sandbox's own: %s", strerror(errno));
            has_proc = 1;
            break;
        default:
            bind_into(root, p);
            break;
        }
    }
    if (has_proc) {
        static const char *const links[][2] = {
            {"/proc/self/fd", "/dev/fd"},
            {"/proc/self/fd/0", "/dev/stdin"},
            {"/proc/self/fd/1", "/dev/stdout"},
            {"/proc/self/fd/2", "/dev/stderr"},
        };
        char devdir[1100];
        snprintf(devdir, sizeof devdir, "%s/dev", root);
        struct stat st;
        if (stat(devdir, &st) == 0)
            for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
                char target[1100];
                snprintf(target, sizeof target, "%s%s", root, links[i][1]);
                if (symlink(links[i][0], target) != 0 && errno != EEXIST)
                    child_fail("cannot link %s: %s", links[i][1], strerror(errno));
            }
    }
    char old[1100];
    snprintf(old, sizeof old, "%s/.old-root", root);
    if (mkdir(old, 0700) != 0) child_fail("cannot create %s: %s", old, strerror(errno));
    if (chdir(root) != 0) child_fail("cannot enter the sandbox's root: %s", strerror(errno));
    if (syscall(SYS_pivot_root, ".", ".old-root") != 0) child_fail("pivot_root failed: %s", strerror(errno));
    if (chdir("/") != 0) child_fail("cannot enter /: %s", strerror(errno));
    if (umount2("/.old-root", MNT_DETACH) != 0) child_fail("cannot detach the host's root: %s", strerror(errno));
    if (rmdir("/.old-root") != 0) child_fail("cannot remove /.old-root: %s", strerror(errno));
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        child_fail("cannot make the sandbox's root read-only: %s", strerror(errno));
    (void)config;
}

/* ---------------------------------------------------------------------------------------------
 * Identity and privileges
 */

static void drop_capabilities(void) {
    for (int cap = 0; cap < 64; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break;
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0) child_fail("cannot drop capabilities: %s", strerror(errno));
}

static void set_limit(int resource, long value, const char *what) {
    if (value <= 0) return;
    struct rlimit limit = {(rlim_t)value, (rlim_t)value};
    if (setrlimit(resource, &limit) != 0) child_fail("cannot limit %s: %s", what, strerror(errno));
}

static void send_pid(int fd) {
    struct ucred credentials = {.pid = getpid(), .uid = getuid(), .gid = getgid()};
    char tag = JAIL_REPORT_PID;
    struct iovec iov = {.iov_base = &tag, .iov_len = 1};
    union {
        char buffer[CMSG_SPACE(sizeof credentials)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
                             .msg_controllen = sizeof control.buffer};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&message);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_CREDENTIALS;
    cmsg->cmsg_len = CMSG_LEN(sizeof credentials);
    memcpy(CMSG_DATA(cmsg), &credentials, sizeof credentials);
    if (sendmsg(fd, &message, MSG_NOSIGNAL) != 1) child_fail("cannot report the program's pid: %s", strerror(errno));
}

static void report(int fd, char tag, int status) {
    if (fd < 0) return;
    char message[5] = {tag};
    memcpy(message + 1, &status, sizeof status);
    ssize_t ignored = send(fd, message, tag == JAIL_REPORT_ENDED ? 5 : 1, MSG_NOSIGNAL);
    (void)ignored;
}

/* ---------------------------------------------------------------------------------------------
 * The program
 */

static const char *lookup_env(char *const *envp, const char *name) {
    size_t length = strlen(name);
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, name, length) == 0 && (*e)[length] == '=') return *e + length + 1;
    return NULL;
}

static void exec_program(const struct jail_config *config) {
    char *const empty[] = {NULL};
    char *const *envp = config->envp ? config->envp : empty;
    const char *name = config->argv[0];
    if (strchr(name, '/')) {
        execve(name, config->argv, envp);
        child_fail("cannot run %s in the sandbox: %s", name, strerror(errno));
    }
    const char *path = lookup_env(envp, "PATH");
    if (!path) path = "/usr/bin:/bin";
    int saved = ENOENT;
    while (*path) {
        const char *end = strchr(path, ':');
        size_t length = end ? (size_t)(end - path) : strlen(path);
        char candidate[1024];
        if (length > 0 && length + strlen(name) + 2 < sizeof candidate) {
            memcpy(candidate, path, length);
            candidate[length] = '/';
            strcpy(candidate + length + 1, name);
            execve(candidate, config->argv, envp);
            if (errno != ENOENT) saved = errno;
        }
        path = end ? end + 1 : path + length;
    }
    child_fail("cannot run %s in the sandbox: %s", name, strerror(saved));
}

/* In the program's process: limits, descriptors, signals, then exec. */
static void start_program(const struct jail_config *config) {
    if (config->isolate || config->report_fd >= 0) setsid();
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    set_limit(RLIMIT_AS, config->memory_mb > 0 ? config->memory_mb << 20 : 0, "memory");
    set_limit(RLIMIT_CPU, config->cpu_seconds, "CPU time");
    set_limit(RLIMIT_FSIZE, config->file_mb > 0 ? config->file_mb << 20 : 0, "file size");
    set_limit(RLIMIT_NPROC, config->max_procs, "processes");

    /* Descriptors: 0, 1, 2, then the extra ones from 3; everything else closes at exec. */
    int sources[3 + JAIL_MAX_FDS];
    int count = 3 + config->extra_fd_count;
    sources[0] = config->stdin_fd >= 0 ? config->stdin_fd : devnull_fd;
    sources[1] = config->stdout_fd >= 0 ? config->stdout_fd : 1;
    sources[2] = config->stderr_fd >= 0 ? config->stderr_fd : 2;
    for (int i = 0; i < config->extra_fd_count; i++) sources[3 + i] = config->extra_fds[i];
    int moved[3 + JAIL_MAX_FDS];
    for (int i = 0; i < count; i++) {
        moved[i] = sources[i] >= 0 ? fcntl(sources[i], F_DUPFD_CLOEXEC, 100) : -1;
        if (sources[i] >= 0 && moved[i] < 0) child_fail("cannot pass descriptor %d: %s", sources[i], strerror(errno));
    }
    for (int i = 0; i < count; i++)
        if (moved[i] >= 0 && dup2(moved[i], i) < 0) child_fail("cannot set descriptor %d: %s", i, strerror(errno));
    if (syscall(SYS_close_range, (unsigned)count, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = count; fd < (max > 0 ? max : 1024); fd++) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    }
    if (config->report_fd >= 0) send_pid(config->report_fd);
    set_limit(RLIMIT_NOFILE, config->max_fds, "open files");
    if (config->workdir && chdir(config->workdir) != 0)
        child_fail("cannot enter %s in the sandbox: %s", config->workdir, strerror(errno));

    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    if (config->ignore_sigxfsz) signal(SIGXFSZ, SIG_IGN);
    if (!config->argv || !config->argv[0]) _exit(0); /* jail_check(): nothing to run */
    exec_program(config);
}

/* The sandbox's init: sets up, starts the program, reports on it, reaps, and ends with it. */
static void run_init(const struct jail_config *config, int sync_fd, int parent_is_root) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    char go;
    if (read(sync_fd, &go, 1) != 1) _exit(125); /* the parent went away or failed */
    close(sync_fd);
    devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull_fd < 0) child_fail("cannot open /dev/null: %s", strerror(errno));

    if (config->isolate) {
        for (int i = 0; i < config->mount_count; i++) {
            const struct jail_mount *m = &config->mounts[i];
            switch (m->kind) {
            case JAIL_SYSTEM: plan_system(); break;
            case JAIL_RO_BIND:
            case JAIL_BIND: plan_bind(m->kind, m->source, m->target, 1); break;
            case JAIL_TMPFS: plan_add(JAIL_TMPFS, m->target)->size_mb = m->size_mb; break;
            case JAIL_PROC: plan_add(JAIL_PROC, m->target ? m->target : "/proc"); break;
            case JAIL_DEV_NULL: plan_devices(0); break;
            case JAIL_DEV_MINIMAL: plan_devices(1); break;
            }
        }
        if (parent_is_root && setgroups(0, NULL) != 0)
            child_fail("cannot clear supplementary groups: %s", strerror(errno));
        if (setresgid(JAIL_GID, JAIL_GID, JAIL_GID) != 0) child_fail("cannot set the group: %s", strerror(errno));
        if (setresuid(JAIL_UID, JAIL_UID, JAIL_UID) != 0) child_fail("cannot set the user: %s", strerror(errno));
        build_root(config);
        if (sethostname("kiln-sandbox", 12) != 0) child_fail("cannot set the host name: %s", strerror(errno));
        drop_capabilities();
    } else {
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail("cannot set no_new_privs: %s", strerror(errno));

    /* Changing the user and group above cleared the parent-death signal: set it again, so that the init
     * (and with it the program) ends when whoever started it dies, however it dies. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    pid_t program = fork();
    if (program < 0) child_fail("cannot start the program: %s", strerror(errno));
    if (program == 0) start_program(config);
    close(error_fd);
    error_fd = -1;
    /* The init keeps only its report socket: the program's pipes see their other end close when it ends. */
    for (int fd = 3; fd < 4096; fd++)
        if (fd != config->report_fd) close(fd);

    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, __WALL | WUNTRACED | WCONTINUED);
        if (pid < 0) {
            if (errno == EINTR) continue;
            _exit(125);
        }
        if (pid != program) continue;
        if (WIFSTOPPED(status)) {
            report(config->report_fd, JAIL_REPORT_STOPPED, 0);
        } else if (WIFCONTINUED(status)) {
            report(config->report_fd, JAIL_REPORT_CONTINUED, 0);
        } else {
            report(config->report_fd, JAIL_REPORT_ENDED, status);
            if (!config->isolate) kill(-program, SIGKILL); /* whatever it left behind in its session */
            _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
    }
}

static int write_text(pid_t pid, const char *file, const char *text, char *error, size_t error_size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(error, error_size, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t size = strlen(text);
    ssize_t n = write(fd, text, size);
    int saved = errno;
    close(fd);
    if (n != (ssize_t)size) {
        snprintf(error, error_size, "cannot write %s: %s", path, strerror(saved));
        return -1;
    }
    return 0;
}

pid_t jail_spawn(const struct jail_config *config, char *error, size_t error_size) {
    int sync_pipe[2], error_pipe[2];
    if (pipe2(sync_pipe, O_CLOEXEC) != 0 || pipe2(error_pipe, O_CLOEXEC) != 0) {
        snprintf(error, error_size, "cannot make a pipe: %s", strerror(errno));
        return -1;
    }
    int parent_is_root = geteuid() == 0;
    unsigned long flags = SIGCHLD;
    if (config->isolate)
        flags |= CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWCGROUP;
    pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid < 0) {
        int saved = errno;
        const char *why = saved == EPERM    ? " (user namespaces are not allowed here: kernel.unprivileged_userns_clone, "
                                              "AppArmor's restrict_unprivileged_userns, or a container's seccomp policy)"
                          : saved == ENOSPC ? " (the limit user.max_user_namespaces is zero or reached)"
                          : saved == EINVAL ? " (this kernel lacks one of the namespace kinds)"
                                            : "";
        snprintf(error, error_size, "cannot create the sandbox's namespaces (user, PID, mount, IPC, network, UTS): %s%s",
                 strerror(saved), why);
        close(sync_pipe[0]), close(sync_pipe[1]), close(error_pipe[0]), close(error_pipe[1]);
        return -1;
    }
    if (pid == 0) {
        close(sync_pipe[1]);
        close(error_pipe[0]);
        error_fd = error_pipe[1];
        run_init(config, sync_pipe[0], parent_is_root);
        _exit(125);
    }
    close(sync_pipe[0]);
    close(error_pipe[1]);
    int failed = 0;
    if (config->isolate) {
        char map[64];
        uid_t outer_uid = parent_is_root ? (config->as_nobody ? JAIL_UID : 0) : getuid();
        gid_t outer_gid = parent_is_root ? (config->as_nobody ? JAIL_GID : 0) : getgid();
        snprintf(map, sizeof map, "%d %d 1\n", JAIL_UID, (int)outer_uid);
        failed = write_text(pid, "uid_map", map, error, error_size) != 0;
        if (!failed && !parent_is_root) failed = write_text(pid, "setgroups", "deny", error, error_size) != 0;
        snprintf(map, sizeof map, "%d %d 1\n", JAIL_GID, (int)outer_gid);
        if (!failed) failed = write_text(pid, "gid_map", map, error, error_size) != 0;
    }
    if (!failed) {
        ssize_t ignored = write(sync_pipe[1], "g", 1);
        (void)ignored;
    }
    close(sync_pipe[1]);
    char message[512];
    size_t used = 0;
    for (;;) {
        ssize_t n = read(error_pipe[0], message + used, sizeof message - 1 - used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        used += (size_t)n;
        if (used == sizeof message - 1) break;
    }
    close(error_pipe[0]);
    message[used] = 0;
    if (failed || used > 0) {
        if (!failed) snprintf(error, error_size, "%s", message);
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR) {
        }
        return -1;
    }
    return pid;
}

pid_t jail_receive_pid(int report_fd, int timeout_ms, char *error, size_t error_size) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        char tag = 0;
        struct iovec iov = {.iov_base = &tag, .iov_len = 1};
        union {
            char buffer[CMSG_SPACE(sizeof(struct ucred))];
            struct cmsghdr align;
        } control;
        struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
                                 .msg_controllen = sizeof control.buffer};
        ssize_t n = recvmsg(report_fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n == 1 && tag == JAIL_REPORT_PID) {
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                    struct ucred credentials;
                    memcpy(&credentials, CMSG_DATA(c), sizeof credentials);
                    return credentials.pid;
                }
            }
            snprintf(error, error_size, "the program's first report carried no credentials");
            return -1;
        }
        if (n >= 1) {
            snprintf(error, error_size, "the program's first report was '%c', not its pid", tag);
            return -1;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            snprintf(error, error_size, "the sandbox ended before the program started");
            return -1;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed > timeout_ms) {
            snprintf(error, error_size, "the program did not start within %d ms", timeout_ms);
            return -1;
        }
        struct timespec pause = {0, 200 * 1000};
        nanosleep(&pause, NULL);
    }
}

int jail_check(char *error, size_t error_size) {
    struct jail_config config;
    jail_config_init(&config);
    config.as_nobody = 1;
    jail_add_mount(&config, JAIL_SYSTEM, NULL, NULL, 0);
    jail_add_mount(&config, JAIL_DEV_NULL, NULL, NULL, 0);
    jail_add_mount(&config, JAIL_TMPFS, NULL, "/tmp", 1);
    char *const argv[] = {NULL};
    config.argv = argv;
    pid_t pid = jail_spawn(&config, error, error_size);
    if (pid < 0) return -1;
    int status = 0;
    while (waitpid(pid, &status, __WALL) < 0) {
        if (errno != EINTR) {
            snprintf(error, error_size, "lost the sandbox's init: %s", strerror(errno));
            return -1;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(error, error_size, "the sandbox's init ended with status %d", status);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The launcher
 */

#ifdef KILN_JAIL_MAIN
static void usage(const char *message) {
    fprintf(stderr, "kiln-jail: %s\n", message);
    exit(125);
}

static long number(const char *text, const char *option) {
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < 0) {
        fprintf(stderr, "kiln-jail: %s needs a non-negative integer, not '%s'\n", option, text);
        exit(125);
    }
    return value;
}

int main(int argc, char **argv) {
    static struct jail_config config;
    jail_config_init(&config);
    static char *environment[130];
    int environment_count = 0;
    int check = 0, report_exit = 0;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        int left = argc - i - 1;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "--system") == 0) {
            jail_add_mount(&config, JAIL_SYSTEM, NULL, NULL, 0);
        } else if ((strcmp(a, "--ro-bind") == 0 || strcmp(a, "--bind") == 0) && left >= 2) {
            if (argv[i + 2][0] != '/') usage("mount targets must be absolute paths");
            if (jail_add_mount(&config, a[2] == 'r' ? JAIL_RO_BIND : JAIL_BIND, argv[i + 1], argv[i + 2], 0) != 0)
                usage("too many mounts");
            i += 2;
        } else if (strcmp(a, "--tmpfs") == 0 && left >= 2) {
            if (jail_add_mount(&config, JAIL_TMPFS, NULL, argv[i + 1], number(argv[i + 2], a)) != 0)
                usage("too many mounts");
            i += 2;
        } else if (strcmp(a, "--dev-null") == 0) {
            jail_add_mount(&config, JAIL_DEV_NULL, NULL, NULL, 0);
        } else if (strcmp(a, "--dev") == 0) {
            jail_add_mount(&config, JAIL_DEV_MINIMAL, NULL, NULL, 0);
        } else if (strcmp(a, "--proc") == 0) {
            jail_add_mount(&config, JAIL_PROC, NULL, "/proc", 0);
        } else if (strcmp(a, "--chdir") == 0 && left >= 1) {
            config.workdir = argv[++i];
        } else if (strcmp(a, "--nobody") == 0) {
            config.as_nobody = 1;
        } else if (strcmp(a, "--memory-mb") == 0 && left >= 1) {
            config.memory_mb = number(argv[++i], a);
        } else if (strcmp(a, "--cpu-seconds") == 0 && left >= 1) {
            config.cpu_seconds = number(argv[++i], a);
        } else if (strcmp(a, "--file-mb") == 0 && left >= 1) {
            config.file_mb = number(argv[++i], a);
        } else if (strcmp(a, "--max-fds") == 0 && left >= 1) {
            config.max_fds = number(argv[++i], a);
        } else if (strcmp(a, "--max-procs") == 0 && left >= 1) {
            config.max_procs = number(argv[++i], a);
        } else if (strcmp(a, "--setenv") == 0 && left >= 2) {
            if (environment_count == 128) usage("too many --setenv");
            size_t size = strlen(argv[i + 1]) + strlen(argv[i + 2]) + 2;
            char *entry = malloc(size);
            if (!entry) usage("out of memory");
            snprintf(entry, size, "%s=%s", argv[i + 1], argv[i + 2]);
            environment[environment_count++] = entry;
            i += 2;
        } else if (strcmp(a, "--unsafe-no-sandbox") == 0) {
            config.isolate = 0;
        } else if (strcmp(a, "--check") == 0) {
            check = 1;
        } else if (strcmp(a, "--report-exit") == 0) {
            report_exit = 1;
        } else if (strcmp(a, "--stdin") == 0) {
            config.stdin_fd = STDIN_FILENO;
        } else {
            fprintf(stderr, "kiln-jail: unknown or incomplete option '%s'\n", a);
            return 125;
        }
    }
    char error[512];
    if (check) {
        if (jail_check(error, sizeof error) != 0) {
            printf("unavailable: %s\n", error);
            return 1;
        }
        printf("ok\n");
        return 0;
    }
    if (i >= argc) usage("no program given (kiln-jail [options] -- PROGRAM [ARGUMENT...])");
    config.argv = argv + i;
    config.envp = environment;
    signal(SIGPIPE, SIG_IGN);
    /* With --report-exit the init's report socket says exactly how the program ended (the init's own exit
     * status cannot tell a program killed by signal N from one that exited with 128 + N). */
    int reports[2] = {-1, -1};
    if (report_exit && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, reports) != 0) {
        fprintf(stderr, "kiln-jail: cannot make the report socket: %s\n", strerror(errno));
        return 125;
    }
    config.report_fd = reports[1];
    pid_t pid = jail_spawn(&config, error, sizeof error);
    if (reports[1] >= 0) close(reports[1]);
    if (pid < 0) {
        fprintf(stderr, "kiln-jail: %s\n", error);
        /* The sandbox was made but the program is not there: the shell's convention, not a sandbox failure. */
        return strncmp(error, "cannot run ", 11) == 0 ? 127 : 125;
    }
    int status = 0;
    while (waitpid(pid, &status, __WALL) < 0) {
        if (errno != EINTR) return 125;
    }
    int ended = status, exact = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 125) exact = -1; /* the init failed: no program status */
    for (char message[8]; report_exit && exact == 0;) {
        ssize_t n = recv(reports[0], message, sizeof message, MSG_DONTWAIT);
        if (n <= 0) break;
        if (n == 5 && message[0] == JAIL_REPORT_ENDED) {
            memcpy(&ended, message + 1, sizeof ended);
            exact = 1;
        }
    }
    if (report_exit) {
        char line[64];
        if (exact == 1 && WIFSIGNALED(ended))
            snprintf(line, sizeof line, "\ndead status=signal:%d\n", WTERMSIG(ended));
        else if (exact == 1)
            snprintf(line, sizeof line, "\ndead status=exit:%d\n", WEXITSTATUS(ended));
        else if (WIFSIGNALED(status))
            snprintf(line, sizeof line, "\ndead status=signal:%d\n", WTERMSIG(status));
        else
            snprintf(line, sizeof line, "\ndead status=lost\n");
        ssize_t ignored = write(STDOUT_FILENO, line, strlen(line));
        (void)ignored;
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}
#endif
