"""The GPUs CUDA emulation can pretend to be, with where each figure comes from.

Figures are the vendor's published ones: NVIDIA's architecture whitepapers (SM count, L2 size,
memory) and the CUDA C++ Programming Guide's table of compute capabilities (per-SM limits).
`total_memory` is the marketed capacity in GiB (a real device reports slightly less: the driver
keeps a few hundred MiB).
"""

from __future__ import annotations

from dataclasses import dataclass, field

GIB = 1024**3
MIB = 1024**2
KIB = 1024


@dataclass(frozen=True)
class GpuProfile:
    key: str
    name: str  # what torch.cuda.get_device_name() returns on the real device
    major: int
    minor: int
    total_memory: int
    multi_processor_count: int
    l2_cache_size: int
    shared_memory_per_multiprocessor: int
    shared_memory_per_block_optin: int
    bf16: bool
    tf32: bool
    source: str
    max_threads_per_multi_processor: int = 2048
    max_threads_per_block: int = 1024
    regs_per_multiprocessor: int = 65536
    warp_size: int = 32
    shared_memory_per_block: int = 48 * KIB
    extra: dict = field(default_factory=dict)


PROFILES: dict[str, GpuProfile] = {
    "a100": GpuProfile(
        "a100", "NVIDIA A100-SXM4-80GB", 8, 0, 80 * GIB, 108, 40 * MIB, 164 * KIB, 163 * KIB, True, True,
        "NVIDIA A100 Tensor Core GPU Architecture whitepaper (108 SMs, 40 MB L2, 80 GB HBM2e on the SXM4 80GB "
        "board); CUDA C++ Programming Guide, compute capability 8.0 (164 KB shared memory per SM, 163 KB per "
        "block opt-in, 64K registers, 2048 threads per SM)",
    ),
    "h100": GpuProfile(
        "h100", "NVIDIA H100 80GB HBM3", 9, 0, 80 * GIB, 132, 50 * MIB, 228 * KIB, 227 * KIB, True, True,
        "NVIDIA H100 Tensor Core GPU Architecture whitepaper (132 SMs and 50 MB L2 on H100 SXM5, 80 GB HBM3); "
        "CUDA C++ Programming Guide, compute capability 9.0 (228 KB shared memory per SM, 227 KB per block "
        "opt-in, 64K registers, 2048 threads per SM)",
    ),
    "v100": GpuProfile(
        "v100", "Tesla V100-SXM2-32GB", 7, 0, 32 * GIB, 80, 6 * MIB, 96 * KIB, 96 * KIB, False, False,
        "NVIDIA Tesla V100 GPU Architecture whitepaper (80 SMs, 6 MB L2, 32 GB HBM2 on the SXM2 32GB board); "
        "CUDA C++ Programming Guide, compute capability 7.0 (96 KB shared memory per SM, no bf16 tensor cores)",
    ),
}


def profile(key: str) -> GpuProfile:
    try:
        return PROFILES[key.lower()]
    except KeyError:
        raise ValueError(f"unknown GPU profile {key!r}: choose one of {', '.join(PROFILES)}") from None


class DeviceProperties:
    """What torch.cuda.get_device_properties(i) returns under emulation (the fields of _CudaDeviceProperties)."""

    def __init__(self, p: GpuProfile, index: int):
        self.name = p.name
        self.major, self.minor = p.major, p.minor
        self.total_memory = p.total_memory
        self.multi_processor_count = p.multi_processor_count
        self.is_integrated = False
        self.is_multi_gpu_board = False
        self.max_threads_per_multi_processor = p.max_threads_per_multi_processor
        self.max_threads_per_block = p.max_threads_per_block
        self.regs_per_multiprocessor = p.regs_per_multiprocessor
        self.warp_size = p.warp_size
        self.L2_cache_size = p.l2_cache_size
        self.shared_memory_per_block = p.shared_memory_per_block
        self.shared_memory_per_block_optin = p.shared_memory_per_block_optin
        self.shared_memory_per_multiprocessor = p.shared_memory_per_multiprocessor
        self.gcnArchName = "NVIDIA CUDA (emulated by porter)"
        self.uuid = f"00000000-0000-0000-0000-{index:012d}"
        self.pci_bus_id = index
        self.pci_device_id = 0
        self.pci_domain_id = 0

    def __repr__(self) -> str:
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
                f"total_memory={self.total_memory // MIB}MB, multi_processor_count={self.multi_processor_count}, "
                f"uuid={self.uuid}, pci_bus_id={self.pci_bus_id}, pci_device_id={self.pci_device_id}, "
                f"pci_domain_id={self.pci_domain_id}, L2_cache_size={self.L2_cache_size // MIB}MB)")
