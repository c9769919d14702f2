"""Arms: each turns a golden example into the request one way of solving the task would send.

One module per arm kind, found by the registry (see harness/registry.py): its config (a
pydantic model registered with `@ARMS.register(kind)`) and the Arm it builds.
"""

from harness.registry import ARMS

__all__ = ["ARMS"]
