"""Configuration: kgraph.json, environment variables, setters and their validation."""

import importlib
import json
import os

import pytest

from kgraph import config


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh KGRAPH_HOME with no kgraph variables set; settings are re-read before and after."""
    for name in (
        "KGRAPH_BACKEND",
        "KGRAPH_CACHE_DIR",
        "KGRAPH_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
    ):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "kghome"
    monkeypatch.setenv("KGRAPH_HOME", str(path))
    config.reload()
    yield path
    config.reload()


def _write(home, data):
    home.mkdir(parents=True, exist_ok=True)
    (home / "kgraph.json").write_text(json.dumps(data) if isinstance(data, dict) else data)


def test_defaults_and_default_file(home):
    assert config.backend() == "cpu"
    assert config.floatx() == "float32"
    assert config.epsilon() == 1e-7
    assert config.image_data_format() == "channels_last"
    assert config.num_threads() == len(os.sched_getaffinity(0))
    assert config.cache_dir() == str(home / "cache")
    written = json.loads((home / "kgraph.json").read_text())
    expected = {"backend": "cpu", "floatx": "float32", "epsilon": 1e-7, "cache_dir": str(home / "cache")}
    assert written == expected
    # The temporary file of the atomic write is gone.
    assert sorted(os.listdir(home)) == ["kgraph.json"]


def test_import_reads_and_writes_nothing(home):
    importlib.reload(config)
    assert not home.exists()
    config.backend()
    assert (home / "kgraph.json").exists()


def test_file_settings_are_read(home):
    _write(home, {"backend": "numpy", "epsilon": 1e-5, "cache_dir": str(home / "kernels")})
    assert config.backend() == "numpy"
    assert config.epsilon() == 1e-5
    assert config.cache_dir() == str(home / "kernels")


def test_existing_file_is_not_overwritten(home):
    _write(home, {"backend": "numpy"})
    config.backend()
    assert json.loads((home / "kgraph.json").read_text()) == {"backend": "numpy"}


def test_env_backend_wins_over_file(home, monkeypatch):
    _write(home, {"backend": "numpy"})
    monkeypatch.setenv("KGRAPH_BACKEND", "cuda")
    assert config.backend() == "cuda"


def test_empty_env_backend_is_ignored(home, monkeypatch):
    _write(home, {"backend": "numpy"})
    monkeypatch.setenv("KGRAPH_BACKEND", "")
    assert config.backend() == "numpy"


def test_invalid_backends_raise_listing_valid_names(home, monkeypatch):
    monkeypatch.setenv("KGRAPH_BACKEND", "tensorflow")
    with pytest.raises(ValueError, match="KGRAPH_BACKEND.*'cpu', 'numpy', 'cuda', 'auto'"):
        config.backend()
    monkeypatch.delenv("KGRAPH_BACKEND")
    config.reload()
    _write(home, {"backend": "jax"})
    with pytest.raises(ValueError, match="kgraph.json"):
        config.backend()


def test_corrupt_file_falls_back_to_defaults(home):
    _write(home, "{not json")
    assert config.backend() == "cpu"
    assert config.epsilon() == 1e-7


def test_file_floatx_other_than_float32_raises(home):
    _write(home, {"floatx": "float64"})
    with pytest.raises(ValueError, match="float32"):
        config.floatx()


def test_set_backend(home):
    for name in ("numpy", "cuda", "auto", "cpu"):
        config.set_backend(name)
        assert config.backend() == name
    with pytest.raises(ValueError, match="Expected one of"):
        config.set_backend("torch")
    assert config.backend() == "cpu"


def test_set_floatx_and_epsilon(home):
    config.set_floatx("float32")
    with pytest.raises(ValueError, match="float32"):
        config.set_floatx("float16")
    assert config.floatx() == "float32"
    config.set_epsilon(1e-4)
    assert config.epsilon() == 1e-4
    with pytest.raises(ValueError):
        config.set_epsilon("small")


def test_cache_dir_env_override(home, monkeypatch, tmp_path):
    monkeypatch.setenv("KGRAPH_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert config.cache_dir() == str(tmp_path / "elsewhere")


def test_num_threads(home, monkeypatch):
    config.set_num_threads(4)
    assert config.num_threads() == 4
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="threads"):
            config.set_num_threads(bad)
    monkeypatch.setenv("KGRAPH_NUM_THREADS", "2")
    config.reload()
    assert config.num_threads() == 2
    monkeypatch.delenv("KGRAPH_NUM_THREADS")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    config.reload()
    assert config.num_threads() == 1


def test_image_data_format_only_channels_last(home):
    config.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="channels_last"):
        config.set_image_data_format("channels_first")


def test_unwritable_home_does_not_fail(tmp_path, monkeypatch):
    # A home below a regular file cannot be created, even by root.
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("KGRAPH_HOME", str(blocker / "kghome"))
    monkeypatch.delenv("KGRAPH_BACKEND", raising=False)
    monkeypatch.delenv("KGRAPH_CACHE_DIR", raising=False)
    config.reload()
    try:
        assert config.backend() == "cpu"
        assert config.cache_dir() == str(blocker / "kghome" / "cache")
    finally:
        config.reload()
