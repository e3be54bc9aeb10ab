"""torch.compile(backend="neuron") on the emulated device, behaving as TorchNeuron documents its backend
(Neuron docs torch/compile/reference-torch-compile): `dynamic=True` is rejected, a `mode` other than
"default" warns that it has no effect. Dynamo captures the graphs; each graph is counted with the
user's source line and run eagerly on the emulated device (there is no Neuron compiler here).
"""

from __future__ import annotations

import functools
import warnings

import torch

from porter.emulate.neuron_device import tensor as _tensor

_registered = False


def register() -> None:
    global _registered
    if _registered:
        return
    from torch._dynamo import register_backend

    register_backend(compiler_fn=neuron_backend, name="neuron")
    torch.compile = _checked_compile(torch.compile)
    _registered = True


def _checked_compile(original):
    @functools.wraps(original)
    def compile(model=None, *args, **kwargs):
        if kwargs.get("backend") == "neuron":
            if kwargs.get("dynamic") is True:
                raise ValueError('torch.compile(backend="neuron") does not support dynamic=True: Neuron compiles '
                                 'static shapes (use dynamic=False, pad or bucket the inputs)')
            mode = kwargs.get("mode")
            if mode not in (None, "default"):
                message = (f'torch.compile(backend="neuron"): mode={mode!r} has no effect on Neuron (only '
                           f'"default" is used)')
                warnings.warn(message, UserWarning, stacklevel=2)
                state = _tensor._state
                if state is not None:
                    state.compile_warnings.append(message)
        return original(model, *args, **kwargs)

    return compile


def _graph_source(gm) -> str:
    from porter.graph.trace import _user_frame

    for node in gm.graph.nodes:
        source = _user_frame(node.meta.get("stack_trace"))
        if source:
            return source
    return ""


def neuron_backend(gm, example_inputs, **options):
    """Dynamo backend: record the graph, then run it op by op on the emulated device (`options`, such as a
    mode, change nothing here, as on Neuron)."""
    state = _tensor._state
    if state is not None:
        from torch._dynamo.utils import counters

        ops = sum(1 for node in gm.graph.nodes if node.op in ("call_function", "call_method", "call_module"))
        state.graphs.append({"id": len(state.graphs), "ops": ops, "source": _graph_source(gm)})
        seen = {b["reason"] for b in state.graph_breaks}
        for reason, count in counters["graph_break"].items():
            if reason not in seen:
                state.graph_breaks.append({"reason": str(reason).splitlines()[0], "count": count,
                                           "source": _graph_source(gm)})
    return gm.forward
