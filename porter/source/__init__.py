"""The static half: reading source, matching the rule catalogue, reporting findings."""
