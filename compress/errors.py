"""Public home of the exception tree (defined in ``targets.errors``; see there why)."""

from targets import errors as _tree
from targets.errors import (  # noqa: F401
    BenchmarkError,
    CompressError,
    ConversionError,
    DataError,
    ModelLoadError,
    OutputError,
    RecipeError,
    TargetError,
    UnsupportedLayerError,
)

__all__ = [name for name in _tree.__all__ if name != "check_known_keys"]
