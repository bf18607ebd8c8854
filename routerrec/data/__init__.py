"""routerrec.data."""
