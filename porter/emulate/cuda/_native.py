"""Make a CPU-only PyTorch build accept tensors whose device is `cuda`.

A CPU build has no CUDA device guard and its CUDA hooks say CUDA is not built, so autograd aborts
the process on the first tensor whose device is `cuda` ("PyTorch is not linked with support for
cuda devices"). PyTorch itself solves the same problem for fake tensors on CUDA builds without a
GPU (`c10::impl::ensureCUDADeviceGuardSet` installs `FakeGuardImpl<CUDA>`); the CPU build ships
that class but never installs it. This module installs it, and makes the CUDA hooks answer
`isBuilt()` and `hasPrimaryContext()` with true so that autograd finds CUDA as the accelerator and
uses the no-op guard's streams.

Both are pointer writes into libc10 / libtorch_cpu found through their ELF symbol tables; every
address is checked (symbol present, vtable in place, function code as expected) before anything is
written, and any mismatch raises `NativeSetupError` without writing. The changes last for the life
of the process (they cannot be observed except by code asking for CUDA, which a CPU build cannot
run anyway).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import sys

_DONE = False
_KEEP: list = []  # objects whose memory the patched tables point at: never freed
_HOOKS: tuple[int, int, int] | None = None  # (hooks object, original vptr, patched vptr)

# Mangled names (Itanium C++ ABI) of what we look up.
_REGISTRY = "_ZN3c104impl26device_guard_impl_registryE"
_FAKE_GUARD_VTABLE = "_ZTVN3c104impl13FakeGuardImplILNS_10DeviceTypeE1EEE"
_FAKE_GUARD_TYPE = "_ZNK3c104impl13FakeGuardImplILNS_10DeviceTypeE1EE4typeEv"
_FAKE_GUARD_QUERY_EVENT = "_ZNK3c104impl13FakeGuardImplILNS_10DeviceTypeE1EE10queryEventEPv"
_FAKE_GUARD_DESTROY_EVENT = "_ZNK3c104impl13FakeGuardImplILNS_10DeviceTypeE1EE12destroyEventEPva"
_GET_CPU_ALLOCATOR = "_ZN3c1015GetCPUAllocatorEv"
_CUDA_HOOKS_VTABLE = "_ZTVN2at18CUDAHooksInterfaceE"
_GET_CUDA_HOOKS = "_ZN2at6detail12getCUDAHooksEv"
_IS_BUILT = "_ZNK2at25AcceleratorHooksInterface7isBuiltEv"
_HAS_PRIMARY_CONTEXT = "_ZNK2at18CUDAHooksInterface17hasPrimaryContextEa"
_INIT = "_ZNK2at18CUDAHooksInterface4initEv"
_PINNED_ALLOCATOR = "_ZNK2at18CUDAHooksInterface24getPinnedMemoryAllocatorEv"
_CUDA = 1  # c10::DeviceType::CUDA
_RETURN_TRUE = bytes.fromhex("b801000000c3")  # mov eax, 1; ret
_RETURN = bytes.fromhex("c3")  # ret


class NativeSetupError(RuntimeError):
    """This PyTorch build cannot be made to accept `cuda` tensors."""


def elf_symbols(path: str, names: list[str]) -> dict[str, tuple[int, int]]:
    """(value, size) of each named symbol in the ELF file's .symtab/.dynsym (names not found are left out)."""
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        if mm[:5] != b"\x7fELF\x02" or mm[5] != 1:
            raise NativeSetupError(f"{path}: not a 64-bit little-endian ELF library")
        (shoff,) = struct.unpack_from("<Q", mm, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", mm, 0x3A)
        sections = [struct.unpack_from("<IIQQQQIIQQ", mm, shoff + i * shentsize) for i in range(shnum)]
        found: dict[str, tuple[int, int]] = {}
        for sec in sections:
            if sec[1] not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
                continue
            sym_off, sym_size, entsize = sec[4], sec[5], sec[9] or 24
            strtab = sections[sec[6]]
            for name in names:
                if name in found:
                    continue
                pos = mm.find(b"\0" + name.encode() + b"\0", strtab[4], strtab[4] + strtab[5])
                if pos < 0:
                    continue
                key = struct.pack("<I", pos + 1 - strtab[4])
                p = sym_off
                while 0 <= (p := mm.find(key, p, sym_off + sym_size)):
                    if (p - sym_off) % entsize == 0:
                        value, size = struct.unpack_from("<QQ", mm, p + 8)
                        if value:
                            found[name] = (value, size)
                        break
                    p += 1
        return found
    finally:
        mm.close()


def _lib_dir() -> str:
    import torch

    return os.path.join(os.path.dirname(torch.__file__), "lib")


def _need(syms: dict, names: list[str], lib: str) -> None:
    missing = [n for n in names if n not in syms]
    if missing:
        raise NativeSetupError(f"{lib} lacks the symbols {', '.join(missing)} (stripped or a different PyTorch build)")


def _ptr(addr: int) -> int:
    return ctypes.c_void_p.from_address(addr).value or 0


def install() -> None:
    """Install the CUDA device guard (for the life of the process) and the CUDA hooks answers (until uninstall)."""
    global _DONE, _HOOKS
    if _DONE:
        hooks, _, patched = _HOOKS
        ctypes.c_void_p.from_address(hooks).value = patched
        return
    if not sys.platform.startswith("linux"):
        raise NativeSetupError("CUDA emulation needs Linux (x86-64) PyTorch libraries")
    import torch

    if torch.backends.cuda.is_built():
        raise NativeSetupError("this PyTorch is a CUDA build: use the real GPU, or a CPU build to emulate one")

    c10_path = os.path.join(_lib_dir(), "libc10.so")
    cpu_path = os.path.join(_lib_dir(), "libtorch_cpu.so")
    c10_names = [_REGISTRY, _FAKE_GUARD_VTABLE, _FAKE_GUARD_TYPE, _FAKE_GUARD_QUERY_EVENT, _FAKE_GUARD_DESTROY_EVENT]
    cpu_names = [_CUDA_HOOKS_VTABLE, _IS_BUILT, _HAS_PRIMARY_CONTEXT, _INIT, _PINNED_ALLOCATOR]
    c10_syms = elf_symbols(c10_path, c10_names)
    cpu_syms = elf_symbols(cpu_path, cpu_names)
    _need(c10_syms, c10_names, c10_path)
    _need(cpu_syms, cpu_names, cpu_path)

    c10 = ctypes.CDLL(c10_path)
    cpu = ctypes.CDLL(cpu_path)
    registry = ctypes.addressof(ctypes.c_void_p.in_dll(c10, _REGISTRY))
    c10_base = registry - c10_syms[_REGISTRY][0]
    guard_vtable = c10_base + c10_syms[_FAKE_GUARD_VTABLE][0]
    return_true = c10_base + c10_syms[_FAKE_GUARD_QUERY_EVENT][0]
    if _ptr(guard_vtable + 16) != c10_base + c10_syms[_FAKE_GUARD_TYPE][0]:
        raise NativeSetupError("FakeGuardImpl<CUDA>'s vtable is not laid out as expected")
    if ctypes.string_at(return_true, len(_RETURN_TRUE)) != _RETURN_TRUE:
        raise NativeSetupError("FakeGuardImpl<CUDA>::queryEvent is not a plain 'return true'")
    do_nothing = c10_base + c10_syms[_FAKE_GUARD_DESTROY_EVENT][0]
    if ctypes.string_at(do_nothing, len(_RETURN)) != _RETURN:
        raise NativeSetupError("FakeGuardImpl<CUDA>::destroyEvent is not a plain 'return'")
    cpu_allocator = ctypes.cast(c10[_GET_CPU_ALLOCATOR], ctypes.c_void_p).value

    cpu_base = ctypes.cast(cpu[_CUDA_HOOKS_VTABLE], ctypes.c_void_p).value - cpu_syms[_CUDA_HOOKS_VTABLE][0]
    hooks_vtable = cpu_base + cpu_syms[_CUDA_HOOKS_VTABLE][0]
    n_words = cpu_syms[_CUDA_HOOKS_VTABLE][1] // 8
    get_hooks = cpu[_GET_CUDA_HOOKS]
    get_hooks.restype = ctypes.c_void_p
    hooks = get_hooks()
    if _ptr(hooks) != hooks_vtable + 16:
        raise NativeSetupError("the CUDA hooks object is not PyTorch's CPU-build default")
    words = [_ptr(hooks_vtable + 8 * i) for i in range(n_words)]
    # what each answer becomes: CUDA is built and has a context (autograd then uses the no-op guard's
    # streams); initialising it does nothing; pinned memory is ordinary CPU memory
    replace = {cpu_base + cpu_syms[_IS_BUILT][0]: return_true,
               cpu_base + cpu_syms[_HAS_PRIMARY_CONTEXT][0]: return_true,
               cpu_base + cpu_syms[_INIT][0]: do_nothing,
               cpu_base + cpu_syms[_PINNED_ALLOCATOR][0]: cpu_allocator}
    slots = {i: replace[w] for i, w in enumerate(words) if i >= 2 and w in replace}
    if sorted(slots.values()) != sorted(replace.values()):
        raise NativeSetupError("the CUDA hooks vtable does not hold isBuilt/hasPrimaryContext/init/"
                               "getPinnedMemoryAllocator where expected")

    # Everything checked: write.
    guard = ctypes.c_void_p(guard_vtable + 16)  # a FakeGuardImpl<CUDA> object is just its vtable pointer
    table = (ctypes.c_void_p * n_words)(*words)
    for i, target in slots.items():
        table[i] = target
    _KEEP.extend([guard, table])
    slot = ctypes.c_void_p.from_address(registry + 8 * _CUDA)
    if slot.value:
        raise NativeSetupError("a CUDA device guard is already registered")
    slot.value = ctypes.addressof(guard)
    ctypes.c_void_p.from_address(hooks).value = ctypes.addressof(table) + 16
    _HOOKS = (hooks, hooks_vtable + 16, ctypes.addressof(table) + 16)
    _DONE = True


def uninstall() -> None:
    """Give the CUDA hooks their CPU-build answers back (torch.accelerator finds no accelerator again).

    The device guard stays: it only serves tensors whose device is cuda, and an emulated tensor kept
    past the emulation then fails with an error instead of aborting the process.
    """
    if _HOOKS is not None:
        hooks, original, _ = _HOOKS
        ctypes.c_void_p.from_address(hooks).value = original
