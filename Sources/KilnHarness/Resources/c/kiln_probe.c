/*
 * kiln_probe.c: measures what this machine allows, for roofline figures and impossible-time checks.
 *
 * Built by Kiln with `gcc -O2 -march=native -fopenmp kiln_probe.c -o probe -lm`; prints one JSON
 * object on stdout and nothing else there:
 *   peak_gflops_1 / peak_gflops_all   fp32 FMA rate with register-resident accumulators, one thread / all
 *   threads                           omp_get_max_threads()
 *   bandwidth_gbs_1 / bandwidth_gbs_all  STREAM triad (double, a = b + s*c, 3 x 8 bytes per element)
 *   l1d_bytes, l2_bytes, l3_bytes     from /sys/devices/system/cpu/cpu0/cache, 0 when unknown
 *   cpu_model                         /proc/cpuinfo "model name", "" when unknown
 *   simd                              the widest vector ISA the build targets: avx512, avx2, sse or scalar
 *   fp32_lanes                        fp32 lanes of that ISA's vectors (16, 8, 4 or 1)
 *   clock_mhz, clock_source           the highest clock seen: the largest of every CPU's cpufreq
 *                                     cpuinfo_max_freq and of /proc/cpuinfo's "cpu MHz" lines (read right
 *                                     after the FMA trials, while the cores are at speed); 0 and "unknown"
 *                                     when neither can be read
 * Every figure is the best of several trials; one run takes a second or two. Kiln runs it until the
 * best two runs agree (MachineProbe.swift), counting the load the machine was under meanwhile.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(_OPENMP) && defined(__has_include)
#if __has_include(<omp.h>)
#include <omp.h>
#define PROBE_HAS_OMP_H 1
#endif
#endif
#if defined(__AVX__) || defined(__SSE2__)
#include <immintrin.h>
#endif

#define FMA_ACCUMULATORS 12     /* independent chains: enough to cover FMA latency x pipes */
#define FMA_TRIAL_SECONDS 0.02  /* one trial's target length */
#define FMA_TRIALS 10 /* a shared VM may steal a core for a trial or two */
#define TRIAD_ELEMENTS (8u << 20) /* 8 Mi doubles: 64 MiB per array, far beyond any cache */
#define TRIAD_TRIALS 8

static double probe_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int probe_max_threads(void) {
#ifdef PROBE_HAS_OMP_H
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Defeats constant folding: the FMA operands come from here, and every result is stored here. */
static volatile float probe_scale = 0.999999f;
static volatile float probe_offset = 1e-6f;
static volatile float probe_sink;
static volatile double probe_sink_d;

/* ---- peak fp32 FMA rate ------------------------------------------------------------------- */

/* One FMA kernel per vector width. Each runs `iterations` rounds of FMA_ACCUMULATORS independent
 * acc = acc * x + y chains (the values converge to y / (1 - x), never denormal) and returns the
 * FLOPs done. The accumulators live in registers; their sum is stored to a volatile at the end. */

#define FMA_BODY(VT, SET1, FMA, ADD, LANES, REDUCE)                                                          \
    VT x = SET1(probe_scale), y = SET1(probe_offset);                                                      \
    VT c0 = SET1(0.0f), c1 = SET1(0.1f), c2 = SET1(0.2f), c3 = SET1(0.3f), c4 = SET1(0.4f), c5 = SET1(0.5f);  \
    VT c6 = SET1(0.6f), c7 = SET1(0.7f), c8 = SET1(0.8f), c9 = SET1(0.9f), c10 = SET1(1.0f), c11 = SET1(1.1f); \
    for (long i = 0; i < iterations; i++) {                                                                \
        c0 = FMA(c0, x, y);                                                                                \
        c1 = FMA(c1, x, y);                                                                                \
        c2 = FMA(c2, x, y);                                                                                \
        c3 = FMA(c3, x, y);                                                                                \
        c4 = FMA(c4, x, y);                                                                                \
        c5 = FMA(c5, x, y);                                                                                \
        c6 = FMA(c6, x, y);                                                                                \
        c7 = FMA(c7, x, y);                                                                                \
        c8 = FMA(c8, x, y);                                                                                \
        c9 = FMA(c9, x, y);                                                                                \
        c10 = FMA(c10, x, y);                                                                              \
        c11 = FMA(c11, x, y);                                                                              \
        __asm__ volatile("" ::: "memory"); /* keeps the loop a loop of FMAs, not of something cleverer */  \
    }                                                                                                      \
    VT s = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));                              \
    s = ADD(s, ADD(ADD(c8, c9), ADD(c10, c11)));                                                           \
    probe_sink = REDUCE(s);                                                                                \
    return 2.0 * FMA_ACCUMULATORS * (LANES) * (double)iterations;

