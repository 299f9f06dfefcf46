"""Maps the repository's top-level parts onto the `storefleet` namespace.

DESIGN.md keeps one folder per part (operator/, runtime/, dev/); users import
them as storefleet.operator, storefleet.runtime and storefleet.dev. pyproject
metadata cannot compute the package list of a renamed tree, so this does.
"""

from setuptools import find_packages, setup

PARTS = ("operator", "runtime", "dev")

setup(
    packages=[
        f"storefleet.{name}"
        for part in PARTS
        for name in [part, *(f"{part}.{sub}" for sub in find_packages(part))]
    ],
    package_dir={f"storefleet.{part}": part for part in PARTS},
    include_package_data=True,
)
