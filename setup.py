"""Package discovery only; all metadata is in pyproject.toml.

rules/ and kernels/ sit at the top of the repository (the architecture's map) but install as
porter.rules and porter.kernels, so a wheel carries them and nothing else claims those names;
docs/rules/ (the generated rule pages) installs as porter.rule_pages.
"""

from pathlib import Path

from setuptools import find_packages, setup

packages = find_packages(include=["porter", "porter.*"])
# Data folders (no __init__.py): listed as packages so their files install without setuptools'
# "absent from packages" warning.
packages += ["porter.rules", "porter.graph.data", "porter.emulate.bootstrap"]
packages += ["porter." + name for name in find_packages(include=["kernels", "kernels.*"])]
package_dir = {"porter.rules": "rules", "porter.kernels": "kernels"}
# docs/rules (one page per rule) ships too, where the tree has it: JSON `url` and SARIF `helpUri`
# point at it
if (Path(__file__).resolve().parent / "docs" / "rules").is_dir():
    packages.append("porter.rule_pages")
    package_dir["porter.rule_pages"] = "docs/rules"

setup(packages=packages, package_dir=package_dir)
