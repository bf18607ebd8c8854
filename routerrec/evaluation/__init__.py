"""routerrec.evaluation."""
