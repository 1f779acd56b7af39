/* The extend-attention task's instance file: builds one batch of extend attention from a shape and a seed.
 *
 * Shape parameters: batch, prefix (list of batch ints), extend (list of batch ints), q_heads, kv_heads,
 * head_dim, logit_cap (float, 0 for none).
 *
 * The inputs are chosen so that every part of the semantics changes the answer well beyond the tolerance:
 * - q and k are normal with deviation 2, so with sm_scale = 1/sqrt(head_dim) the scores have a deviation
 *   of about 4, and one (token, kv head) key in 32 is an "outlier" scaled by 3 more (scores of deviation
 *   about 12): a logit cap of 30 bites hard on those, and measurably on all the others;
 * - the KV pool has more slots than the prefixes use; prefixes get their slots through a random
 *   permutation of the pool, and every unused slot holds uniform garbage in +-1000, so a kernel that reads
 *   a slot it was not given (or assumes slots are contiguous) produces garbage outputs;
 * - every query head of a group sees different queries, so a wrong GQA mapping changes the answer, and
 *   extend keys are as strong as prefix keys, so ignoring causality changes it too.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "extend_attention.h"
#include "kiln_task.h"

#define EA_MAX_BATCH 65536
#define EA_MAX_LENGTH (1LL << 22)      /* per sequence, prefix or extend */
#define EA_MAX_HEADS 1024
#define EA_MAX_HEAD_DIM 4096
#define EA_MAX_ELEMENTS (1LL << 28)    /* per buffer: 1 GiB of fp32 */
#define EA_Q_SCALE 2.0f
#define EA_K_SCALE 2.0f
#define EA_V_SCALE 1.0f
#define EA_OUTLIER_EVERY 32            /* one (token, kv head) key in this many is an outlier */
#define EA_OUTLIER_SCALE 3.0f
#define EA_GARBAGE 1000.0

typedef struct {
    const float *q_extend, *k_extend, *v_extend;
    float *o_extend;
    const float *k_buffer, *v_buffer;
    const int32_t *qo_indptr, *kv_indptr, *kv_indices;
    int32_t batch, q_heads, kv_heads, head_dim;
    float sm_scale, logit_cap;
} ea_state;

static long long ea_positive(const kiln_shape *shape, const char *key, long long max) {
    long long value = kiln_shape_int(shape, key);
    if (value < 1 || value > max)
        kiln_fail("extend-attention shape '%s': %s = %lld must be in 1..%lld", kiln_shape_name(shape), key, value,
                  max);
    return value;
}

/* Reads the list `key` into `out` (batch entries), each in min..max; returns their sum. */
static long long ea_list(const kiln_shape *shape, const char *key, long long *out, int batch, long long min,
                         long long max) {
    int count = kiln_shape_ints(shape, key, out, batch);
    if (count != batch)
        kiln_fail("extend-attention shape '%s': %s has %d entries but batch = %d (one per sequence)",
                  kiln_shape_name(shape), key, count, batch);
    long long sum = 0;
    for (int b = 0; b < batch; b++) {
        if (out[b] < min || out[b] > max)
            kiln_fail("extend-attention shape '%s': %s[%d] = %lld must be in %lld..%lld", kiln_shape_name(shape),
                      key, b, out[b], min, max);
        sum += out[b];
    }
    return sum;
}

static void ea_check_elements(const kiln_shape *shape, const char *buffer, long long elements) {
    if (elements > EA_MAX_ELEMENTS)
        kiln_fail("extend-attention shape '%s': %s would hold %lld elements, more than the limit of %lld",
                  kiln_shape_name(shape), buffer, elements, EA_MAX_ELEMENTS);
}

/* Fills `count` floats uniformly in [-EA_GARBAGE, EA_GARBAGE). */
static void ea_fill_garbage(kiln_rng *rng, float *out, size_t count) {
    for (size_t i = 0; i < count; i++) out[i] = (float)((2.0 * kiln_rng_uniform(rng) - 1.0) * EA_GARBAGE);
}

/* Fills `tokens` rows of [kv_heads][head_dim] keys: normal with deviation EA_K_SCALE, one (token, head) row
 * in EA_OUTLIER_EVERY scaled by EA_OUTLIER_SCALE. */
