"""Command-line entry points: `modelserve run|render` and the kubectl plugin."""
