"""A name that chooses an implementation ("ref" or "cuda") is no device string.

Our own snippet of a pattern met in a GAN library (docs/regression.md, third set): ops take
`impl="cuda"`, check `assert impl in [...]` and run their CUDA kernels only when `impl == "cuda"` and
the tensor is a CUDA tensor. Ported as a device, the default became the CPU's name on a CPU host and
the program's own assertion failed.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.rewrite.test_ported_runs import port, run

pytest.importorskip("torch")

SOURCE = textwrap.dedent("""\
    import torch

    _kernels = None  # the compiled CUDA kernels, when a build succeeds

    class _ScaleKernel(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            return _kernels.scale(x, k)

    def scale(x, k=2.0, impl="cuda"):
        assert impl in ("torch", "cuda")
        if impl == "cuda" and x.device.type == "cuda" and _kernels is not None:
            return _ScaleKernel.apply(x, k)
        return x * k

    def scale_twice(x, impl="cuda"):
        return scale(scale(x, impl=impl), impl=impl)

    def pick(use_kernels):
        impl = "cuda" if use_kernels else "torch"
        return impl

    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.arange(4.0).to(device)
    print(scale_twice(x).sum().item(), scale(x, impl=pick(False)).sum().item(), x.device.type)
""")


@pytest.mark.parametrize("target", ["neuron", "portable", "xla"])
def test_an_implementation_choice_keeps_its_names_and_the_port_runs(target):
    ported = port(SOURCE, target)
    assert 'impl="cuda"' in ported and 'assert impl in ("torch", "cuda")' in ported
    assert 'impl = "cuda" if use_kernels else "torch"' in ported
    assert 'if impl == "cuda" and x.device.type == "cuda"' in ported  # the kernels' own gate
    assert 'device = "cuda"' not in ported  # the device choice is still ported
    expected = run(SOURCE)
    assert expected == "24.0 12.0 cpu\n"
    assert run(ported) == expected
    if target == "neuron":
        assert run(ported, "neuron") == "24.0 12.0 neuron\n"


def test_the_gate_of_the_kernels_is_kept_and_marked_with_its_reason():
    ported = port(SOURCE)
    assert "# porter: NRN107" in ported and "choice of the CUDA implementation" in ported


def test_a_name_compared_with_device_names_only_is_still_a_device():
    source = textwrap.dedent("""\
        def run(x, device="cuda"):
            assert device in ("cuda", "cpu", "mps", "mlx", "metal")
            if device == "cuda":
                x = x.to(device)
            return x
    """)
    ported = port(source)
    assert 'device="cuda"' not in ported and '"cuda", "cpu"' not in ported
