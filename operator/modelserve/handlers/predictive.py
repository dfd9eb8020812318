"""kopf wiring for the predictive controller: none needed.

The forecast cycle (modelserve.reconcile.predictive) is a background task started by
handlers/operator.py with the shared context and work queue. It walks the queue's known
ModelDeployments every planning step, so the ModelDeployment watch in handlers/operator.py is all
it needs: a new or changed ModelDeployment is picked up at the next step, a deleted one is forgotten
when the queue forgets its key.
"""
