"""Release helpers for the platform team."""
