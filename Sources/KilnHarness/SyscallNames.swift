/// Names of the system calls a worker's allowlist refuses most often, so a verdict can say which one.
enum SyscallNames {
    static func name(_ number: Int) -> String? {
        #if arch(x86_64)
        return x86_64[number] ?? common[number]
        #elseif arch(arm64)
        return aarch64[number] ?? common[number]
        #else
        return common[number]
        #endif
    }

    /// Numbers shared by every architecture (the calls added since Linux 5.1).
    private static let common: [Int: String] = [
        424: "pidfd_send_signal", 425: "io_uring_setup", 426: "io_uring_enter", 427: "io_uring_register",
        428: "open_tree", 429: "move_mount", 430: "fsopen", 431: "fsconfig", 432: "fsmount", 433: "fspick",
        434: "pidfd_open", 435: "clone3", 436: "close_range", 437: "openat2", 438: "pidfd_getfd",
        439: "faccessat2", 440: "process_madvise", 441: "epoll_pwait2", 442: "mount_setattr",
        443: "quotactl_fd", 444: "landlock_create_ruleset", 445: "landlock_add_rule",
        446: "landlock_restrict_self", 447: "memfd_secret", 448: "process_mrelease", 449: "futex_waitv",
        450: "set_mempolicy_home_node", 451: "cachestat", 452: "fchmodat2", 453: "map_shadow_stack",
    ]

    private static let x86_64: [Int: String] = [
        2: "open", 4: "stat", 6: "lstat", 10: "mprotect (executable)", 9: "mmap (executable)",
        13: "rt_sigaction (SIGSYS)",
        22: "pipe", 29: "shmget", 30: "shmat", 31: "shmctl", 32: "dup", 33: "dup2", 36: "getitimer", 37: "alarm",
        38: "setitimer", 40: "sendfile", 41: "socket", 42: "connect", 43: "accept", 44: "sendto", 45: "recvfrom",
        46: "sendmsg", 47: "recvmsg", 49: "bind", 50: "listen", 53: "socketpair", 56: "clone (a new process)",
        57: "fork", 58: "vfork", 59: "execve", 61: "wait4", 62: "kill (another process)", 64: "semget", 65: "semop",
        66: "semctl", 67: "shmdt", 68: "msgget", 69: "msgsnd", 70: "msgrcv", 71: "msgctl", 73: "flock", 74: "fsync",
        76: "truncate", 77: "ftruncate", 78: "getdents", 79: "getcwd", 80: "chdir", 81: "fchdir", 82: "rename",
        83: "mkdir", 84: "rmdir", 86: "link", 87: "unlink", 88: "symlink", 90: "chmod", 91: "fchmod", 92: "chown",
        93: "fchown", 94: "lchown", 101: "ptrace", 103: "syslog", 105: "setuid", 106: "setgid", 109: "setpgid",
        112: "setsid", 133: "mknod", 135: "personality", 137: "statfs", 138: "fstatfs", 155: "pivot_root",
        160: "setrlimit", 161: "chroot", 162: "sync", 165: "mount", 166: "umount2", 169: "reboot",
        170: "sethostname", 171: "setdomainname", 172: "iopl", 173: "ioperm", 175: "init_module",
        176: "delete_module", 200: "tkill", 206: "io_setup", 209: "io_submit", 216: "remap_file_pages",
        217: "getdents64", 222: "timer_create", 232: "epoll_wait", 233: "epoll_ctl", 234: "tgkill (another process)",
        240: "mq_open", 246: "kexec_load", 247: "waitid", 248: "add_key", 249: "request_key", 250: "keyctl",
        253: "inotify_init", 254: "inotify_add_watch", 258: "mkdirat", 259: "mknodat", 260: "fchownat",
        263: "unlinkat", 264: "renameat", 265: "linkat", 266: "symlinkat", 268: "fchmodat", 272: "unshare",
        275: "splice", 276: "tee", 278: "vmsplice", 282: "signalfd", 283: "timerfd_create", 284: "eventfd",
        285: "fallocate", 288: "accept4", 289: "signalfd4", 290: "eventfd2", 291: "epoll_create1", 292: "dup3",
        293: "pipe2", 294: "inotify_init1", 298: "perf_event_open", 299: "recvmmsg", 300: "fanotify_init",
        303: "name_to_handle_at", 304: "open_by_handle_at", 307: "sendmmsg", 308: "setns",
        310: "process_vm_readv", 311: "process_vm_writev", 312: "kcmp", 313: "finit_module", 316: "renameat2",
        317: "seccomp", 319: "memfd_create", 320: "kexec_file_load", 321: "bpf", 322: "execveat",
        323: "userfaultfd", 326: "copy_file_range", 329: "pkey_mprotect", 330: "pkey_alloc",
    ]

    private static let aarch64: [Int: String] = [
        0: "io_setup", 2: "io_submit", 23: "dup", 24: "dup3", 32: "flock", 33: "mknodat", 34: "mkdirat",
        35: "unlinkat", 36: "symlinkat", 37: "linkat", 38: "renameat", 39: "umount2", 40: "mount",
        41: "pivot_root", 45: "truncate", 46: "ftruncate", 47: "fallocate", 49: "chdir", 50: "fchdir",
        51: "chroot", 52: "fchmod", 53: "fchmodat", 54: "fchownat", 55: "fchown", 59: "pipe2", 61: "getdents64",
        74: "signalfd4", 76: "splice", 77: "tee", 85: "timerfd_create", 92: "personality", 97: "unshare",
        103: "setitimer", 107: "timer_create", 116: "syslog", 117: "ptrace", 129: "kill (another process)",
        130: "tkill", 131: "tgkill (another process)", 134: "rt_sigaction (SIGSYS)", 142: "reboot",
        144: "setgid", 146: "setuid", 154: "setpgid", 157: "setsid", 161: "sethostname", 162: "setdomainname",
        164: "setrlimit", 180: "mq_open", 186: "msgget", 187: "msgctl", 188: "msgrcv", 189: "msgsnd",
        190: "semget", 191: "semctl", 193: "semop", 194: "shmget", 195: "shmctl", 196: "shmat", 197: "shmdt",
        198: "socket", 199: "socketpair", 200: "bind", 201: "listen", 202: "accept", 203: "connect",
        206: "sendto", 207: "recvfrom", 211: "sendmsg", 212: "recvmsg", 217: "add_key", 218: "request_key",
        219: "keyctl", 220: "clone (a new process)", 221: "execve", 222: "mmap (executable)",
        226: "mprotect (executable)", 234: "remap_file_pages", 241: "perf_event_open", 242: "accept4",
        260: "wait4", 264: "name_to_handle_at", 265: "open_by_handle_at", 268: "setns",
        270: "process_vm_readv", 271: "process_vm_writev", 272: "kcmp", 273: "finit_module", 276: "renameat2",
        277: "seccomp", 279: "memfd_create", 280: "bpf", 281: "execveat", 282: "userfaultfd",
        285: "copy_file_range", 288: "pkey_mprotect", 289: "pkey_alloc",
    ]
}
