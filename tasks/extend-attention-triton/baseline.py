"""The extend-attention-triton baseline: SGLang's published two-stage algorithm, written for Kiln.

One program per (sequence, query head, block of BLOCK_M extend queries). Stage 1 runs the block against the
sequence's prefix, BLOCK_N keys at a time gathered from the KV pool through kv_indices; stage 2 runs it against
the sequence's own extend keys up to the block's last query, with the causal mask. One online softmax (running
maximum and sum in float32) spans both stages, and the output is normalised once at the end. The grid has
cdiv(total_extend, BLOCK_M) query blocks per sequence (the longest sequence is not known without reading
qo_indptr on the host); blocks past a sequence's end return at once.

Block sizes follow what the algorithm's authors use on recent GPUs (64 x 64 for 16-bit inputs, smaller for fp32,
whose products are exact IEEE ones here, not TF32), fixed: the baseline is what speedups are measured against.
"""

import triton
import triton.language as tl

LOG2E = tl.constexpr(1.4426950408889634)  # kernels may read only constexpr globals


@triton.jit
def _extend_attention_two_stage(
    q_ptr, k_ptr, v_ptr, o_ptr, kb_ptr, vb_ptr,
    qo_indptr, kv_indptr, kv_indices,
    sm_scale, logit_cap, group, head_dim,
    stride_qt, stride_qh, stride_kt, stride_kh, stride_bt, stride_bh, stride_ot, stride_oh,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    HAS_CAP: tl.constexpr, PRECISION: tl.constexpr,
):
    seq = tl.program_id(0)
    head = tl.program_id(1)
    block = tl.program_id(2)
    kv_head = head // group

    q_start = tl.load(qo_indptr + seq)
    extend_len = tl.load(qo_indptr + seq + 1) - q_start
    if block * BLOCK_M >= extend_len:
        return
    p_start = tl.load(kv_indptr + seq)
    prefix_len = tl.load(kv_indptr + seq + 1) - p_start

    offs_m = block * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    mask_m = offs_m < extend_len
    mask_d = offs_d < head_dim
    q = tl.load(q_ptr + (q_start + offs_m)[:, None] * stride_qt + head * stride_qh + offs_d[None, :],
                mask=mask_m[:, None] & mask_d[None, :], other=0.0)

    m_i = tl.full([BLOCK_M], -1.0e30, dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
    scale = sm_scale * LOG2E  # scores in base 2: exp(x) = exp2(x * log2 e)

    # Stage 1: the prefix, from the KV pool.
    for start in range(0, prefix_len, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        mask_n = offs_n < prefix_len
        slots = tl.load(kv_indices + p_start + offs_n, mask=mask_n, other=0).to(tl.int64)
        k = tl.load(kb_ptr + slots[None, :] * stride_bt + kv_head * stride_bh + offs_d[:, None],
                    mask=mask_n[None, :] & mask_d[:, None], other=0.0)
        qk = tl.dot(q, k, input_precision=PRECISION)
        if HAS_CAP:
            qk = qk * sm_scale
            qk = logit_cap * (1.0 - 2.0 / (tl.exp(2.0 * qk / logit_cap) + 1.0))  # logit_cap * tanh(qk / logit_cap)
            qk = qk * LOG2E
        else:
            qk = qk * scale
        qk = tl.where(mask_n[None, :], qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(qk - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(vb_ptr + slots[:, None] * stride_bt + kv_head * stride_bh + offs_d[None, :],
                    mask=mask_n[:, None] & mask_d[None, :], other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new

    # Stage 2: the extend part, causal, up to the block's last query.
    end = tl.minimum((block + 1) * BLOCK_M, extend_len)
    for start in range(0, end, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        mask_n = offs_n < extend_len
        k = tl.load(k_ptr + (q_start + offs_n)[None, :] * stride_kt + kv_head * stride_kh + offs_d[:, None],
                    mask=mask_n[None, :] & mask_d[:, None], other=0.0)
        qk = tl.dot(q, k, input_precision=PRECISION)
        if HAS_CAP:
            qk = qk * sm_scale
            qk = logit_cap * (1.0 - 2.0 / (tl.exp(2.0 * qk / logit_cap) + 1.0))
            qk = qk * LOG2E
        else:
            qk = qk * scale
        visible = mask_n[None, :] & (offs_m[:, None] >= offs_n[None, :])
        qk = tl.where(visible, qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(qk - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_ptr + (q_start + offs_n)[:, None] * stride_kt + kv_head * stride_kh + offs_d[None, :],
                    mask=mask_n[:, None] & mask_d[None, :], other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new

    out = acc / l_i[:, None]
    tl.store(o_ptr + (q_start + offs_m)[:, None] * stride_ot + head * stride_oh + offs_d[None, :],
             out.to(o_ptr.dtype.element_ty), mask=mask_m[:, None] & mask_d[None, :])


def extend_attention(q_extend, k_extend, v_extend, o_extend, k_buffer, v_buffer, qo_indptr, kv_indptr, kv_indices,
                     sm_scale, logit_cap):
    total_extend, num_q_heads, head_dim = q_extend.shape
    num_kv_heads = k_extend.shape[1]
    batch = qo_indptr.shape[0] - 1
    block_d = max(16, triton.next_power_of_2(head_dim))
    is_fp32 = q_extend.dtype.itemsize == 4
    if is_fp32:
        block_m, block_n, num_warps = 32, 32, 4
    else:
        block_m, block_n, num_warps = 64, 64, (4 if block_d <= 64 else 8)
    grid = (batch, num_q_heads, triton.cdiv(total_extend, block_m))
    _extend_attention_two_stage[grid](
        q_extend, k_extend, v_extend, o_extend, k_buffer, v_buffer,
        qo_indptr, kv_indptr, kv_indices,
        sm_scale, logit_cap, num_q_heads // num_kv_heads, head_dim,
        q_extend.stride(0), q_extend.stride(1), k_extend.stride(0), k_extend.stride(1),
        k_buffer.stride(0), k_buffer.stride(1), o_extend.stride(0), o_extend.stride(1),
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d,
        HAS_CAP=logit_cap > 0, PRECISION="ieee" if is_fp32 else "tf32",
        num_warps=num_warps, num_stages=1,
    )
