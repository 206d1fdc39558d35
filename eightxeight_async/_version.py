"""The package version, read by hatchling at build time and by the User-Agent at run time."""

__version__ = "0.1.0"
