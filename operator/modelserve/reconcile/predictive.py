"""The predictive autoscaler's forecast cycle (filled in by the predictive-autoscaling capability).

`start(ctx, queue)` is called once at operator start-up and may return an asyncio Task.
"""
