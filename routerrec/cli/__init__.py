"""routerrec.cli."""
