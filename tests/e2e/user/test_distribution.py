"""Our three plugins installed the ways users install plugins, outside this repository.

* wheels built by ``uv build`` install into a clean virtualenv and answer ``--about``;
* Meltano installs the target from ``git+file://<repo>#subdirectory=target-atlassian-csm``
  (the test form of ``git+https://.../<repo>.git#subdirectory=...``);
* the distribution names share the ``csm-connectors-`` prefix (``tap-kustomer`` on PyPI is
  singer-io's tap, with the same executable), while plugin, executable and import package
  names stay what they were; every distribution carries the Apache-2.0 LICENSE.
"""

from __future__ import annotations

import json
import os
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.e2e.user.conftest import (
    DISTRIBUTIONS,
    MELTANO,
    ROOT,
    TARGET,
    TARGET_DEFINITION,
    UV,
    new_project,
    run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PREFIX = "csm-connectors-"


def pyproject(name: str) -> dict:
    return tomllib.loads((ROOT / name / "pyproject.toml").read_text())["project"]


def about_here(name: str) -> dict:
    exe = Path(MELTANO).with_name(name)
    done = run([str(exe), "--about", "--format", "json"], ROOT, {})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """A new virtualenv with only our three wheels (and their dependencies from PyPI)."""
    venv = tmp_path_factory.mktemp("clean") / "venv"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"UV_NO_PROGRESS": "1"}
    done = run([str(UV), "venv", "--python", str(Path(MELTANO).with_name("python")), str(venv)],
               venv.parent, env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    wheels = sorted(str(p) for p in wheelhouse.glob("csm_connectors_*.whl"))
    assert len(wheels) == len(DISTRIBUTIONS)
    done = run([str(UV), "pip", "install", "--python", str(venv / "bin/python"), *wheels],
               venv.parent, env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_the_wheel_installs_into_a_clean_venv_and_answers_about(
    clean_venv: Path, name: str
) -> None:
    """Same plugin, same executable, same settings as the development install."""
    done = run([str(clean_venv / "bin" / name), "--about", "--format", "json"], clean_venv, {})
    assert done.returncode == 0, done.stderr[-3000:]
    about = json.loads(done.stdout)
    assert about["name"] == name
    assert (
        about["settings"]["properties"].keys()
        == about_here(name)["settings"].get("properties", {}).keys()
    )
    package = name.replace("-", "_")
    probe = (
        "import importlib.metadata as m, json, " + package + ";"
        f"d = m.distribution('{PREFIX}{name}');"
        "print(json.dumps({'name': d.metadata['Name'], 'license': d.metadata['License-Expression'],"
        " 'files': [str(f) for f in d.files]}))"
    )
    done = run([str(clean_venv / "bin/python"), "-c", probe], clean_venv, {})
    assert done.returncode == 0, done.stderr[-2000:]
    meta = json.loads(done.stdout)
    assert meta["name"] == f"{PREFIX}{name}"
    assert meta["license"] == "Apache-2.0"
    assert any(f.endswith("/licenses/LICENSE") for f in meta["files"])


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_every_wheel_carries_the_repository_license(wheelhouse: Path, name: str) -> None:
    (wheel,) = wheelhouse.glob(f"csm_connectors_{name.replace('-', '_')}-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (license_name,) = [n for n in archive.namelist() if n.endswith("/licenses/LICENSE")]
        assert archive.read(license_name).decode() == (ROOT / "LICENSE").read_text()


def test_meltano_installs_the_target_from_the_git_repository_subdirectory(
    tmp_path: Path, wheelhouse: Path
) -> None:
    """``pip_url: git+...#subdirectory=target-atlassian-csm``: the committed tree, built by
    Meltano's installer; the plugin answers ``meltano invoke ... --about``."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    project = new_project(tmp_path, wheelhouse)
    definition = yaml.safe_load(TARGET_DEFINITION.read_text())
    definition["pip_url"] = f"git+file://{ROOT}#subdirectory={TARGET}"
    ref = tmp_path / "target.yml"
    ref.write_text(yaml.safe_dump(definition, sort_keys=False))
    # the wheelhouse must not be what gets installed here
    project.check("add", TARGET, "--from-ref", str(ref), UV_FIND_LINKS="")
    done = project.check("invoke", TARGET, "--about", "--format", "json", UV_FIND_LINKS="")
    assert json.loads(done.stdout)["name"] == TARGET
    venv = project.root / ".meltano" / "loaders" / TARGET / "venv"
    done = run([str(UV), "pip", "show", "--python", str(venv / "bin/python"),
                f"{PREFIX}{TARGET}"], project.root, dict(os.environ))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"Name: {PREFIX}{TARGET}" in done.stdout


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_distribution_names_share_one_prefix_and_keep_plugin_names(name: str) -> None:
    """Only the distribution name changed: executable and import package are the plugin's."""
    project = pyproject(name)
    assert project["name"] == f"{PREFIX}{name}"
    assert name in project["scripts"]  # the plugin's executable (the target also has -ops)
    assert all(name in script for script in project["scripts"])
    assert project["scripts"][name].split(".")[0] == name.replace("-", "_")
    assert project["license"] == "Apache-2.0"
    assert (ROOT / name / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert f"{PREFIX}{name}" in workspace["project"]["dependencies"]
    assert f"{PREFIX}{name}" in workspace["tool"]["uv"]["sources"]


def test_the_license_is_the_apache_license_the_packages_declare() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_about_reports_the_distribution_version(name: str) -> None:
    assert about_here(name)["version"] == pyproject(name)["version"]
