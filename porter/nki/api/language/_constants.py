"""dtype names, buffers and tile_size constants of nki.language."""

from __future__ import annotations

from porter.nki.platform import current_target, psum_banks_usable

bool_ = "bool"
int8 = "int8"
int16 = "int16"
int32 = "int32"
uint8 = "uint8"
uint16 = "uint16"
uint32 = "uint32"
float16 = "float16"
float32 = "float32"
bfloat16 = "bfloat16"
tfloat32 = "tfloat32"
float8_e4m3 = "float8_e4m3"
float8_e4m3fn = "float8_e4m3fn"
float8_e5m2 = "float8_e5m2"
# Packed MX types exist as names so kernels import; allocating them raises a clear error.
float8_e5m2_x4 = "float8_e5m2_x4"
float8_e4m3fn_x4 = "float8_e4m3fn_x4"
float4_e2m1fn_x4 = "float4_e2m1fn_x4"
float8_e8m0fnu = "float8_e8m0fnu"


class _TileSize:
    """nl.tile_size: constants that depend on the target read the env at access time."""

    pmax = 128
    psum_fmax = 512  # deprecated name of psum_bank_fmax
    psum_bank_fmax = 512
    psum_bank_fmax_bytes = 2048
    gemm_stationary_fmax = 128
    bn_stats_fmax = 512

    @property
    def gemm_moving_fmax(self) -> int:
        return 512

    @property
    def psum_num_banks(self) -> int:
        return psum_banks_usable()

    @property
    def sbuf_size_bytes(self) -> int:
        return current_target().sbuf_partition_bytes

    @property
    def sbuf_fmax_bytes(self) -> int:
        return current_target().sbuf_partition_bytes

    @property
    def sbuf_fmax(self) -> int:
        return current_target().sbuf_partition_bytes // 4

    @property
    def total_available_sbuf_size(self) -> int:  # deprecated: it was really per partition
        return current_target().sbuf_partition_bytes

    def __repr__(self) -> str:
        return "nl.tile_size"


tile_size = _TileSize()


__all__ = [
    _n for _n, _v in list(globals().items()) if not _n.startswith("_") and (isinstance(_v, str) or _n == "tile_size")
]
