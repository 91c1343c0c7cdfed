"""The single source of the nexus version number."""

__version__ = "0.1.0"
