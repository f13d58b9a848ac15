"""One module per API resource; each class wraps a ``Transport`` (and nothing else)."""
