"""Autoscaling through a rollout: each serving revision gets its own HPA, bounded by its traffic share.

Pure. While the stable and the candidate both serve, each revision's HPA targets the same per-pod
metric (requests per second per pod), so each scales with the traffic it is actually sent; what this
module decides is the bounds they scale within, and how big the model as a whole is.

Why one HPA per revision, and not one decision split by weight: an HPA scales from the metric of the
pods it targets, so a revision's HPA follows that revision's own load (a slower candidate that needs
more pods for the same share gets them), and nothing of the operator sits between the metric and
the replica count — the operator never writes `spec.replicas` of a Deployment an HPA manages. The
bounds are what the operator controls, and they are derived so that:

- the maxima add up to the user's `maxReplicas`: the candidate may grow to its share of it,
  `ceil(max x w)`, the stable to the rest (each at least 1), so a surge during a canary cannot
  buy more than the user allowed;
- the minima add up to the user's `minReplicas` (or the predictive floor), never less: the candidate
  gets `floor(min x w)`, the stable the rest, each at least 1 (an HPA cannot hold a Deployment at 0);
- scale before weight still holds: the candidate's minimum is at least what the rollout machine
  needs Ready before it moves the weight (`candidate_need`), and its maximum is raised to that when
  the share is smaller. While the candidate is scaled ahead of its next weight, the maxima add up to
  `maxReplicas` plus those pre-scaled pods, exactly as without autoscaling;
- a revision at full size beside the serving one (blue-green preview, shadow, promotion) is pinned
  at `candidate_need` (the model's size), as without autoscaling.

After a promotion the candidate keeps the replicas it was scaled to (the whole model's size) and
takes the stable's HPA with the user's bounds; after a rollback the stable's bounds are the user's
again at once, so its HPA absorbs the whole demand at its next sync.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ScaleBounds:
    """One HPA's (minReplicas, maxReplicas); both at least 1."""

    min_replicas: int
    max_replicas: int


def split_bounds(
    min_replicas: int, max_replicas: int, weight: int, candidate_need: int
) -> tuple[ScaleBounds, ScaleBounds]:
    """(stable, candidate) HPA bounds while `weight` percent of the traffic goes to the candidate.

    `min_replicas`/`max_replicas`: the model's bounds (the minimum may already be a predictive
    floor); `candidate_need`: the candidate replicas the rollout machine wants now (its share of the
    current or next weight, or the whole model at a promotion or preview). See the module docstring.
    Raises ValueError for bounds the API server would reject (0 <= min <= max is required).
    """
    if min_replicas < 0 or max_replicas < min_replicas:
        raise ValueError(f"autoscaling bounds need 0 <= min <= max, got {min_replicas}/{max_replicas}")
    w = min(max(weight, 0), 100)
    cand_share_max = math.ceil(max_replicas * w / 100)
    cand_share_min = math.floor(min_replicas * w / 100)
    cand_max = max(cand_share_max, candidate_need, 1)
    stable_max = max(max_replicas - cand_share_max, 1)
    stable_min = min(max(min_replicas - cand_share_min, 1), stable_max)
    # What the stable's maximum cannot hold of the minimum goes to the candidate (min = max = 11 at 10 %).
    cand_min = min(max(cand_share_min, candidate_need, 1, min_replicas - stable_min), cand_max)
    return ScaleBounds(stable_min, stable_max), ScaleBounds(cand_min, cand_max)


def model_replicas(stable: int, candidate: int, weight: int) -> int:
    """How many replicas the model as a whole runs on, from the revisions' HPA-set counts.

    The stable's HPA sizes it for its share, `100 - weight` percent of the traffic, so the whole is
    `stable / (1 - weight)`; at weight 100 the stable carries nothing and the candidate is the whole.
    Never from the candidate below 100: its minimum is raised ahead of the next weight (scale before
    weight), and a size estimated from it would raise its own minimum again.
    """
    w = min(max(weight, 0), 100)
    if w >= 100:
        return candidate
    return math.ceil(stable * 100 / (100 - w))
