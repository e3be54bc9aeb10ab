"""Whole-block reductions of 2-D blocks, run as launched: the original in Triton's interpreter, the translation in
porter's NKI simulator. Needs torch and triton (the `triton` extra)."""

from __future__ import annotations

import importlib.util
import os

import pytest

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton's first import
torch = pytest.importorskip("torch", reason="verification needs torch (the runtime extra)")
pytest.importorskip("triton", reason="verification needs triton==3.9.0 (pip install 'neuron-porter[triton]')")

from pathlib import Path  # noqa: E402

from porter.translate.triton.translate import translate_file  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "block_ops.py"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_sum_and_a_max_over_a_whole_two_dimensional_block(tmp_path):
    """`tl.sum(x)` with no axis on a (batch, spatial) block: along the free axis, then over the partitions (the
    translation raised 'a reduction over every axis of a two-dimensional block')."""
    import porter.nki

    porter.nki.install_simulator()
    ft = translate_file(FIXTURE)
    (kt,) = ft.kernels
    assert kt.translated and kt.mode == "program"
    nki_file = tmp_path / "block_ops_nki.py"
    nki_file.write_text(ft.source)
    nki_mod = _load("block_ops_nki_test", nki_file)
    orig = _load("block_ops_test", FIXTURE)
    batch, n_feat, spatial = 5, 3, 7
    x = torch.randn(batch, n_feat, spatial, generator=torch.Generator().manual_seed(0))
    results = []
    for run in (orig.feature_stats_kernel.__getitem__, lambda g: lambda *a, **k: nki_mod.feature_stats_kernel_launch(
            g, *a, **k)):
        mean, mx = torch.zeros(n_feat), torch.zeros(n_feat)
        run((n_feat,))(x, mean, mx, batch, n_feat, spatial, BLOCK_B=8, BLOCK_S=8)
        results.append((mean, mx))
    (m_ref, x_ref), (m_nki, x_nki) = results
    assert torch.allclose(m_ref, x.mean(dim=(0, 2)), atol=1e-5)
    assert torch.allclose(m_nki, m_ref, atol=1e-5) and torch.equal(x_nki, x_ref), (m_nki, m_ref, x_nki, x_ref)


def test_an_error_raised_while_a_translation_is_traced_names_the_triton_line(tmp_path, monkeypatch):
    """The translation is traced as Python: an Unsupported raised there is reported at the Triton statement it
    came from (file, line, text), through the translation's line map."""
    import porter.nki
    from porter.translate.triton import nki_tl, verify_worker
    from porter.translate.triton.nki_tl.core import Unsupported

    porter.nki.install_simulator()
    ft = translate_file(FIXTURE)
    src_lines = FIXTURE.read_text().splitlines()
    gen_lines = ft.source.splitlines()
    for gen, orig in ft.lines.items():  # every mapped statement reads like the statement it came from
        first = src_lines[orig - 1].strip().split("(")[0].split(" ")[0]
        assert first.replace("tl.", "_tl.") in gen_lines[gen - 1], (gen_lines[gen - 1], src_lines[orig - 1])
    nki_file = tmp_path / "block_ops_nki.py"
    nki_file.write_text(ft.source)
    nki_mod = _load("block_ops_nki_trace", nki_file)
    monkeypatch.setitem(verify_worker._TRITON_LINES, str(nki_file), (FIXTURE, ft.lines))

    def refuse(*_, **__):
        raise Unsupported("a max nobody translated")

    monkeypatch.setattr(nki_tl, "max", refuse)
    with pytest.raises(Unsupported) as info:
        nki_mod.feature_stats_kernel_launch((1,), torch.zeros(8), torch.zeros(1), torch.zeros(1), 2, 1, 4,
                                            BLOCK_B=2, BLOCK_S=4)
    line = next(i for i, t in enumerate(src_lines, 1) if "tl.max(" in t)
    assert verify_worker._traced_at(info.value, nki_mod) == \
        f" (at block_ops.py line {line}: `{src_lines[line - 1].strip()}`)"
