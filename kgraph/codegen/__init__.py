"""Code generation: readable Numba source for each fused kernel and the step, cached on disk by content."""
