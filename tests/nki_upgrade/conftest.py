"""Upgraded kernels run on porter's NKI simulator (registered as `nki`)."""

import porter.nki

porter.nki.install_simulator(force=True)
