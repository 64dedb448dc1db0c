"""`make bench`: figures behind trailkeeper's cost and speed claims, measured side by side in one run."""
