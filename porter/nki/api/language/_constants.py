"""dtype names, buffers and tile_size constants of nki.language."""

from __future__ import annotations

from porter.nki.platform import current_target, psum_banks_usable

bool_ = "bool"
int8 = "int8"
int16 = "int16"
int32 = "int32"
int64 = "int64"  # NKI >= 0.7: 1x1 tiles for 64-bit device scalars
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


# Bytes per partition the compiler keeps for itself: 16 KiB, plus 8 bytes from NeuronCore-v3 on.
_SBUF_RESERVED = {2: 16 * 1024, 3: 16 * 1024 + 8, 4: 16 * 1024 + 8}


def _usable_sbuf_partition_bytes() -> int:
    t = current_target()
    return t.sbuf_partition_bytes - _SBUF_RESERVED[t.version]


class _TileSize:
    """nl.tile_size (SDK nki.language.tile_size): target-dependent values read the env at access time.

    The SDK documents what each attribute means but not its value; the values follow the NKI 0.6
    wheel's nki/language/_tile_size.py as reported publicly: 128 partitions, 2 KiB PSUM banks,
    192/224/256 KiB SBUF per partition on trn1/trn2/trn3 of which 16 KiB (+8 bytes on trn2/trn3)
    are reserved, 4-byte minimum alignment in PSUM and SBUF.
    """

    pmax = 128
    psum_fmax = 512  # deprecated in 0.4: same as psum_bank_fmax
    psum_bank_fmax = 512  # fp32 elements per partition in one PSUM bank
    psum_bank_fmax_bytes = 2048
    psum_fmax_bytes = 2048  # NKI 0.4 name of psum_bank_fmax_bytes
    gemm_stationary_fmax = 128
    gemm_moving_fmax = 512
    bn_stats_fmax = 512
    psum_min_align = 4  # bytes, alignment of a PSUM free-dimension address
    sbuf_min_align = 4  # bytes, alignment of an SBUF free-dimension address

    @property
    def psum_num_banks(self) -> int:
        return psum_banks_usable()

    @property
    def sbuf_size_bytes(self) -> int:
        """Total SBUF capacity in bytes, all partitions combined (29,360,128 on trn2)."""
        t = current_target()
        return t.sbuf_partition_bytes * t.partitions

    @property
    def sbuf_fmax_bytes(self) -> int:
        """Usable free size of an SBUF tile per partition, in bytes."""
        return _usable_sbuf_partition_bytes()

    @property
    def sbuf_fmax(self) -> int:
        """Usable free size of an SBUF tile per partition, in fp32 elements."""
        return _usable_sbuf_partition_bytes() // 4

    @property
    def total_available_sbuf_size(self) -> int:
        """Deprecated in 0.4: despite the name, the usable SBUF bytes per partition (= sbuf_fmax_bytes)."""
        return _usable_sbuf_partition_bytes()

    def __repr__(self) -> str:
        return "nl.tile_size"


tile_size = _TileSize()


__all__ = [
    _n for _n, _v in list(globals().items()) if not _n.startswith("_") and (isinstance(_v, str) or _n == "tile_size")
]
