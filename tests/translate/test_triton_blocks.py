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


def _both(tmp_path, fixture, name, grid, make_args, **consts):
    """Run kernel ``name`` of ``fixture`` in Triton's interpreter and its translation in the simulator on the
    same inputs; return the argument tensors after each run."""
    import porter.nki

    porter.nki.install_simulator()
    ft = translate_file(fixture)
    nki_file = tmp_path / f"{fixture.stem}_nki.py"
    nki_file.write_text(ft.source)
    nki_mod = _load(f"{fixture.stem}_nki_{name}", nki_file)
    orig = _load(f"{fixture.stem}_{name}", fixture)
    results = []
    for run in (getattr(orig, name).__getitem__,
                lambda g: lambda *a, **k: getattr(nki_mod, f"{name}_launch")(g, *a, **k)):
        args = make_args()
        run(grid)(*args, **consts)
        results.append(args)
    return results


def test_an_index_array_on_the_left_of_loaded_data(tmp_path):
    """`cols[None, :] == target[:, None]` (a cross-entropy gradient's one-hot): NumPy on the left applied `==` per
    element with the tile as an object, every lane came out True (p - 1 everywhere)."""
    fixture = FIXTURE.with_name("order_ops.py")
    gen = torch.Generator().manual_seed(0)
    p, t = torch.rand(6, 37, generator=gen), torch.randint(0, 37, (6,), generator=gen)
    for block_rows in (1, 4):
        (*_, ref, _, _), (*_, got, _, _) = _both(
            tmp_path, fixture, "onehot_grad_kernel", (-(-6 // block_rows),),
            lambda: [p.clone(), t.clone(), torch.zeros(6, 37), 6, 37], BLOCK_R=block_rows, BLOCK_C=64)
        assert torch.equal(ref, p - torch.nn.functional.one_hot(t, 37).float())
        assert torch.equal(got, ref), (got - ref).abs().max()


def test_offsets_before_the_pointer_and_lanes_times_data(tmp_path):
    """`offs + x_ptr` raised 'tl.load of something that is not a kernel pointer argument'; `offs * x` gave an
    object array."""
    fixture = FIXTURE.with_name("order_ops.py")
    x = torch.randint(0, 5, (100,), generator=torch.Generator().manual_seed(1)).float()
    (_, ref, _), (_, got, _) = _both(tmp_path, fixture, "offsets_first_kernel", (4,),
                                     lambda: [x.clone(), torch.zeros(100), 100], BLOCK=32)
    offs = torch.arange(100).float()
    assert torch.equal(ref, offs * x + (offs == x).float())
    assert torch.equal(got, ref)
