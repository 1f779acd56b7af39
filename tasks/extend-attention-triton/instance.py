"""The extend-attention-triton task's instance file: builds one batch of extend attention from a shape and a seed.

Shape parameters: dtype (float16, bfloat16 or float32), batch, prefix (list of batch ints), extend (list of
batch ints), q_heads, kv_heads, head_dim, logit_cap (float, 0 for none).

The inputs are those of tasks/extend-attention/instance.c, made with torch's CPU generator, so that every part
of the semantics changes the answer well beyond the tolerance:
- q and k are normal with deviation 2, so with sm_scale = 1/sqrt(head_dim) the scores have a deviation of about
  4, and one (token, kv head) key in 32 is an "outlier" scaled by 3 more (scores of deviation about 12): a logit
  cap bites hard on those, and measurably on all the others;
- the KV pool has more slots than the prefixes use; prefixes get their slots through a random permutation of
  the pool, and every unused slot holds uniform garbage in +-1000, so a kernel that reads a slot it was not given
  (or assumes slots are contiguous) produces garbage;
- every query head of a group sees different queries, so a wrong GQA mapping changes the answer, and extend keys
  are as strong as prefix keys, so ignoring causality changes it too.
Values are drawn in float32 and rounded to the shape's dtype; the oracle works from the rounded inputs.
"""

import math

import torch

MAX_BATCH = 65536
MAX_LENGTH = 1 << 22          # per sequence, prefix or extend
MAX_HEADS = 1024
MAX_HEAD_DIM = 4096
MAX_ELEMENTS = 1 << 28        # per buffer
Q_SCALE = 2.0
K_SCALE = 2.0
V_SCALE = 1.0
OUTLIER_EVERY = 32            # one (token, kv head) key in this many is an outlier
OUTLIER_SCALE = 3.0
GARBAGE = 1000.0
DTYPES = ("float16", "bfloat16", "float32")


def _keys(g, tokens, kv_heads, head_dim):
    """Normal keys of deviation K_SCALE, one (token, head) row in OUTLIER_EVERY scaled by OUTLIER_SCALE."""
    keys = torch.randn(tokens, kv_heads, head_dim, generator=g) * K_SCALE
    outliers = torch.randint(0, OUTLIER_EVERY, (tokens, kv_heads), generator=g) == 0
    return keys * torch.where(outliers, OUTLIER_SCALE, 1.0)[:, :, None]


def setup(shape, seed, problem):
    name = shape.name
    dtype_name = shape.str("dtype")
    if dtype_name not in DTYPES:
        problem.fail(f"extend-attention shape '{name}': dtype = {dtype_name} must be one of {', '.join(DTYPES)}")
    dtype = shape.dtype("dtype")
    batch = shape.int("batch", 1, MAX_BATCH)
    q_heads = shape.int("q_heads", 1, MAX_HEADS)
    kv_heads = shape.int("kv_heads", 1, MAX_HEADS)
    head_dim = shape.int("head_dim", 1, MAX_HEAD_DIM)
    if q_heads % kv_heads:
        problem.fail(f"extend-attention shape '{name}': q_heads = {q_heads} is not a multiple of kv_heads = {kv_heads}")
    cap = shape.float("logit_cap")
    if not math.isfinite(cap) or cap < 0:
        problem.fail(f"extend-attention shape '{name}': logit_cap = {cap} must be finite and >= 0 (0 for no cap)")
    prefix = shape.ints("prefix", batch, 0, MAX_LENGTH)
    extend = shape.ints("extend", batch, 1, MAX_LENGTH)
    total_prefix, total_extend = sum(prefix), sum(extend)
    pool = total_prefix + total_prefix // 4 + 17  # more slots than the prefixes use
    if pool > 2**31 - 1:
        problem.fail(f"extend-attention shape '{name}': the KV pool of {pool} slots overflows int32")
    for what, elements in (("q_extend / o_extend", total_extend * q_heads * head_dim),
                           ("k_extend / v_extend", total_extend * kv_heads * head_dim),
                           ("k_buffer / v_buffer", pool * kv_heads * head_dim)):
        if elements > MAX_ELEMENTS:
            problem.fail(f"extend-attention shape '{name}': {what} would hold {elements} elements, more than the "
                         f"limit of {MAX_ELEMENTS}")

    g = problem.generator(seed)
    q_extend = torch.randn(total_extend, q_heads, head_dim, generator=g) * Q_SCALE
    k_extend = _keys(g, total_extend, kv_heads, head_dim)
    v_extend = torch.randn(total_extend, kv_heads, head_dim, generator=g) * V_SCALE

    # The prefixes' slots: the first total_prefix entries of a random permutation of the pool; the rest is garbage.
    permutation = torch.randperm(pool, generator=g)
    used = permutation[:total_prefix]
    k_buffer = (torch.rand(pool, kv_heads, head_dim, generator=g) * 2 - 1) * GARBAGE
    v_buffer = (torch.rand(pool, kv_heads, head_dim, generator=g) * 2 - 1) * GARBAGE
    k_buffer[used] = _keys(g, total_prefix, kv_heads, head_dim)
    v_buffer[used] = torch.randn(total_prefix, kv_heads, head_dim, generator=g) * V_SCALE
    kv_indices = used.to(torch.int32) if total_prefix else torch.zeros(1, dtype=torch.int32)
    qo_indptr = torch.tensor([0] + extend, dtype=torch.int64).cumsum(0).to(torch.int32)
    kv_indptr = torch.tensor([0] + prefix, dtype=torch.int64).cumsum(0).to(torch.int32)

    q = problem.input("q_extend", q_extend.to(dtype))
    k = problem.input("k_extend", k_extend.to(dtype))
    v = problem.input("v_extend", v_extend.to(dtype))
    o = problem.output("o_extend", (total_extend, q_heads, head_dim), dtype)
    kb = problem.input("k_buffer", k_buffer.to(dtype))
    vb = problem.input("v_buffer", v_buffer.to(dtype))
    qo = problem.input("qo_indptr", qo_indptr)
    kvp = problem.input("kv_indptr", kv_indptr)
    kvi = problem.input("kv_indices", kv_indices)

    # Work: QK^T and PV, 2 FLOPs per multiply-add each, over every (query head, key) pair attended.
    # Bytes: every input read once (only the pool rows the prefixes use), the output written once.
    rows_attended = sum(e * p + e * (e + 1) / 2 for p, e in zip(prefix, extend))
    size = torch.empty((), dtype=dtype).element_size()
    flops = 4.0 * head_dim * q_heads * rows_attended
    traffic = (size * (2.0 * total_extend * q_heads * head_dim + 2.0 * total_extend * kv_heads * head_dim
                       + 2.0 * total_prefix * kv_heads * head_dim)
               + 4.0 * (2.0 * (batch + 1) + total_prefix))
    problem.work(flops=flops, bytes=traffic)
    problem.arguments(q, k, v, o, kb, vb, qo, kvp, kvi, 1.0 / math.sqrt(head_dim), cap)
