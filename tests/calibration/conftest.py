import pytest

from calibration import sources


@pytest.fixture
def no_system_fashion_mnist(tmp_path, monkeypatch):
    """Simulates a machine without the dataset-fashion-mnist package."""
    empty = tmp_path / "no-fashion-mnist"
    empty.mkdir()
    monkeypatch.setenv(sources.FASHION_MNIST_ENV, str(empty))
    return empty
