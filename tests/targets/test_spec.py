"""Device profiles: every built-in loads and cites its numbers; the loader is strict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from targets import spec
from targets.errors import TargetError

BUILTIN_IDS = {"mobile-cpu", "mobile-gpu", "rpi4", "rpi5", "rpi-32bit", "coral-usb",
               "coral-devboard"}
BUILTIN_FILES = sorted(spec.builtin_dir().glob("*.yaml"))


@pytest.fixture(autouse=True)
def isolated_profiles(tmp_path, monkeypatch):
    """No user profiles unless a test adds them; a fresh cache before and after."""
    monkeypatch.delenv(spec.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    spec.clear_cache()
    yield
    spec.clear_cache()


def valid_data() -> dict:
    """A valid profile as a plain mapping (rpi4 without the derived fields), for mutation."""
    data = spec.load_profile(spec.builtin_dir() / "rpi4.yaml").to_dict()
    del data["default_format"], data["path"]
    data["id"] = "my-board"
    return data


def write(folder: Path, data: dict, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load(tmp_path: Path, data: dict) -> spec.DeviceProfile:
    return spec.load_profile(write(tmp_path, data))


# -- the built-in profiles ------------------------------------------------------------------

def test_builtin_ids():
    assert set(spec.builtin_profiles()) == BUILTIN_IDS
    assert {f.stem for f in BUILTIN_FILES} == BUILTIN_IDS


@pytest.mark.parametrize("file", BUILTIN_FILES, ids=lambda f: f.stem)
def test_builtin_profile_loads_and_round_trips(file):
    profile = spec.load_profile(file)
    assert profile.id == file.stem and profile.path == str(file)
    assert profile.default_format == profile.formats[0]
    assert profile.runtime["package"] in spec.PACKAGES
    assert profile.runtime["install"].strip()
    data = json.loads(json.dumps(profile.to_dict()))  # JSON-able
    assert data["schema"] == spec.PROFILE_SCHEMA
    del data["default_format"], data["path"]
    assert spec.DeviceProfile.from_dict(data, path=str(file)) == profile


@pytest.mark.parametrize("pid", sorted(BUILTIN_IDS))
def test_every_number_has_a_source_and_kind(pid):
    profile = spec.builtin_profiles()[pid]
    figures = [profile.power_idle, profile.power_active, *profile.anchors]
    if profile.edgetpu:
        figures.append(profile.edgetpu)
    for fig in figures:
        source = fig["source"] if isinstance(fig, dict) else fig.source
        kind = fig["kind"] if isinstance(fig, dict) else fig.kind
        assert source.strip(), f"{pid}: a figure without a source"
        assert kind in ("measured", "published", "estimated")
        if kind == "estimated":
            assert "estimate" in source.lower(), f"{pid}: say how it was estimated: {source}"
    assert profile.power_idle.high <= profile.power_active.high
    assert profile.anchors, f"{pid}: needs at least one latency anchor"


def test_anchor_macs_are_the_reference_models():
    macs = {"mobilenet_v1_1.0_224": 569_000_000, "mobilenet_v2_1.0_224": 300_000_000}
    for profile in spec.builtin_profiles().values():
        for anchor in profile.anchors:
            assert anchor.macs == macs[anchor.model]


def test_published_figures_from_the_brief():
    p = spec.builtin_profiles()
    assert (p["rpi4"].power_idle.low, p["rpi4"].power_idle.high) == (1.6, 3.1)
    assert (p["rpi4"].power_active.low, p["rpi4"].power_active.high) == (5.0, 6.1)
    rpi4 = {(a.model, a.format): a.latency_ms for a in p["rpi4"].anchors}
    assert rpi4[("mobilenet_v2_1.0_224", "float32")] == 46
    assert rpi4[("mobilenet_v2_1.0_224", "int8")] == 17
    assert p["rpi5"].power_idle.low < 2.8 < p["rpi5"].power_idle.high
    assert p["rpi5"].power_active.low < 9.7 < p["rpi5"].power_active.high
    assert all(a.kind == "estimated" for a in p["rpi5"].anchors)
    for pid in ("coral-usb", "coral-devboard"):
        coral = p[pid]
        assert coral.formats == ("int8",) and coral.batch_size == 1 and coral.static_shapes
        assert coral.runtime["delegate"] == "edgetpu" and coral.op_set == "builtins_int8"
        assert coral.edgetpu["tops"] == 4 and coral.edgetpu["tops_per_watt"] == 2
        assert coral.edgetpu["cache_bytes"] == 8 * 1024 * 1024
        v1 = [a for a in coral.anchors if a.model == "mobilenet_v1_1.0_224"]
        assert v1[0].latency_ms == 2.4 and v1[0].kind == "published"
    assert "libedgetpu1-std python3-pycoral" in p["coral-usb"].runtime["install"]
    assert p["rpi-32bit"].arch == "armv7l" and p["rpi-32bit"].runtime["package"] == "tflite-runtime"
    for pid in ("mobile-cpu", "mobile-gpu"):
        assert p[pid].confidence == "low"
        assert p[pid].power_active.kind == "estimated"


# -- strict loading -------------------------------------------------------------------------

def test_unknown_top_level_key_suggests(tmp_path):
    data = valid_data()
    data["formts"] = data.pop("formats")
    with pytest.raises(TargetError, match="formts: unknown key 'formts'") as info:
        load(tmp_path, data)
    assert info.value.hint == "did you mean 'formats'?"
    assert "my-board.yaml" in info.value.message


def test_unknown_nested_key_names_its_path(tmp_path):
    data = valid_data()
    data["power_w"]["idle"]["sorce"] = data["power_w"]["idle"].pop("source")
    with pytest.raises(TargetError, match=r"power_w\.idle\.sorce: unknown key 'sorce'") as info:
        load(tmp_path, data)
    assert "did you mean 'source'" in info.value.hint


def test_unknown_anchor_key_names_its_index(tmp_path):
    data = valid_data()
    data["anchors"][1]["latency"] = data["anchors"][1].pop("latency_ms")
    with pytest.raises(TargetError, match=r"anchors\[1\]\.latency: unknown key") as info:
        load(tmp_path, data)
    assert "latency_ms" in info.value.hint


def test_missing_key(tmp_path):
    data = valid_data()
    del data["runtime"]["install"]
    with pytest.raises(TargetError, match="runtime: missing required key 'install'"):
        load(tmp_path, data)


def test_bad_kind(tmp_path):
    data = valid_data()
    data["power_w"]["active"]["kind"] = "guessed"
    with pytest.raises(TargetError, match=r"power_w\.active\.kind: must be one of measured, "
                                          r"published, estimated\. Received: kind='guessed'"):
        load(tmp_path, data)


def test_bad_anchor_kind(tmp_path):
    data = valid_data()
    data["anchors"][0]["kind"] = "publishd"
    with pytest.raises(TargetError, match=r"anchors\[0\]\.kind: .*Received: kind='publishd'") \
            as info:
        load(tmp_path, data)
    assert info.value.hint == "did you mean 'published'?"


def test_low_above_high(tmp_path):
    data = valid_data()
    data["power_w"]["idle"].update(low=3.5, high=1.6)
    with pytest.raises(TargetError, match=r"power_w\.idle: low must be <= high \(W\)\. "
                                          r"Received: low=3\.5, high=1\.6"):
        load(tmp_path, data)


def test_wrong_schema_version(tmp_path):
    data = valid_data()
    data["schema"] = "edgecompress.profile/2"
    with pytest.raises(TargetError, match="Received: schema='edgecompress.profile/2'") as info:
        load(tmp_path, data)
    assert spec.PROFILE_SCHEMA in info.value.hint


def test_missing_or_misspelt_schema(tmp_path):
    data = valid_data()
    data["schem"] = data.pop("schema")
    with pytest.raises(TargetError, match="schem: unknown key 'schem'") as info:
        load(tmp_path, data)
    assert info.value.hint == "did you mean 'schema'?"
    del data["schem"]
    with pytest.raises(TargetError, match="missing required key 'schema'"):
        load(tmp_path, data)


def test_unknown_format_suggests(tmp_path):
    data = valid_data()
    data["formats"] = ["int8", "flaot16"]
    with pytest.raises(TargetError, match=r"formats\[1\]: .*Received: formats='flaot16'") \
            as info:
        load(tmp_path, data)
    assert info.value.hint == "did you mean 'float16'?"


def test_duplicate_format(tmp_path):
    data = valid_data()
    data["formats"] = ["int8", "int8"]
    with pytest.raises(TargetError, match=r"each format at most once\. Received duplicates"):
        load(tmp_path, data)


@pytest.mark.parametrize("key, value, match", [
    ("batch_size", 0, r"batch_size: must be >= 1\. Received: batch_size=0"),
    ("default_threads", "4", r"default_threads: must be an integer\. Received: "
                             r"default_threads='4'"),
    ("static_shapes", "yes", r"static_shapes: must be true or false\. Received: "
                             r"static_shapes='yes'"),
    ("arch", "arm64", r"arch: must be one of .*Received: arch='arm64'"),
    ("confidence", "certain", r"confidence: .*Received: confidence='certain'"),
    ("id", "My Board", r"id: use lower-case .*Received: id='My Board'"),
])
def test_bad_scalar_values(tmp_path, key, value, match):
    data = valid_data()
    data[key] = value
    with pytest.raises(TargetError, match=match):
        spec.DeviceProfile.from_dict(data)


def test_bad_version_range(tmp_path):
    data = valid_data()
    data["runtime"]["version_range"] = "2.3 or newer"
    with pytest.raises(TargetError, match=r"runtime\.version_range: must be a pip version "
                                          r"specifier .*Received: version_range='2.3 or newer'"):
        load(tmp_path, data)


def test_non_positive_latency(tmp_path):
    data = valid_data()
    data["anchors"][0]["latency_ms"] = 0
    with pytest.raises(TargetError, match=r"anchors\[0\]\.latency_ms: must be > 0\. "
                                          r"Received: latency_ms=0"):
        load(tmp_path, data)


def test_edgetpu_rules(tmp_path):
    coral = spec.builtin_profiles()["coral-usb"].to_dict()
    del coral["default_format"], coral["path"]
    bad = dict(coral, formats=["int8", "float32"], op_set="builtins")
    with pytest.raises(TargetError, match=r"Edge TPU runs fully integer.*formats=\['int8', "
                                          r"'float32'\]"):
        spec.DeviceProfile.from_dict(bad)
    with pytest.raises(TargetError, match=r"batch_size=4"):
        spec.DeviceProfile.from_dict(dict(coral, batch_size=4))
    no_block = dict(coral)
    del no_block["edgetpu"]
    with pytest.raises(TargetError, match="delegate='edgetpu', edgetpu=None"):
        spec.DeviceProfile.from_dict(no_block)
    with pytest.raises(TargetError, match=r"edgetpu\.tpos: unknown key") as info:
        spec.DeviceProfile.from_dict(dict(coral, edgetpu={**coral["edgetpu"], "tpos": 4}))
    assert info.value.hint == "did you mean 'tops'?"


def test_power_figure_checks_itself():
    with pytest.raises(TargetError, match="Received: low=2.0, high=1.0"):
        spec.PowerFigure(2.0, 1.0, "a meter", "measured")
    with pytest.raises(TargetError, match="Received: kind='guess'"):
        spec.PowerFigure(1.0, 2.0, "a meter", "guess")
    with pytest.raises(TargetError, match="every figure needs a source"):
        spec.PowerFigure(1.0, 2.0, " ", "measured")
    assert spec.PowerFigure(1.0, 3.0, "a meter", "measured").mid == 2.0


def test_yaml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("schema: [unclosed\n")
    with pytest.raises(TargetError, match="broken.yaml: cannot read profile"):
        spec.load_profile(path)


def test_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(TargetError, match="must be a mapping at the top level. Received: list"):
        spec.load_profile(path)


# -- finding profiles -----------------------------------------------------------------------

def test_user_profiles_from_env(tmp_path, monkeypatch):
    one, two = tmp_path / "one", tmp_path / "two"
    write(one, valid_data())
    write(two, dict(valid_data(), id="other-board"))
    monkeypatch.setenv(spec.ENV_VAR, f"{one}{__import__('os').pathsep}{two}")
    assert spec.user_profile_dirs()[:2] == [one, two]
    profiles = spec.all_profiles()
    assert {"my-board", "other-board"} | BUILTIN_IDS == set(profiles)
    assert profiles["my-board"].path == str(one / "my-board.yaml")
    assert spec.get_profile("other-board").id == "other-board"
    assert set(spec.builtin_profiles()) == BUILTIN_IDS


def test_user_profiles_from_config_dir(tmp_path):
    folder = tmp_path / "xdg" / "edgecompress" / "profiles"
    write(folder, valid_data())
    assert folder in spec.user_profile_dirs()
    assert "my-board" in spec.all_profiles()


def test_user_profile_cannot_reuse_a_builtin_id(tmp_path, monkeypatch):
    path = write(tmp_path / "mine", dict(valid_data(), id="rpi4"))
    monkeypatch.setenv(spec.ENV_VAR, str(path.parent))
    with pytest.raises(TargetError, match="two profiles have id 'rpi4'") as info:
        spec.all_profiles()
    assert str(spec.builtin_dir() / "rpi4.yaml") in info.value.message
    assert str(path) in info.value.message


def test_file_name_must_match_id(tmp_path, monkeypatch):
    write(tmp_path / "mine", valid_data(), name="board")
    monkeypatch.setenv(spec.ENV_VAR, str(tmp_path / "mine"))
    with pytest.raises(TargetError, match="id must match the file name. Received: "
                                          "id='my-board' in board.yaml"):
        spec.all_profiles()


def test_missing_env_folder_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(spec.ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(TargetError, match="profile folder not found") as info:
        spec.all_profiles()
    assert spec.ENV_VAR in info.value.hint


def test_unknown_id_lists_valid_ids():
    with pytest.raises(TargetError, match="Received: 'rpi-4'. Valid ids: coral-devboard, "
                                          "coral-usb, mobile-cpu, mobile-gpu, rpi-32bit, "
                                          "rpi4, rpi5") as info:
        spec.get_profile("rpi-4")
    assert "did you mean 'rpi4'?" in info.value.hint


def test_get_profile_by_path(tmp_path):
    path = write(tmp_path, valid_data(), name="anything")  # a direct path needs no id match
    assert spec.get_profile(str(path)).id == "my-board"
    assert spec.get_profile(path).id == "my-board"
    with pytest.raises(TargetError, match="profile file not found"):
        spec.get_profile(str(tmp_path / "missing.yaml"))


def test_loaded_once_per_folder():
    spec.all_profiles()
    spec.all_profiles()
    info = spec._load_dir.cache_info()
    assert info.misses == 1 and info.hits >= 1


def test_no_tensorflow_and_no_work_at_import():
    code = ("import sys\n"
            "from targets import spec\n"
            "assert spec._load_dir.cache_info().currsize == 0, 'loaded at import'\n"
            "assert len(spec.all_profiles()) >= 7\n"
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
