"""microhub: resilient micro-hubs for night markets, pop-ups and creator studios.

The public Python surface is small on purpose: open or create a hub and call the use cases in
:mod:`microhub.services`. Everything else is internal and may change.
"""

from microhub.errors import MicrohubError

__all__ = ["MicrohubError", "__version__"]

__version__ = "0.1.0"
