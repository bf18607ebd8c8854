"""routerrec.util."""
