"""Hostile, corrupt and interrupted files: clear errors that name the file and the part, and atomic writes."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile

import h5py
import numpy as np
import pytest

import kgraph as keras
from tests.saving.models import data, mlp


def _saved(tmp_path, name="model.keras"):
    model = mlp(keras)
    path = tmp_path / name
    model.save(path)
    return model, path


def _rewrite(path, target, replace):
    """Copies the .keras zip at `path` to `target`, passing each member through `replace(name, bytes)`."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            content = replace(info.filename, source.read(info.filename))
            if content is not None:
                out.writestr(info.filename, content)
    return target


def _edit_weights(tmp_path, path, edit):
    def replace(name, content):
        if name != "model.weights.h5":
            return content
        scratch = tmp_path / "scratch.h5"
        scratch.write_bytes(content)
        with h5py.File(scratch, "a") as f:
            edit(f)
        return scratch.read_bytes()

    return _rewrite(path, tmp_path / "edited.keras", replace)


def test_truncated_and_garbage_files_name_the_file(tmp_path):
    _, path = _saved(tmp_path)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.keras"):
        keras.models.load_model(truncated)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(ValueError, match="garbage.h5.*HDF5"):
        keras.models.load_model(garbage)
    bad_json = _rewrite(path, tmp_path / "bad_json.keras", lambda n, c: b"{nope" if n == "config.json" else c)
    with pytest.raises(ValueError, match="bad_json.keras.*config.json"):
        keras.models.load_model(bad_json)
    no_weights = _rewrite(path, tmp_path / "no_weights.keras", lambda n, c: None if n.endswith(".h5") else c)
    with pytest.raises(ValueError, match="no 'model.weights.h5'"):
        keras.models.load_model(no_weights)


def test_wrong_shape_and_dtype_name_the_layer(tmp_path):
    model, path = _saved(tmp_path)
    dense = model.layers[0].name

    def wrong_shape(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = np.zeros((5, 8), np.float32)

    with pytest.raises(ValueError, match=rf"edited.keras.*layer '{dense}'.*\(5, 8\).*\(4, 8\)"):
        keras.models.load_model(_edit_weights(tmp_path, path, wrong_shape))

    def wrong_dtype(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = np.array([b"x"] * 8)

    with pytest.raises(ValueError, match=rf"layer '{dense}'.*dtype"):
        keras.models.load_model(_edit_weights(tmp_path, path, wrong_dtype))

    def missing(f):
        del f["layers/dense_1"]

    with pytest.raises(ValueError, match="no weights were found for layer"):
        keras.models.load_model(_edit_weights(tmp_path, path, missing))


def test_links_out_of_the_file_are_refused(tmp_path):
    _, path = _saved(tmp_path)
    (tmp_path / "other.h5").write_bytes(b"")

    def external(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.ExternalLink("/etc/passwd", "/x")

    with pytest.raises(ValueError, match="ExternalLink"):
        keras.models.load_model(_edit_weights(tmp_path, path, external))


def test_shape_bomb_dataset_is_not_read(tmp_path):
    _, path = _saved(tmp_path)

    def bomb(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset(
            "0", shape=(1 << 20, 1 << 16), dtype="f4", chunks=(1, 1 << 16), compression="gzip"
        )

    with pytest.raises(ValueError, match="shape"):
        keras.models.load_model(_edit_weights(tmp_path, path, bomb))


def test_zip_bomb_and_escaping_members(tmp_path):
    _, path = _saved(tmp_path)
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("metadata.json", source.read("metadata.json"))
        out.writestr("config.json", source.read("config.json"))
        out.writestr("model.weights.h5", b"\0" * (32 << 20))
    with pytest.raises(ValueError, match="bomb.keras.*model.weights.h5.*(zip bomb|expands)"):
        keras.models.load_model(bomb)
    escaping = _rewrite(path, tmp_path / "escape.keras", lambda n, c: c)
    with zipfile.ZipFile(escaping, "a") as out:
        out.writestr("../../evil.txt", b"x")
    with pytest.raises(ValueError, match="escapes"):
        keras.models.load_model(escaping)


def test_unknown_classes(tmp_path):  # a Lambda's lambda and safe mode: tests/layers/test_lambda.py
    _, path = _saved(tmp_path)

    def rename(class_name):
        def replace(name, content):
            if name != "config.json":
                return content
            config = json.loads(content)
            config["config"]["layers"][1]["class_name"] = class_name
            return json.dumps(config).encode()

        return replace

    unknown = _rewrite(path, tmp_path / "unknown.keras", rename("Conv7D"))
    with pytest.raises(TypeError, match="unknown.keras.*Conv7D"):
        keras.models.load_model(unknown)


def test_non_float32_dtype_is_refused(tmp_path):
    _, path = _saved(tmp_path)

    def replace(name, content):
        if name != "config.json":
            return content
        config = json.loads(content)
        config["config"]["layers"][1]["config"]["dtype"] = "float16"
        return json.dumps(config).encode()

    with pytest.raises(ValueError, match="only float32"):
        keras.models.load_model(_rewrite(path, tmp_path / "half.keras", replace))


_CHILD = textwrap.dedent(
    """
    import sys, time, zipfile
    import kgraph as keras
    import kgraph.saving.saving_api as saving_api
    from tests.saving.models import mlp

    def announce_and_hang():
        print("writing", flush=True)
        time.sleep(60)

    writestr = zipfile.ZipFile.writestr

    def slow_writestr(self, name, data, *args, **kwargs):
        writestr(self, name, data, *args, **kwargs)
        if name == "config.json":
            announce_and_hang()

    write_entries = saving_api.write_entries

    def slow_write_entries(h5file, entries):
        write_entries(h5file, entries[:2])
        announce_and_hang()

    zipfile.ZipFile.writestr = slow_writestr
    saving_api.write_entries = slow_write_entries
    getattr(mlp(keras), sys.argv[2])(sys.argv[1])
    """
)


@pytest.mark.parametrize("name, method", [("model.keras", "save"), ("model.weights.h5", "save_weights")])
def test_killed_save_leaves_the_previous_file_intact(tmp_path, name, method):
    model = mlp(keras)
    path = tmp_path / name
    getattr(model, method)(path)
    before = path.read_bytes()
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root}
    child = subprocess.Popen(
        [sys.executable, str(script), str(path), method], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert child.stdout.readline().strip() == "writing"
        assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # the new file is half written
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert path.read_bytes() == before
    x, _ = data()
    if method == "save":
        np.testing.assert_allclose(keras.models.load_model(path)(x), model(x), rtol=1e-6)
    else:
        other = mlp(keras)
        other.load_weights(path)
        np.testing.assert_allclose(other(x), model(x), rtol=1e-6)
