"""The public surface is curated: exported names are exactly what we mean to export."""

from __future__ import annotations

import importlib
import pkgutil

import microhub


def test_top_level_exports() -> None:
    """`import microhub` exposes only the version and the base error."""
    assert sorted(microhub.__all__) == ["MicrohubError", "__version__"]


def test_every_module_all_names_exist() -> None:
    """Every module that declares __all__ defines each name in it."""
    for info in pkgutil.walk_packages(microhub.__path__, "microhub."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{info.name}.__all__ names missing {name!r}"
