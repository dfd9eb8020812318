"""Kubernetes I/O: a thin REST layer, server-side apply, status writes and Events."""
