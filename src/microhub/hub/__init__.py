"""The hub's web app: API for paired devices and the point-of-sale PWA (see docs/hub.md)."""

from microhub.hub.app import API, create_app

__all__ = ["API", "create_app"]
