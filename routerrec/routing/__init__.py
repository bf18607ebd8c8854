"""routerrec.routing."""
