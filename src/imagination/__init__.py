"""imagination: benchmark neuro-oncology AI models on multicenter MRI/PET cohorts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("imagination")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
