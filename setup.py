"""Package discovery only; all metadata is in pyproject.toml.

rules/ and kernels/ sit at the top of the repository (the architecture's map) but install as
porter.rules and porter.kernels, so a wheel carries them and nothing else claims those names;
docs/rules/ (the generated rule pages) installs as porter.rule_pages.
"""

from setuptools import find_packages, setup

packages = find_packages(include=["porter", "porter.*"])
# Data folders (no __init__.py): listed as packages so their files install without setuptools'
# "absent from packages" warning.
packages += ["porter.rules", "porter.rule_pages", "porter.graph.data", "porter.emulate.bootstrap"]
packages += ["porter." + name for name in find_packages(include=["kernels", "kernels.*"])]

setup(
    packages=packages,
    # docs/rules (one page per rule) ships too: JSON `url` and SARIF `helpUri` point at it
    package_dir={"porter.rules": "rules", "porter.rule_pages": "docs/rules", "porter.kernels": "kernels"},
)
