import pytest

torch = pytest.importorskip("torch")


@pytest.fixture
def emulated():
    import porter.emulate.cuda as pc

    with pc.cuda(devices=2) as log:
        yield log
