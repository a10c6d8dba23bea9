"""pytest plugin for benchmarks/fuzz.py: the hypothesis profile ``bench``.

The ``long`` profile's settings (tests/conftest.py) with ``max_examples`` from
``EDGECOMPRESS_FUZZ_EXAMPLES``. Loaded with ``-p _fuzz_profile`` before tests/conftest.py,
which then loads the profile named by ``HYPOTHESIS_PROFILE``.
"""

import os

from hypothesis import HealthCheck, settings

if os.environ.get("EDGECOMPRESS_FUZZ_EXAMPLES"):
    settings.register_profile("bench", max_examples=int(os.environ["EDGECOMPRESS_FUZZ_EXAMPLES"]),
                              deadline=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