static void ea_fill_keys(kiln_rng *rng, float *out, size_t tokens, int kv_heads, int head_dim) {
    size_t rows = tokens * (size_t)kv_heads;
    kiln_fill_normal_f32(rng, out, rows * (size_t)head_dim, EA_K_SCALE);
    for (size_t r = 0; r < rows; r++) {
        if (kiln_rng_below(rng, EA_OUTLIER_EVERY) != 0) continue;
        float *row = out + r * (size_t)head_dim;
        for (int t = 0; t < head_dim; t++) row[t] *= EA_OUTLIER_SCALE;
    }
}

void kiln_task_setup(kiln_problem *problem, const kiln_shape *shape, uint64_t seed) {
    const char *name = kiln_shape_name(shape);
    int batch = (int)ea_positive(shape, "batch", EA_MAX_BATCH);
    int q_heads = (int)ea_positive(shape, "q_heads", EA_MAX_HEADS);
    int kv_heads = (int)ea_positive(shape, "kv_heads", EA_MAX_HEADS);
    int head_dim = (int)ea_positive(shape, "head_dim", EA_MAX_HEAD_DIM);
    if (q_heads % kv_heads != 0)
        kiln_fail("extend-attention shape '%s': q_heads = %d is not a multiple of kv_heads = %d", name, q_heads,
                  kv_heads);
    double cap = kiln_shape_float(shape, "logit_cap");
    if (!isfinite(cap) || cap < 0.0)
        kiln_fail("extend-attention shape '%s': logit_cap = %g must be finite and >= 0 (0 for no cap)", name, cap);

    long long *prefix = malloc((size_t)batch * sizeof *prefix);
    long long *extend = malloc((size_t)batch * sizeof *extend);
    if (prefix == NULL || extend == NULL) kiln_fail("extend-attention: out of memory for the shape lists");
    long long total_prefix = ea_list(shape, "prefix", prefix, batch, 0, EA_MAX_LENGTH);
    long long total_extend = ea_list(shape, "extend", extend, batch, 1, EA_MAX_LENGTH);
    long long pool = total_prefix + total_prefix / 4 + 17; /* more slots than the prefixes use */
    if (pool > INT32_MAX) kiln_fail("extend-attention shape '%s': the KV pool of %lld slots overflows int32", name, pool);
    ea_check_elements(shape, "q_extend / o_extend", total_extend * q_heads * head_dim);
    ea_check_elements(shape, "k_extend / v_extend", total_extend * kv_heads * head_dim);
    ea_check_elements(shape, "k_buffer / v_buffer", pool * kv_heads * head_dim);

    const size_t te = (size_t)total_extend, tp = (size_t)total_prefix, np = (size_t)pool;
    const size_t qrow = (size_t)q_heads * (size_t)head_dim, kvrow = (size_t)kv_heads * (size_t)head_dim;
    float *q_extend = kiln_buffer(problem, "q_extend", KILN_INPUT, KILN_F32, te * qrow);
    float *k_extend = kiln_buffer(problem, "k_extend", KILN_INPUT, KILN_F32, te * kvrow);
    float *v_extend = kiln_buffer(problem, "v_extend", KILN_INPUT, KILN_F32, te * kvrow);
    float *o_extend = kiln_buffer(problem, "o_extend", KILN_OUTPUT, KILN_F32, te * qrow);
    float *k_buffer = kiln_buffer(problem, "k_buffer", KILN_INPUT, KILN_F32, np * kvrow);
    float *v_buffer = kiln_buffer(problem, "v_buffer", KILN_INPUT, KILN_F32, np * kvrow);
    int32_t *qo_indptr = kiln_buffer(problem, "qo_indptr", KILN_INPUT, KILN_I32, (size_t)batch + 1);
    int32_t *kv_indptr = kiln_buffer(problem, "kv_indptr", KILN_INPUT, KILN_I32, (size_t)batch + 1);
    int32_t *kv_indices = kiln_buffer(problem, "kv_indices", KILN_INPUT, KILN_I32, tp > 0 ? tp : 1);
    kiln_buffer_axes(problem, o_extend, "token,head,dim", (size_t[]){te, (size_t)q_heads, (size_t)head_dim}, 3);

    qo_indptr[0] = 0;
    kv_indptr[0] = 0;
    double rows_attended = 0.0; /* sum over sequences and extend tokens of the keys each one sees */
    for (int b = 0; b < batch; b++) {
        qo_indptr[b + 1] = qo_indptr[b] + (int32_t)extend[b];
        kv_indptr[b + 1] = kv_indptr[b] + (int32_t)prefix[b];
        double e = (double)extend[b], p = (double)prefix[b];
        rows_attended += e * p + e * (e + 1.0) / 2.0;
    }
    free(prefix);
    free(extend);

    kiln_rng rng;
    kiln_rng_seed(&rng, seed);
    kiln_fill_normal_f32(&rng, q_extend, te * qrow, EA_Q_SCALE);
    ea_fill_keys(&rng, k_extend, te, kv_heads, head_dim);
    kiln_fill_normal_f32(&rng, v_extend, te * kvrow, EA_V_SCALE);

    /* The prefixes' slots: the first total_prefix entries of a random permutation of the pool. */
    int32_t *perm = malloc(np * sizeof *perm);
    unsigned char *used = calloc(np, 1);
    if (perm == NULL || used == NULL) kiln_fail("extend-attention: out of memory for the pool permutation");
    for (size_t s = 0; s < np; s++) perm[s] = (int32_t)s;
    for (size_t s = np - 1; s > 0; s--) {
        size_t r = (size_t)kiln_rng_below(&rng, (uint64_t)s + 1);
        int32_t t = perm[s];
        perm[s] = perm[r];
        perm[r] = t;
    }
    for (size_t j = 0; j < tp; j++) {
        kv_indices[j] = perm[j];
        used[perm[j]] = 1;
    }
    if (tp == 0) kv_indices[0] = 0;
    free(perm);

    for (size_t s = 0; s < np; s++) {
        float *k = k_buffer + s * kvrow, *v = v_buffer + s * kvrow;
        if (used[s]) {
            ea_fill_keys(&rng, k, 1, kv_heads, head_dim);
            kiln_fill_normal_f32(&rng, v, kvrow, EA_V_SCALE);
        } else {
            ea_fill_garbage(&rng, k, kvrow);
            ea_fill_garbage(&rng, v, kvrow);
        }
    }
    free(used);

    /* Work: QK^T and PV, 2 FLOPs per multiply-add each, over every (query head, key) pair attended.
     * Bytes: every input read once (only the pool rows the prefixes use), the output written once. */
    double flops = 4.0 * (double)head_dim * (double)q_heads * rows_attended;
    double bytes = 4.0 * ((double)te * (double)qrow * 2.0 + (double)te * (double)kvrow * 2.0 +
                          (double)tp * (double)kvrow * 2.0) +
                   4.0 * (2.0 * ((double)batch + 1.0) + (double)tp);
    kiln_set_work(problem, flops, bytes);

    ea_state *state = kiln_alloc(problem, sizeof *state);
    if (state == NULL) kiln_fail("extend-attention: out of memory for the instance state");
    *state = (ea_state){.q_extend = q_extend,
                        .k_extend = k_extend,
                        .v_extend = v_extend,
                        .o_extend = o_extend,
                        .k_buffer = k_buffer,
                        .v_buffer = v_buffer,
                        .qo_indptr = qo_indptr,
                        .kv_indptr = kv_indptr,
                        .kv_indices = kv_indices,
                        .batch = batch,
                        .q_heads = q_heads,
                        .kv_heads = kv_heads,
                        .head_dim = head_dim,
                        .sm_scale = (float)(1.0 / sqrt((double)head_dim)),
                        .logit_cap = (float)cap};
    kiln_set_state(problem, state);
}

void kiln_task_call(kiln_problem *problem) {
    const ea_state *s = kiln_state(problem);
    extend_attention(s->q_extend, s->k_extend, s->v_extend, s->o_extend, s->k_buffer, s->v_buffer, s->qo_indptr,
                     s->kv_indptr, s->kv_indices, s->batch, s->q_heads, s->kv_heads, s->head_dim, s->sm_scale,
                     s->logit_cap);
}

/* The state is kiln_alloc() memory, freed with the problem: nothing to do. */
void kiln_task_teardown(kiln_problem *problem) { (void)problem; }
