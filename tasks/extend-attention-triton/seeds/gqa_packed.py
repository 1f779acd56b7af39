"""A seed design for extend-attention-triton: one program per (sequence, query-token block, kv head), holding
every query head of that kv head's group.

The baseline's programs each hold one query head, so a group of G query heads reads the same prefix keys and
values from the pool G times. Here the rows of a program are (token, head-in-group) pairs: BLOCK_R rows hold
BLOCK_R // GROUP_PAD tokens times the group padded to a power of two, so each K/V block gathered through
kv_indices serves the whole group (G times less pool traffic: what decode-like and long-prefix shapes are bound
by), and the causal mask is taken per row from its token. The online softmax is the baseline's (base-2 scores,
float32 running maximum and sum, one normalisation at the end). Block sizes, warps and software-pipelining
stages are tunables.
"""

# kiln:tunable BLOCK_R 64 16 32 128
# kiln:tunable BLOCK_N 64 32 128
# kiln:tunable NUM_WARPS 4 8
# kiln:tunable NUM_STAGES 2 1 3

import triton
import triton.language as tl

LOG2E = tl.constexpr(1.4426950408889634)  # kernels may read only constexpr globals


@triton.jit
def _softcap(qk, sm_scale, logit_cap, HAS_CAP: tl.constexpr):
    """Scores in base 2 (times log2 e), after the tanh cap when there is one."""
    if HAS_CAP:
        s = qk * sm_scale
        s = logit_cap * (1.0 - 2.0 / (tl.exp(2.0 * s / logit_cap) + 1.0))
        return s * LOG2E
    else:
        return qk * (sm_scale * LOG2E)


@triton.jit
def _extend_attention_gqa_packed(
    q_ptr, k_ptr, v_ptr, o_ptr, kb_ptr, vb_ptr,
    qo_indptr, kv_indptr, kv_indices,
    sm_scale, logit_cap, group, head_dim, blocks_per_seq,
    stride_qt, stride_qh, stride_kt, stride_kh, stride_bt, stride_bh, stride_ot, stride_oh,
    BLOCK_T: tl.constexpr, GROUP_PAD: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    HAS_CAP: tl.constexpr, PRECISION: tl.constexpr,
):
    BLOCK_R: tl.constexpr = BLOCK_T * GROUP_PAD
    pid = tl.program_id(0)
    kv_head = tl.program_id(1)
    seq = pid // blocks_per_seq
    block = pid % blocks_per_seq

    q_start = tl.load(qo_indptr + seq)
    extend_len = tl.load(qo_indptr + seq + 1) - q_start
    if block * BLOCK_T >= extend_len:
        return
    p_start = tl.load(kv_indptr + seq)
    prefix_len = tl.load(kv_indptr + seq + 1) - p_start

    rows = tl.arange(0, BLOCK_R)
    token = block * BLOCK_T + rows // GROUP_PAD          # within the sequence
    head = kv_head * group + rows % GROUP_PAD
    row_ok = (token < extend_len) & (rows % GROUP_PAD < group)
    offs_d = tl.arange(0, BLOCK_D)
    mask_d = offs_d < head_dim
    q_rows = (q_start + token).to(tl.int64) * stride_qt + head * stride_qh
    q = tl.load(q_ptr + q_rows[:, None] + offs_d[None, :], mask=row_ok[:, None] & mask_d[None, :], other=0.0)

    m_i = tl.full([BLOCK_R], -1.0e30, dtype=tl.float32)
    l_i = tl.zeros([BLOCK_R], dtype=tl.float32)
    acc = tl.zeros([BLOCK_R, BLOCK_D], dtype=tl.float32)

    # The prefix, gathered from the pool once for the whole group.
    for start in range(0, prefix_len, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        mask_n = offs_n < prefix_len
        slots = tl.load(kv_indices + p_start + offs_n, mask=mask_n, other=0).to(tl.int64)
        kv_rows = slots * stride_bt + kv_head * stride_bh
        k = tl.load(kb_ptr + kv_rows[None, :] + offs_d[:, None], mask=mask_n[None, :] & mask_d[:, None], other=0.0)
        qk = _softcap(tl.dot(q, k, input_precision=PRECISION), sm_scale, logit_cap, HAS_CAP)
        qk = tl.where(mask_n[None, :], qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(qk - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(vb_ptr + kv_rows[:, None] + offs_d[None, :], mask=mask_n[:, None] & mask_d[None, :], other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new

    # The extend part, causal per row, up to the block's last token.
    end = tl.minimum((block + 1) * BLOCK_T, extend_len)
    for start in range(0, end, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        mask_n = offs_n < extend_len
        kv_rows = (q_start + offs_n).to(tl.int64) * stride_kt + kv_head * stride_kh
        k = tl.load(k_ptr + kv_rows[None, :] + offs_d[:, None], mask=mask_n[None, :] & mask_d[:, None], other=0.0)
        qk = _softcap(tl.dot(q, k, input_precision=PRECISION), sm_scale, logit_cap, HAS_CAP)
        qk = tl.where(mask_n[None, :] & (token[:, None] >= offs_n[None, :]), qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(qk - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_ptr + kv_rows[:, None] + offs_d[None, :], mask=mask_n[:, None] & mask_d[None, :], other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new

    out = acc / l_i[:, None]
    o_rows = (q_start + token).to(tl.int64) * stride_ot + head * stride_oh
    tl.store(o_ptr + o_rows[:, None] + offs_d[None, :], out.to(o_ptr.dtype.element_ty),
             mask=row_ok[:, None] & mask_d[None, :])


def extend_attention(q_extend, k_extend, v_extend, o_extend, k_buffer, v_buffer, qo_indptr, kv_indptr, kv_indices,
                     sm_scale, logit_cap):
    total_extend, num_q_heads, head_dim = q_extend.shape
    num_kv_heads = k_extend.shape[1]
    batch = qo_indptr.shape[0] - 1
    group = num_q_heads // num_kv_heads
    group_pad = triton.next_power_of_2(group)
    block_t = max(1, BLOCK_R // group_pad)
    if block_t * group_pad < 16:  # tl.dot needs 16 rows
        block_t = 16 // group_pad
    block_d = max(16, triton.next_power_of_2(head_dim))
    blocks_per_seq = triton.cdiv(total_extend, block_t)
    grid = (batch * blocks_per_seq, num_kv_heads)
    _extend_attention_gqa_packed[grid](
        q_extend, k_extend, v_extend, o_extend, k_buffer, v_buffer,
        qo_indptr, kv_indptr, kv_indices,
        sm_scale, logit_cap, group, head_dim, blocks_per_seq,
        q_extend.stride(0), q_extend.stride(1), k_extend.stride(0), k_extend.stride(1),
        k_buffer.stride(0), k_buffer.stride(1), o_extend.stride(0), o_extend.stride(1),
        BLOCK_T=block_t, GROUP_PAD=group_pad, BLOCK_N=BLOCK_N, BLOCK_D=block_d,
        HAS_CAP=logit_cap > 0, PRECISION="ieee" if q_extend.dtype.itemsize == 4 else "tf32",
        num_warps=NUM_WARPS, num_stages=NUM_STAGES,
    )
