"""routerrec.coldstart."""
