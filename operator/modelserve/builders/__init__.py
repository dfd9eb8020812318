"""Builders of the objects a ModelDeployment owns: plain manifests, no I/O."""
