"""routerrec.kernels."""
