"""Model adapters: protocol, registry, built-in baselines, command and precomputed adapters."""