typedef double (*fma_kernel)(long iterations);

#if defined(__AVX512F__)
static float probe_reduce512(__m512 v) { return _mm512_reduce_add_ps(v); }
static double probe_fma512(long iterations) {
    FMA_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16, probe_reduce512)
}
#endif

#if defined(__AVX__) && defined(__FMA__)
static float probe_reduce256(__m256 v) {
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}
static double probe_fma256(long iterations) {
    FMA_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8, probe_reduce256)
}
#endif

/* Portable fallback: GCC vector extensions (the compiler contracts a * b + c into FMA where it can). */
#if defined(__AVX__)
#define PROBE_GENERIC_BYTES 32
#else
#define PROBE_GENERIC_BYTES 16
#endif
typedef float probe_vf __attribute__((vector_size(PROBE_GENERIC_BYTES)));
#define PROBE_GENERIC_LANES (PROBE_GENERIC_BYTES / 4)
static probe_vf probe_generic_set1(float v) { return (probe_vf){0} + v; }
static probe_vf probe_generic_fma(probe_vf a, probe_vf b, probe_vf c) { return a * b + c; }
static probe_vf probe_generic_add(probe_vf a, probe_vf b) { return a + b; }
static float probe_generic_reduce(probe_vf v) {
    float s = 0.0f;
    for (int i = 0; i < PROBE_GENERIC_LANES; i++) s += v[i];
    return s;
}
static double probe_fma_generic(long iterations) {
    FMA_BODY(probe_vf, probe_generic_set1, probe_generic_fma, probe_generic_add, PROBE_GENERIC_LANES,
             probe_generic_reduce)
}

/* Rounds per trial so that one trial on one thread lasts about FMA_TRIAL_SECONDS. */
static long probe_calibrate(fma_kernel kernel) {
    long iterations = 1 << 16;
    for (;;) {
        double t0 = probe_now();
        kernel(iterations);
        double elapsed = probe_now() - t0;
        if (elapsed > FMA_TRIAL_SECONDS / 8 || iterations > (1L << 40)) {
            double scaled = (double)iterations * FMA_TRIAL_SECONDS / (elapsed > 1e-9 ? elapsed : 1e-9);
            return scaled < 1024 ? 1024 : (long)scaled;
        }
        iterations *= 4;
    }
}

/* Best GFLOP/s of FMA_TRIALS trials on `threads` threads (all starting together). */
static double probe_fma_rate(fma_kernel kernel, long iterations, int threads) {
    double best = 0.0;
    for (int trial = 0; trial < FMA_TRIALS; trial++) {
        double flops = 0.0, t0 = 0.0, t1 = 0.0;
        if (threads <= 1) {
            t0 = probe_now();
            flops = kernel(iterations);
            t1 = probe_now();
        } else {
#pragma omp parallel num_threads(threads) reduction(+ : flops)
            {
#pragma omp barrier
#pragma omp master
                t0 = probe_now();
                flops = kernel(iterations);
            }
            t1 = probe_now();
        }
        double rate = flops / (t1 - t0) * 1e-9;
        if (rate > best) best = rate;
    }
    return best;
}

