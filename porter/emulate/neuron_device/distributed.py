"""`init_process_group(backend="neuron")` on the emulated device: a process group whose collectives run
through gloo on the CPU tensors behind the neuron tensors (in place, so the device tensors see the
result). TorchNeuron names its process-group backend "neuron" (Neuron docs, about-pytorch-neuron).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from porter.emulate.neuron_device import tensor as _tensor

_registered = False


def register() -> None:
    global _registered
    if _registered or not dist.is_available():
        return
    dist.Backend.register_backend("neuron", _create, devices=["neuron", "cpu"])
    _registered = True


def _create(store, rank: int, size: int, timeout):
    return NeuronProcessGroup(store, rank, size, timeout)


def _cpu(value):
    if isinstance(value, _tensor.NeuronTensor):
        return value._data
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu(v) for v in value)
    return value


class NeuronProcessGroup(dist.ProcessGroup):
    """The emulated device's collectives, run by gloo."""

    def __init__(self, store, rank: int, size: int, timeout) -> None:
        super().__init__(rank, size)
        self._gloo = dist.ProcessGroupGloo(store, rank, size, timeout)

    def getBackendName(self) -> str:  # noqa: N802  (the name PyTorch calls)
        return "neuron"

    # init_process_group(..., device_id=device) asks the group for its backend on that device (to
    # connect eagerly where the backend can split): this group is its own backend, on every device.
    supports_splitting = False

    def _get_backend(self, device):
        return self

    def name(self) -> str:
        return "neuron"

    def allreduce(self, tensors, opts=None):
        return self._gloo.allreduce(_cpu(tensors), opts or dist.AllreduceOptions())

    def allreduce_coalesced(self, tensors, opts=None):
        return self._gloo.allreduce_coalesced(_cpu(tensors), opts or dist.AllreduceCoalescedOptions())

    def broadcast(self, tensors, opts=None):
        return self._gloo.broadcast(_cpu(tensors), opts or dist.BroadcastOptions())

    def reduce(self, tensors, opts=None):
        return self._gloo.reduce(_cpu(tensors), opts or dist.ReduceOptions())

    def allgather(self, output_lists, inputs, opts=None):
        return self._gloo.allgather(_cpu(output_lists), _cpu(inputs), opts or dist.AllgatherOptions())

    def _allgather_base(self, output, input, opts=None):
        return self._gloo._allgather_base(_cpu(output), _cpu(input), opts or dist.AllgatherOptions())

    def gather(self, output_lists, inputs, opts=None):
        return self._gloo.gather(_cpu(output_lists), _cpu(inputs), opts or dist.GatherOptions())

    def scatter(self, outputs, input_lists, opts=None):
        return self._gloo.scatter(_cpu(outputs), _cpu(input_lists), opts or dist.ScatterOptions())

    def reduce_scatter(self, outputs, input_lists, opts=None):
        return self._gloo.reduce_scatter(_cpu(outputs), _cpu(input_lists), opts or dist.ReduceScatterOptions())

    def _reduce_scatter_base(self, output, input, opts=None):
        return self._gloo._reduce_scatter_base(_cpu(output), _cpu(input), opts or dist.ReduceScatterOptions())

    def alltoall_base(self, output, input, output_split_sizes, input_split_sizes, opts=None):
        return self._gloo.alltoall_base(_cpu(output), _cpu(input), output_split_sizes, input_split_sizes,
                                        opts or dist.AllToAllOptions())

    def send(self, tensors, dst: int, tag: int):
        return self._gloo.send(_cpu(tensors), dst, tag)

    def recv(self, tensors, src: int, tag: int):
        return self._gloo.recv(_cpu(tensors), src, tag)

    def barrier(self, opts=None):
        return self._gloo.barrier(opts or dist.BarrierOptions())


__all__ = ["NeuronProcessGroup", "register", "torch"]
