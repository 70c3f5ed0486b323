"""A Hugging Face Hub on loopback for tests (see server.py for the HTTP API it serves)."""

from .server import (
    LFS_THRESHOLD,
    HubEmulator,
    emulated_hub,
    guard_network,
    point_clients_at,
)

__all__ = ["LFS_THRESHOLD", "HubEmulator", "emulated_hub", "guard_network", "point_clients_at"]
