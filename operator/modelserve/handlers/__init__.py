"""kopf handlers: thin files of decorators that feed the work queue. Nothing here plans anything.

Importing this package registers every kopf handler: one module per controller, imported plainly.
"""

from __future__ import annotations

from modelserve.handlers import operator, placement, sla

__all__ = ["operator", "placement", "sla"]
