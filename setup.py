"""Package discovery only; all metadata is in pyproject.toml.

rules/ and kernels/ sit at the top of the repository (the architecture's map) but install as
porter.rules and porter.kernels, so a wheel carries them and nothing else claims those names.
"""

from setuptools import find_packages, setup

packages = find_packages(include=["porter", "porter.*"])
# Data folders (no __init__.py): listed as packages so their files install without setuptools'
# "absent from packages" warning.
packages += ["porter.rules", "porter.graph.data", "porter.emulate.bootstrap"]
packages += ["porter." + name for name in find_packages(include=["kernels", "kernels.*"])]

setup(
    packages=packages,
    package_dir={"porter.rules": "rules", "porter.kernels": "kernels"},
)
