"""Simulated `nki.language` (NKI 0.6-0.8 API surface, executed with NumPy; see porter.nki.version)."""

from porter.nki.api.language._constants import *  # noqa: F403
from porter.nki.api.language._constants import tile_size  # noqa: F401
from porter.nki.api.language._control import *  # noqa: F403
from porter.nki.api.language._creation import *  # noqa: F403
from porter.nki.api.language._math import *  # noqa: F403
from porter.nki.api.language._math import abs  # noqa: F401
from porter.nki.api.language._movement import copy, gather_flattened, load, load_transpose2d, matmul, store, transpose  # noqa: F401
from porter.nki.api.language._reduce import (  # noqa: F401
    all,
    any,
    argmax,
    max,
    mean,
    min,
    prod,
    rms_norm,
    softmax,
    sum,
    var,
)
from porter.nki.nki_object import NKIObject  # noqa: F401
from porter.nki.tensor import MemoryRegion, NkiTensor, hbm, private_hbm, psum, sbuf, shared_hbm  # noqa: F401

ndarray_type = NkiTensor
tile = NkiTensor
