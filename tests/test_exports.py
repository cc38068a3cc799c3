"""Each package says what it exports (``__all__``), and everything a package or module exports exists.

A name in ``__all__`` that is gone breaks ``from leadpipe.x import *`` and misleads the reader about what
others may import. A package that re-exports nothing lists its public modules.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import leadpipe


def _modules() -> list[tuple[ModuleType, bool]]:
    """Every module of leadpipe, imported (so a package's submodules are its attributes), and whether it
    is a package. ``__main__`` would run the command."""
    found = [(leadpipe, True)]
    for info in pkgutil.walk_packages(leadpipe.__path__, "leadpipe."):
        if not info.name.endswith(".__main__"):
            found.append((importlib.import_module(info.name), info.ispkg))
    return found


MODULES = _modules()


@pytest.mark.parametrize(
    "package", [module for module, is_package in MODULES if is_package], ids=lambda module: module.__name__
)
def test_each_package_says_what_it_exports(package: ModuleType) -> None:
    assert isinstance(getattr(package, "__all__", None), list), f"{package.__name__} has no __all__"


@pytest.mark.parametrize(
    "module",
    [module for module, _ in MODULES if hasattr(module, "__all__")],
    ids=lambda module: module.__name__,
)
def test_every_exported_name_exists(module: ModuleType) -> None:
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{module.__name__}.__all__ names what it does not have: {missing}"
