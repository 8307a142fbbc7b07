"""maskline: a self-hosted phone-number masking service speaking Plivo's Masking Session API."""

import functools
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it)


@functools.cache
def version() -> str:
    """The installed distribution's version; this source tree's when it is run uninstalled."""
    try:
        return _installed_version("maskline")
    except PackageNotFoundError:
        return __version__
