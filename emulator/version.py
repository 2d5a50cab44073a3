"""The version of smemu (its own module: the layers below the Python API read it without
importing the package that lazily imports them)."""

__version__ = "0.1.0"
