"""kopf handlers: a thin file of decorators that feed the work queue. Nothing here plans anything."""
