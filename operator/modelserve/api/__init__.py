"""Typed models of modelserve's custom resources, parsed once from the resource body."""
