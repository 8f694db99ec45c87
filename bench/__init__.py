"""`make bench`: the hot paths measured side by side with this machine's ceilings."""
