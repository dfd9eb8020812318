"""kopf handlers: thin files of decorators that feed the work queue. Nothing here plans anything."""

from __future__ import annotations

import importlib

# One module per controller; importing a module registers its kopf handlers and reconcilers.
MODULES = ("operator", "placement", "sla")


def load_all() -> None:
    for name in MODULES:
        importlib.import_module(f"modelserve.handlers.{name}")
