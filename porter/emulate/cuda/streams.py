"""torch.cuda.Stream and torch.cuda.Event on a CPU: work runs in program order, events time by wall clock.

CPU kernels finish before the call returns, so every stream is always idle: waits, queries and
synchronisations are immediately satisfied, which is a legal schedule of the program on a GPU.
"""

from __future__ import annotations

import itertools
import time

import torch

from porter.emulate.cuda import state
from porter.emulate.cuda.tensor import UnemulatableError

_ids = itertools.count(1)
_current: dict[int, Stream] = {}


class Stream(torch.Stream):
    """A CUDA stream of the emulated device (a torch.Stream with device type cuda)."""

    def __new__(cls, device=None, priority: int = 0, stream_id: int | None = None, **kwargs):
        index = state.device_index(device)
        if stream_id is None:
            state.log("torch.cuda.Stream", "a stream whose work runs in program order (no overlap)")
        sid = next(_ids) if stream_id is None else stream_id
        self = super().__new__(cls, stream_id=sid, device_index=index, device_type=1)
        self._priority = priority
        return self

    def __init__(self, *args, **kwargs):
        pass

    @property
    def priority(self) -> int:
        return self._priority

    @property
    def cuda_stream(self) -> int:
        return self.stream_id

    def wait_event(self, event: Event) -> None:
        state.log("Stream.wait_event", "no-op (work already ran in program order)")

    def wait_stream(self, stream) -> None:
        state.log("Stream.wait_stream", "no-op (work already ran in program order)")

    def record_event(self, event: Event | None = None) -> Event:
        event = event if event is not None else Event()
        event.record(self)
        return event

    def query(self) -> bool:
        return True

    def synchronize(self) -> None:
        pass

    def __enter__(self):
        self._prev = current_stream(self.device_index)
        _current[self.device_index] = self
        return self

    def __exit__(self, *exc):
        _current[self.device_index] = self._prev

    def __eq__(self, other) -> bool:
        return isinstance(other, torch.Stream) and (other.stream_id, other.device_index, other.device_type) == (
            self.stream_id, self.device_index, self.device_type)

    def __hash__(self) -> int:
        return hash((self.stream_id, self.device_index))

    def __repr__(self) -> str:
        return f"<torch.cuda.Stream device=cuda:{self.device_index} cuda_stream={self.cuda_stream:#x}>"


_defaults: dict[int, Stream] = {}


def default_stream(device=None) -> Stream:
    index = state.device_index(device)
    if index not in _defaults:
        _defaults[index] = Stream(index, stream_id=0)
    return _defaults[index]


def current_stream(device=None) -> Stream:
    index = state.device_index(device)
    return _current.get(index) or default_stream(index)


def set_stream(stream) -> None:
    if stream is not None:
        _current[stream.device_index] = stream


class StreamContext:
    """torch.cuda.stream(s): `with` makes s current (None: no-op)."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        if self.stream is not None:
            self.stream.__enter__()
        return self.stream

    def __exit__(self, *exc):
        if self.stream is not None:
            self.stream.__exit__(*exc)


def stream(stream) -> StreamContext:
    return StreamContext(stream)


class ExternalStream(Stream):
    def __new__(cls, stream_ptr: int, device=None, **kwargs):
        raise UnemulatableError(state.feature_error(
            "torch.cuda.ExternalStream (a stream made elsewhere by the CUDA driver)"))


class Event:
    """A CUDA event; elapsed_time() is the wall-clock time between the two record() calls, in ms."""

    def __init__(self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False,
                 external: bool = False):
        self.enable_timing = enable_timing
        self.blocking = blocking
        self.interprocess = interprocess
        self._time: float | None = None

    def record(self, stream=None) -> None:
        state.log("Event.record", "wall-clock time taken")
        self._time = time.perf_counter()

    def wait(self, stream=None) -> None:
        pass

    def query(self) -> bool:
        return True

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, end_event: Event) -> float:
        state.log("Event.elapsed_time", "wall-clock milliseconds between the two records")
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("Both events must be created with argument 'enable_timing=True'.")
        if self._time is None or end_event._time is None:
            raise RuntimeError("Both events must be recorded before calculating elapsed time.")
        return (end_event._time - self._time) * 1e3

    def ipc_handle(self):
        raise UnemulatableError(state.feature_error("torch.cuda.Event.ipc_handle (an event shared between processes)"))

    @property
    def cuda_event(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<torch.cuda.Event {id(self):#x}>" if self._time is not None else "<torch.cuda.Event uninitialized>"
