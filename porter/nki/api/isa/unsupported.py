"""NKI APIs the CPU simulator does not model: they raise NkiSimulatorUnsupported."""

from __future__ import annotations

from typing import Any

from porter.nki.errors import unsupported


def _make(name: str, why: str):
    def fn(*args: Any, **kwargs: Any) -> None:
        raise unsupported(f"nki.isa.{name}", why)

    fn.__name__ = fn.__qualname__ = name
    return fn


nc_matmul_mx = _make("nc_matmul_mx", "MX (microscaling) formats are not simulated")
quantize_mx = _make("quantize_mx", "MX (microscaling) formats are not simulated")
sendrecv = _make("sendrecv", "inter-core communication (LNC2) is not simulated")
core_barrier = _make("core_barrier", "inter-core synchronisation (LNC2) is not simulated")
set_rng_seed = _make("set_rng_seed", "engine RNG state is not modelled; set PORTER_NKI_SEED instead")
rand_set_state = _make("rand_set_state", "engine RNG state is not modelled; set PORTER_NKI_SEED instead")
rand_get_state = _make("rand_get_state", "engine RNG state is not modelled")
topk = _make("topk", "use max8 / nc_find_index8 / nc_match_replace8")
