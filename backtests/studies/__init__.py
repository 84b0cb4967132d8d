"""Parameter studies: search spaces, samplers, trials, overfitting statistics."""
