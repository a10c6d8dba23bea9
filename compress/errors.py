"""Public home of the exception tree (defined in ``targets.errors``; see there why)."""

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

__all__ = [
    "CompressError",
    "RecipeError",
    "ModelLoadError",
    "UnsupportedLayerError",
    "DataError",
    "ConversionError",
    "TargetError",
    "BenchmarkError",
    "OutputError",
]
