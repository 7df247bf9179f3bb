"""The package version, in its own module so that any module can import it without the package."""

__version__ = "0.1.0.dev0"
