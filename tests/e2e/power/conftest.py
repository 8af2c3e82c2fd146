"""The power e2e tests reuse the integration tier's real NUT fixture."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_path = Path(__file__).resolve().parents[2] / "integration" / "power" / "conftest.py"
_spec = importlib.util.spec_from_file_location("power_integration_fixtures", _path)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixtures  # dataclasses look their module up while being defined
_spec.loader.exec_module(_fixtures)

nut = _fixtures.nut
