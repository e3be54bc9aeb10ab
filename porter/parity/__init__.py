"""Parity: running reference vs candidate, comparison metrics, goldens, layerwise divergence."""
