"""Stock tracking for the warehouse team."""

__version__ = "0.4.2"
