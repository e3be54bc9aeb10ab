"""Helpers for the GPT training script: distributed setup, seeding, timing, memory stats."""

import os
import time

import torch
import torch.cuda as tc
import torch.distributed as dist

# Optional fused kernels. The training script uses whichever of these is installed.
try:
    from flash_attn import flash_attn_func
    HAS_FLASH_ATTN = True
except ImportError:
    flash_attn_func = None
    HAS_FLASH_ATTN = False

try:
    import apex
    from apex.optimizers import FusedAdam
    HAS_APEX = True
except ImportError:
    apex = None
    FusedAdam = None
    HAS_APEX = False

try:
    import xformers.ops as xops
    HAS_XFORMERS = True
except ImportError:
    xops = None
    HAS_XFORMERS = False

try:
    import triton
    HAS_TRITON = True
except ImportError:
    triton = None
    HAS_TRITON = False


def setup_distributed(gpus: str | None = None):
    """Initialise NCCL if launched under torchrun; return (rank, local_rank, world_size, device)."""
    if gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        rank = int(os.environ["RANK"])
        local_rank = int(os.environ["LOCAL_RANK"])
        world_size = int(os.environ["WORLD_SIZE"])
        dist.init_process_group(backend="nccl")
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        return rank, local_rank, world_size, device
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    return 0, 0, 1, device


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def rank_device(rank: int) -> torch.device:
    return torch.device(f"cuda:{rank}")


def describe_devices() -> None:
    if not tc.is_available():
        print("no GPU found")
        return
    n = tc.device_count()
    cur = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(cur)
    major, minor = torch.cuda.get_device_capability(cur)
    print("training on cuda devices:", n, "visible")
    print(f"  current={cur} ({torch.cuda.get_device_name(cur)})")
    print(f"  sm_{major}{minor}, {props.total_memory / 2**30:.1f} GiB, "
          f"{props.multi_processor_count} SMs, bf16={torch.cuda.is_bf16_supported()}")
    print(f"  flash_attn={HAS_FLASH_ATTN} apex={HAS_APEX} xformers={HAS_XFORMERS} triton={HAS_TRITON}")


def seed_everything(seed: int, device: torch.device) -> torch.Generator:
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


class CudaTimer:
    """Times a region on the GPU stream with CUDA events (wall clock without a GPU)."""

    def __init__(self):
        self.events = torch.cuda.is_available()
        if self.events:
            self.start = torch.cuda.Event(enable_timing=True)
            self.end = torch.cuda.Event(enable_timing=True)

    def __enter__(self):
        if self.events:
            self.start.record()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if not self.events:
            self.ms = (time.perf_counter() - self.t0) * 1e3
            return
        self.end.record()
        torch.cuda.synchronize()
        self.ms = self.start.elapsed_time(self.end)


def wall_clock_step(fn, *args):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn(*args)
    tc.synchronize()
    return out, (time.perf_counter() - t0) * 1e3


def memory_report(tag: str, device: torch.device) -> None:
    if device.type != "cuda":
        return
    alloc = torch.cuda.memory_allocated(device) / 2**20
    reserved = torch.cuda.memory_reserved(device) / 2**20
    peak = torch.cuda.max_memory_allocated(device) / 2**20
    print(f"[{tag}] alloc {alloc:.1f} MiB | reserved {reserved:.1f} MiB | peak {peak:.1f} MiB")
    torch.cuda.reset_peak_memory_stats(device)


def dump_memory_summary(device: torch.device) -> str:
    summary = torch.cuda.memory_summary(device=device, abbreviated=True)
    torch.cuda.empty_cache()
    return summary


def load_checkpoint(path: str, model: torch.nn.Module, optimizer=None) -> int:
    state = torch.load(path, map_location="cuda")
    model.load_state_dict(state["model"])
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    return state.get("step", 0)


def save_checkpoint(path: str, model: torch.nn.Module, optimizer, step: int) -> None:
    raw = model.module if hasattr(model, "module") else model
    torch.save({"model": raw.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, path)


def legacy_fp16_defaults() -> None:
    """Old apex-era trick: make every new float tensor a CUDA half tensor."""
    torch.set_default_tensor_type(torch.cuda.HalfTensor)


def match_device(x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    # Device-agnostic: follows whatever device `other` lives on.
    return x.to(other.device)


def have_accelerator() -> bool:
    return torch.accelerator.is_available()
