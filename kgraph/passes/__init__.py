"""Graph-to-graph passes: autodiff, simplify, fuse, plan memory, and the pipeline that runs them."""