static void probe_peak(int threads, double *one, double *all) {
    fma_kernel kernels[3];
    int count = 0;
#if defined(__AVX512F__)
    kernels[count++] = probe_fma512;
#endif
#if defined(__AVX__) && defined(__FMA__)
    kernels[count++] = probe_fma256;
#endif
    if (count == 0) kernels[count++] = probe_fma_generic;
    *one = 0.0;
    *all = 0.0;
    /* Every width the build can use, keeping the best: some cores run 512-bit FMAs at half rate. */
    for (int i = 0; i < count; i++) {
        long iterations = probe_calibrate(kernels[i]);
        double r1 = probe_fma_rate(kernels[i], iterations, 1);
        double ra = threads > 1 ? probe_fma_rate(kernels[i], iterations, threads) : r1;
        if (r1 > *one) *one = r1;
        if (ra > *all) *all = ra;
    }
}

/* ---- memory bandwidth: STREAM triad ------------------------------------------------------- */

static double probe_triad_once(double *restrict a, const double *restrict b, const double *restrict c, size_t n,
                               int threads) {
    const double s = 3.0;
    double t0 = probe_now();
    if (threads <= 1) {
        for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
    } else {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
    }
    double elapsed = probe_now() - t0;
    probe_sink_d = a[n / 2] + a[n - 1]; /* keeps the stores */
    return elapsed;
}

/* Best GB/s of TRIAD_TRIALS trials, counting 2 arrays read and 1 written (24 bytes an element). */
static double probe_triad(double *a, double *b, double *c, size_t n, int threads) {
    double best = 0.0;
    probe_triad_once(a, b, c, n, threads); /* warm-up */
    for (int trial = 0; trial < TRIAD_TRIALS; trial++) {
        double elapsed = probe_triad_once(a, b, c, n, threads);
        double rate = 3.0 * sizeof(double) * (double)n / elapsed * 1e-9;
        if (rate > best) best = rate;
    }
    return best;
}

static void probe_bandwidth(int threads, double *one, double *all) {
    size_t n = TRIAD_ELEMENTS;
    double *a = NULL, *b = NULL, *c = NULL;
    *one = 0.0;
    *all = 0.0;
    if (posix_memalign((void **)&a, 64, n * sizeof(double)) != 0) a = NULL;
    if (posix_memalign((void **)&b, 64, n * sizeof(double)) != 0) b = NULL;
    if (posix_memalign((void **)&c, 64, n * sizeof(double)) != 0) c = NULL;
    if (a != NULL && b != NULL && c != NULL) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; i++) {
            a[i] = 0.0;
            b[i] = 1.0;
            c[i] = 2.0;
        }
        *one = probe_triad(a, b, c, n, 1);
        *all = threads > 1 ? probe_triad(a, b, c, n, threads) : *one;
    }
    free(a);
    free(b);
    free(c);
}

/* ---- caches and model ----------------------------------------------------------------------- */

/* Reads the first line of a file into `out` without its newline; returns 0 when it cannot. */
static int probe_read_line(const char *path, char *out, size_t size) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    int ok = fgets(out, (int)size, f) != NULL;
    fclose(f);
    if (!ok) return 0;
    out[strcspn(out, "\r\n")] = '\0';
    return 1;
}

/* "32K", "1024K", "32M", "1G" or plain bytes; 0 when it cannot be read. */
static long long probe_parse_size(const char *text) {
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    if (end == text || value < 0) return 0;
    switch (*end) {
    case 'K': case 'k': return value << 10;
    case 'M': case 'm': return value << 20;
    case 'G': case 'g': return value << 30;
    default: return value;
    }
}

