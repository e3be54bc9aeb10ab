"""The rule catalogue: TOML data, loaded by porter.source.catalogue. Not code."""
