"""Rewriting: applying the catalogue's fixes with libcst, markers for what cannot be fixed,
safe writes and the port report."""
