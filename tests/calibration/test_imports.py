import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_calibration_never_imports_tensorflow():
    code = ("import sys, calibration, calibration.sources, calibration.idx, calibration.images\n"
            "calibration.load_dataset('bundled')\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'tf_keras', 'compress'))\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_stream_names_stay_importable():
    from calibration import images, stream

    assert stream.LazyImages is images.LazyImages
    assert callable(stream.is_streamed) and not stream.is_streamed(images.np.zeros(2))
