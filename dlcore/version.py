"""The dlcore version (``dlcore.__version__``), in a module of its own so that
:mod:`dlcore.io` can record it in model cards without importing the package back."""

__version__ = "0.1.0"
