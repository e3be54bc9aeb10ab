"""porter run's bootstrap: every Python process of the emulated program starts here.

`porter run` puts this directory first on PYTHONPATH and sets the PORTER_EMULATE_* variables
(porter/emulate/_env.py), so the script, its DataLoader workers, torchrun's workers and any
multiprocessing child start on the emulated device. Any other sitecustomize on the path still runs.
"""

import os
import sys


def _chain_other_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    saved_path = list(sys.path)
    ours = sys.modules.pop("sitecustomize", None)
    try:
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
        import importlib

        try:
            importlib.import_module("sitecustomize")
        except ModuleNotFoundError as exc:
            if exc.name != "sitecustomize":
                raise
    finally:
        sys.path[:] = saved_path
        if ours is not None:
            sys.modules["sitecustomize"] = ours


def _emulate() -> None:
    device = os.environ.get("PORTER_EMULATE_DEVICE", "")
    if not device:
        return
    try:
        if device == "neuron":
            from porter.emulate.neuron_device import activate_from_env
        elif device == "cuda":
            from porter.emulate.cuda import activate_from_env
        else:
            raise ValueError(f"PORTER_EMULATE_DEVICE={device!r}: expected neuron or cuda")
        activate_from_env()
    except Exception as exc:  # never run the program un-emulated while the user believes it is emulated
        sys.stderr.write(f"porter run: cannot emulate {device} in this process ({sys.argv[0] or 'python'}): "
                         f"{type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        os._exit(3)


_chain_other_sitecustomize()
_emulate()
