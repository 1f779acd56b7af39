/*
 * kiln_arena.h: the memory Kiln's monitor shares with the worker that runs one implementation.
 *
 * The monitor maps a sealed memfd at the same address in both processes. Its first page is this
 * header; the problem's buffers and the task's kiln_alloc() state follow. The worker can write all of
 * it, so the monitor never trusts anything it reads here while the worker may run: it keeps its own
 * copy of where every buffer lies, reads outputs only while the worker is frozen, and believes the
 * worker's `error` only when the worker fails before any implementation code ran.
 */
#ifndef KILN_ARENA_H
#define KILN_ARENA_H

#include <stdint.h>

#define KILN_ARENA_MAGIC 0x6b696c6e6172656eull /* "kilnaren" */
#define KILN_ARENA_HEADER_BYTES 4096

/* The worker's descriptors. */
#define KILN_FD_ARENA 3 /* the memfd, closed once mapped */
#define KILN_FD_GO 4    /* the monitor writes 'G' (call once) or 'Q' (quit) */
#define KILN_FD_DONE 5  /* the worker writes 'R' once ready, then 'D' after each call */

/* The worker's own failures before any implementation code ran (never believed after 'R'). */
#define KILN_RUNNER_FAILED 120

struct kiln_arena_header {
    uint64_t magic;
    uint64_t state;            /* the task's state (kiln_set_state), an address inside the arena */
    int64_t forbidden_syscall; /* set by the worker's SIGSYS handler: the system call's number + 1 */
    int32_t threads;           /* OpenMP threads the worker started with */
    int32_t seccomp;           /* 1 once the worker's system-call filter is installed */
    char error[256];           /* the worker's own failure, before any implementation code ran */
};

#endif
