"""What every owned object carries: names, labels and the owner reference."""

from __future__ import annotations

from dataclasses import dataclass

from modelserve import API_VERSION
from modelserve.api import constants as c


@dataclass(frozen=True)
class Owner:
    """The ModelDeployment that owns an object."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict:
        return {
            "apiVersion": API_VERSION,
            "kind": "ModelDeployment",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def base_labels(owner_name: str, model_name: str) -> dict[str, str]:
    """Standard labels shared by every object of one ModelDeployment."""
    return {
        c.LABEL_NAME: model_name,
        c.LABEL_INSTANCE: owner_name,
        c.LABEL_MANAGED_BY: c.MANAGED_BY,
        c.LABEL_MODEL: owner_name,
    }


def metadata(
    owner: Owner, name: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> dict:
    meta: dict = {
        "name": name,
        "namespace": owner.namespace,
        "labels": dict(labels),
        "ownerReferences": [owner.reference()],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def deployment_name(owner_name: str, revision: str, region: str | None = None) -> str:
    """`<md>-<revision>` or `<md>-<revision>-<region>`: one Deployment per revision (and region)."""
    return f"{owner_name}-{revision}" + (f"-{region}" if region else "")
