"""Simulated `nki.isa`: every instruction writes into `dst` (first argument), returns None."""

from porter.nki.api.isa.device_scalar import scalar_load, scalar_store  # noqa: F401
from porter.nki.api.isa.enums import (  # noqa: F401
    VirtualRegister,
    dge_mode,
    dma_engine,
    engine,
    get_nc_version,
    gpsimd_engine,
    matmul_perf_mode,
    nc_version,
    oob_mode,
    reduce_cmd,
    register_alloc,
    register_load,
    register_move,
    register_store,
    scalar_engine,
    tensor_engine,
    unknown_engine,
    vector_engine,
)
from porter.nki.api.isa.movement import (  # noqa: F401
    dma_compute,
    dma_copy,
    dma_transpose,
    iota,
    local_gather,
    memset,
    nc_n_gather,
    nc_stream_shuffle,
    nonzero_with_count,
    sequence_bounds,
    tensor_copy,
)
from porter.nki.api.isa.reduce import (  # noqa: F401
    bn_aggr,
    bn_stats,
    max8,
    nc_find_index8,
    nc_match_replace8,
    tensor_partition_reduce,
    tensor_reduce,
    tensor_scalar_cumulative,
    tensor_scalar_reduce,
    tensor_tensor_scan,
)
from porter.nki.api.isa.scalar import activate2, activation, activation_reduce, exponential  # noqa: F401
from porter.nki.api.isa.select import (  # noqa: F401
    affine_select,
    dropout,
    rand2,
    range_select,
    rng,
    select_reduce,
    tensor_copy_predicated,
)
from porter.nki.api.isa.tensor_engine import nc_matmul, nc_transpose  # noqa: F401
from porter.nki.api.isa.unsupported import (  # noqa: F401
    core_barrier,
    nc_matmul_mx,
    quantize_mx,
    rand_get_state,
    rand_set_state,
    sendrecv,
    set_rng_seed,
    topk,
)
from porter.nki.api.isa.vector import reciprocal, scalar_tensor_tensor, tensor_scalar, tensor_tensor  # noqa: F401
from porter.nki.errors import NkiValidationError  # noqa: F401
from porter.nki.scalar import NkiScalar  # noqa: F401
