"""pytest plugin for `--verify`: the NKI simulator is `nki` before any test module imports it."""

import porter.nki

porter.nki.install_simulator(force=True)