static void probe_caches(long long *l1d, long long *l2, long long *l3) {
    *l1d = *l2 = *l3 = 0;
    for (int index = 0; index < 16; index++) {
        char path[128], level[32], type[32], size[32];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", index);
        if (!probe_read_line(path, level, sizeof level)) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", index);
        if (!probe_read_line(path, type, sizeof type)) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        if (!probe_read_line(path, size, sizeof size)) continue;
        if (strcmp(type, "Instruction") == 0) continue;
        long long bytes = probe_parse_size(size);
        switch (atoi(level)) {
        case 1: if (strcmp(type, "Data") == 0 || *l1d == 0) *l1d = bytes; break;
        case 2: *l2 = bytes; break;
        case 3: *l3 = bytes; break;
        default: break;
        }
    }
}

static void probe_cpu_model(char *out, size_t size) {
    out[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL) return;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *colon = strchr(line, ':');
        if (colon == NULL) continue;
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t') value++;
        value[strcspn(value, "\r\n")] = '\0';
        snprintf(out, size, "%s", value);
        break;
    }
    fclose(f);
}

/* Writes `text` as a JSON string, quotes included. */
static void probe_print_json_string(const char *text) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        switch (*p) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\b': fputs("\\b", stdout); break;
        case '\f': fputs("\\f", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (*p < 0x20 || *p == 0x7f) printf("\\u%04x", *p);
            else putchar(*p);
        }
    }
    putchar('"');
}

/* The highest clock this machine reports, MHz, and where it came from. */
static double probe_clock(const char **source) {
    double best = 0.0;
    *source = "unknown";
    for (int cpu = 0; cpu < 4096; cpu++) {
        char path[128], line[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cpufreq/cpuinfo_max_freq", cpu);
        if (!probe_read_line(path, line, sizeof line)) {
            if (cpu >= 64) break; /* CPUs may be numbered with gaps; give up after the first 64 */
            continue;
        }
        double mhz = strtod(line, NULL) / 1000.0; /* kHz */
        if (mhz > best) {
            best = mhz;
            *source = "cpufreq cpuinfo_max_freq";
        }
    }
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "cpu MHz", 7) != 0) continue;
            char *colon = strchr(line, ':');
            if (colon == NULL) continue;
            double mhz = strtod(colon + 1, NULL);
            if (mhz > best) {
                best = mhz;
                *source = "/proc/cpuinfo cpu MHz";
            }
        }
        fclose(f);
    }
    return best;
}

static int probe_fp32_lanes(void) {
#if defined(__AVX512F__)
    return 16;
#elif defined(__AVX__)
    return 8;
#elif defined(__SSE__) || defined(__SSE2__) || defined(__ARM_NEON)
    return 4;
#else
    return 1;
#endif
}

static const char *probe_simd(void) {
#if defined(__AVX512F__)
    return "avx512";
#elif defined(__AVX2__)
    return "avx2";
#elif defined(__SSE__) || defined(__SSE2__)
    return "sse";
#else
    return "scalar";
#endif
}

int main(void) {
    int threads = probe_max_threads();
    if (threads < 1) threads = 1;
    double peak_1, peak_all, bw_1, bw_all;
    probe_peak(threads, &peak_1, &peak_all);
    const char *clock_source = "unknown";
    double clock_mhz = probe_clock(&clock_source);
    probe_bandwidth(threads, &bw_1, &bw_all);
    long long l1d, l2, l3;
    probe_caches(&l1d, &l2, &l3);
    char model[256];
    probe_cpu_model(model, sizeof model);

    printf("{\"peak_gflops_1\": %.1f, \"peak_gflops_all\": %.1f, \"threads\": %d, "
           "\"bandwidth_gbs_1\": %.1f, \"bandwidth_gbs_all\": %.1f, "
           "\"l1d_bytes\": %lld, \"l2_bytes\": %lld, \"l3_bytes\": %lld, \"cpu_model\": ",
           peak_1, peak_all, threads, bw_1, bw_all, l1d, l2, l3);
    probe_print_json_string(model);
    printf(", \"simd\": \"%s\", \"fp32_lanes\": %d, \"clock_mhz\": %.1f, \"clock_source\": \"%s\"}\n", probe_simd(),
           probe_fp32_lanes(), clock_mhz, clock_source);
    return 0;
}
