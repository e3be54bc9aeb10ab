"""Legacy modules that shipped inside neuronxcc and have no `nki` counterpart (the bundled kernels,
`_private*` modules, `nccl`, compiler internals) are left as written and marked NRN701; renaming them
to `nki.<same>` gave imports that fail (NxDI imported `neuronxcc.nki.kernels.cumsum`)."""

from __future__ import annotations

from .helpers import upgrade

SOURCE = """
import neuronxcc.nki as nki
import neuronxcc.nki.language as nl
import neuronxcc.nki.nccl as nccl
from neuronxcc.nki import isa as nisa
from neuronxcc.nki.language import par_dim
from neuronxcc.nki.compiler.backends.neuron.dimensions import VNC

try:
    from neuronxcc.nki._private_kernels.scan import scan
except ImportError:
    from neuronxcc.nki.kernels.scan import scan


@nki.jit
def copy(x):
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    nl.store(out, nl.load(x))
    return out
"""


def test_modules_without_counterpart_are_marked_not_renamed():
    text, report = upgrade(SOURCE)
    lines = text.splitlines()
    for legacy in ("import neuronxcc.nki.nccl as nccl",
                   "from neuronxcc.nki.compiler.backends.neuron.dimensions import VNC",
                   "from neuronxcc.nki._private_kernels.scan import scan",
                   "from neuronxcc.nki.kernels.scan import scan"):
        k = next(i for i, line in enumerate(lines) if line.strip() == legacy)
        assert lines[k - 1].strip().startswith("# porter: NRN701 `neuronxcc.nki."), lines[k - 1]
    assert "nkilib" in text and "nki.collectives" in text
    # the public modules are still renamed, without markers
    assert "import nki\n" in text and "import nki.language as nl" in text
    assert "from nki import isa as nisa" in text and "from nki.language import par_dim" in text
    assert sorted(m.line for m in report.markers if m.rule == "NRN701") == [4, 7, 10, 12], report.markers
