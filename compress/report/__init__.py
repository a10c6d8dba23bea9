"""The report layer: frozen records (``records``), device and energy figures (``figures``),
renderers (``markdown``, ``html``), the run folder's report files (``files``) and run comparison
(``compare``). Nothing here imports TensorFlow or the session.

``compress.report.StageReport`` / ``ArtifactReport`` / ``Report`` / ``SCHEMA`` are the public
names (they live in ``records``).
"""

from compress.report.records import SCHEMA, ArtifactReport, Report, StageReport  # noqa: F401
