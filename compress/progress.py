"""Progress on long work: one line per epoch and per artifact step.

On a TTY the lines go through rich (colour, a transient bar during epochs); elsewhere (CI,
pipes) plain lines on stderr; ``enabled=False`` (``--json``, the Python API by default)
prints nothing.
"""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """Reports progress of a run to stderr."""

    def __init__(self, *, enabled: bool = True, stream: Any = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._console = None
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)

    def info(self, message: str) -> None:
        """One line of progress."""
        if not self.enabled:
            return
        if self._console is not None:
            self._console.print(f"[cyan]•[/cyan] {message}")
        else:
            print(f"- {message}", file=self.stream, flush=True)

    def keras_callback(self, label: str, epochs: int, steps: int, *, keras: Any = None) -> Any:
        """A Keras callback printing one line per epoch (loss, accuracy, seconds).

        Args:
            keras: the Keras module of the model being fit (default: tf_keras).
        """
        if keras is None:
            from compress import _keras

            keras = _keras.keras
        progress = self

        class _EpochLines(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self._start = time.perf_counter()

            def on_epoch_begin(self, epoch, logs=None):
                self._epoch_start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                shown = ", ".join(f"{k} {v:.4f}" for k, v in logs.items()
                                  if isinstance(v, (int, float)))
                step_text = f" ({steps} steps)" if steps > 0 else ""
                progress.info(f"{label}: epoch {epoch + 1}/{epochs}{step_text} {shown} "
                              f"[{time.perf_counter() - self._epoch_start:.1f}s]")

        return _EpochLines()
