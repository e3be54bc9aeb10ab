"""Example kernels written exactly as for NKI 0.6 on Trainium (no simulator-specific code)."""

import nki
import nki.isa as nisa
import nki.language as nl


@nki.jit
def tiled_add_kernel(a_input, b_input):
    """c = a + b for [N*128, F] tensors, one 128-row tile at a time."""
    assert a_input.shape == b_input.shape
    rows, cols = a_input.shape
    c_output = nl.ndarray(a_input.shape, dtype=a_input.dtype, buffer=nl.shared_hbm)
    for i in range(rows // nl.tile_size.pmax):
        start = i * nl.tile_size.pmax
        end = start + nl.tile_size.pmax
        a_tile = nl.ndarray((nl.tile_size.pmax, cols), dtype=a_input.dtype, buffer=nl.sbuf)
        b_tile = nl.ndarray((nl.tile_size.pmax, cols), dtype=b_input.dtype, buffer=nl.sbuf)
        nisa.dma_copy(dst=a_tile, src=a_input[start:end, :])
        nisa.dma_copy(dst=b_tile, src=b_input[start:end, :])
        c_tile = nl.ndarray((nl.tile_size.pmax, cols), dtype=a_input.dtype, buffer=nl.sbuf)
        nisa.tensor_tensor(dst=c_tile, data1=a_tile, data2=b_tile, op=nl.add)
        nisa.dma_copy(dst=c_output[start:end, :], src=c_tile)
    return c_output


@nki.jit
def matmul_kernel(lhsT, rhs):
    """result = lhsT.T @ rhs with K tiled by 128 and accumulated in PSUM; M <= 128, N <= 512."""
    K, M = lhsT.shape
    K2, N = rhs.shape
    assert K == K2 and M <= nl.tile_size.gemm_stationary_fmax and N <= nl.tile_size.gemm_moving_fmax
    result = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.shared_hbm)
    res_psum = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.psum)
    for k in range(K // nl.tile_size.pmax):
        k0 = k * nl.tile_size.pmax
        lhsT_tile = nl.ndarray((nl.tile_size.pmax, M), dtype=lhsT.dtype, buffer=nl.sbuf)
        rhs_tile = nl.ndarray((nl.tile_size.pmax, N), dtype=rhs.dtype, buffer=nl.sbuf)
        nisa.dma_copy(dst=lhsT_tile, src=lhsT[k0 : k0 + nl.tile_size.pmax, :])
        nisa.dma_copy(dst=rhs_tile, src=rhs[k0 : k0 + nl.tile_size.pmax, :])
        nisa.nc_matmul(dst=res_psum, stationary=lhsT_tile, moving=rhs_tile)
    res_sbuf = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_copy(dst=res_sbuf, src=res_psum)
    nisa.dma_copy(dst=result, src=res_sbuf)
    return result


@nki.jit
def softmax_kernel(x):
    """Row softmax of a [P<=128, F] tensor with max subtraction, exp+sum on ScalarE, reciprocal."""
    P, F = x.shape
    out = nl.ndarray((P, F), dtype=x.dtype, buffer=nl.shared_hbm)
    x_tile = nl.ndarray((P, F), dtype=x.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=x_tile, src=x)
    row_max = nl.ndarray((P, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_reduce(dst=row_max, op=nl.maximum, data=x_tile, axis=1, negate=True)
    exps = nl.ndarray((P, F), dtype=nl.float32, buffer=nl.sbuf)
    row_sum = nl.ndarray((P, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.activation(
        dst=exps,
        op=nl.exp,
        data=x_tile,
        bias=row_max,
        reduce_op=nl.add,
        reduce_res=row_sum,
        reduce_cmd=nisa.reduce_cmd.reset_reduce,
    )
    inv_sum = nl.ndarray((P, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.reciprocal(dst=inv_sum, data=row_sum)
    probs = nl.ndarray((P, F), dtype=x.dtype, buffer=nl.sbuf)
    nisa.tensor_scalar(dst=probs, data=exps, op0=nl.multiply, operand0=inv_sum)
    nisa.dma_copy(dst=out, src=probs)
    return out


@nki.jit
def spmd_scale_kernel(x, scale):
    """Each SPMD instance scales its own 128-row block: launch as spmd_scale_kernel[n_blocks](x, s)."""
    pid = nl.program_id(0)
    P, F = nl.tile_size.pmax, x.shape[1]
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    tile = nl.ndarray((P, F), dtype=x.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=tile, src=x[pid * P : (pid + 1) * P, :])
    nisa.tensor_scalar(dst=tile, data=tile, op0=nl.multiply, operand0=scale)
    nisa.dma_copy(dst=out[pid * P : (pid + 1) * P, :], src=tile)
    return out


@nki.jit
def legacy_style_kernel(a, b):
    """The experimental nl wrappers: load, operators, matmul into PSUM, copy, store."""
    out = nl.ndarray((a.shape[1], b.shape[1]), dtype=nl.float32, buffer=nl.shared_hbm)
    a_tile = nl.load(a)
    b_tile = nl.load(b)
    prod = nl.matmul(a_tile, b_tile, transpose_x=True)
    scaled = nl.copy(prod, dtype=nl.float32) * 0.5 + 1.0
    nl.store(out, scaled)
    return out
