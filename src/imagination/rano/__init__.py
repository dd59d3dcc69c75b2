"""RANO 2.0 response assessment from two segmentations (pure functions, no weights)."""
