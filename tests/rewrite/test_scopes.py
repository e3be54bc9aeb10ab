"""Whether a ported file needs the `import torch` porter adds: which torch its code reads."""

from __future__ import annotations

import pytest

from porter.rewrite.scopes import needs_module_import

NEEDED = {
    "read-at-module-level": "import torch\nx = torch.zeros(1)\n",
    "read-in-a-function": "import torch\n\ndef f():\n    return torch.zeros(1)\n",
    "read-in-a-method-of-a-class-binding-it": "import torch\n\nclass C:\n    torch = 1\n\n    def f(self):\n"
                                              "        return torch.zeros(1)\n",
    "read-in-a-comprehension": "import torch\n\ndef f(xs):\n    return [torch.tensor(x) for x in xs]\n",
    "a-default-value": "import torch\n\ndef f(t=torch.float32):\n    torch = 1\n",
    "bound-only-under-a-condition": "import torch\n\ntry:\n    torch = load()\nexcept ImportError:\n    pass\n"
                                    "x = torch.zeros(1)\n",
    "a-postponed-annotation": "from __future__ import annotations\nimport torch\n\ndef f(x: torch.Tensor):\n"
                              "    torch = 1\n",
    "does-not-compile": "import torch\ndef (:\n",
}
NOT_NEEDED = {
    "bound-in-each-function": "import torch\n\ndef f():\n    torch = stub()\n    return torch.zeros(1)\n",
    "a-parameter": "import torch\n\ndef f(torch):\n    return torch.zeros(1)\n",
    "a-closure-over-a-local": "import torch\n\ndef f():\n    torch = stub()\n\n    def g():\n"
                              "        return torch.zeros(1)\n    return g\n",
    "bound-at-the-top": 'import torch\nimport pytest\n\ntorch = pytest.importorskip("torch")\nx = torch.zeros(1)\n',
    "unpacked-at-the-top": "import torch\ntorch, np = load()\nx = torch.zeros(1)\n",
    "a-submodule-import-binds-it": "import torch.nn\nimport torch\nx = torch.zeros(1)\n",
    "not-read": "import torch\nx = 1\n",
    "only-named-in-a-string": 'import torch\nx = "torch.zeros(1)"\n',
}


@pytest.mark.parametrize("name", NEEDED)
def test_needed(name):
    assert needs_module_import(NEEDED[name], "torch")


@pytest.mark.parametrize("name", NOT_NEEDED)
def test_not_needed(name):
    assert not needs_module_import(NOT_NEEDED[name], "torch")


def test_a_known_read_still_gives_way_to_the_files_own_binding():
    assert needs_module_import("import torch\nx = 1\n", "torch", read=True)
    assert not needs_module_import(NOT_NEEDED["bound-at-the-top"], "torch", read=True)
