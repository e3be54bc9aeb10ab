"""Register the NKI CPU simulator as `nki` before any kernel module is imported."""

import porter.nki

if not porter.nki.install_simulator():  # a real Neuron SDK `nki` is installed: these tests target the simulator
    collect_ignore_glob = ["test_*.py", "kernels_sample.py"]
