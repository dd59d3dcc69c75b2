"""Weight-free reference baselines: one module per family (see ``registry.BUILTINS``)."""
