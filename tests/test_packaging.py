"""kazoo-vm as an installable package: what the wheel needs is inside the package, read through importlib
(issue 12). `.ci/consumer-test` checks the built wheel itself, in a virtualenv of its own."""
from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kazoo_vm
from kazoo_vm import _data
from kazoo_vm.devtools.local_couch import LocalCouch, LocalCouchError, pouchdb_server

ROOT = Path(__file__).resolve().parents[1]


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def test_every_package_of_kazoo_vm_is_listed_for_the_wheel():
    options = setup_cfg()["options"]
    listed = set(options["packages"].split())
    mapped = {line.split("=")[0].strip() for line in options["package_dir"].strip().splitlines()}
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "kazoo_vm").rglob("__init__.py")}
    assert listed == found | mapped


def test_the_data_folders_are_read_from_the_package_as_they_are_in_the_repository():
    for folder, shipped in (("schemas", _data.schemas_folder()), ("couch_views", _data.couch_views_folder())):
        files = sorted(path.relative_to(ROOT / folder) for path in (ROOT / folder).rglob("*.json"))
        assert files
        for name in files:
            assert shipped.joinpath(*name.parts).read_bytes() == (ROOT / folder / name).read_bytes()


def test_the_email_templates_are_read_from_the_package_as_they_are_in_the_repository():
    files = sorted(path.relative_to(ROOT / "email_templates") for path in (ROOT / "email_templates").glob("*/*.*"))
    assert {name.name for name in files} >= {"subject.txt", "text.txt", "html.html"}
    for name in files:
        assert _data.email_templates_folder().joinpath(*name.parts).read_bytes() == \
            (ROOT / "email_templates" / name).read_bytes()
    package_data = setup_cfg()["options.package_data"]["kazoo_vm._data.email_templates"]
    assert {pattern.strip() for pattern in package_data.split(",")} == {f"*/*{suffix}" for suffix in
                                                                       {name.suffix for name in files}}


def test_no_module_finds_files_from_its_own_location():
    """An installed package has no checkout around it: no `__file__` paths, no `parents[N]`."""
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "kazoo_vm").rglob("*.py")
                 if "__file__" in path.read_text() or "parents[" in path.read_text()]
    assert offenders == []


def test_version_has_one_source_and_the_command_prints_it():
    assert setup_cfg()["metadata"]["version"] == "attr: kazoo_vm.__version__"
    result = subprocess.run([sys.executable, "-m", "kazoo_vm", "--version"], capture_output=True, text=True,
                            timeout=60)
    assert (result.returncode, result.stdout) == (0, f"kazoo-vm {kazoo_vm.__version__}\n")


def program(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def no_pouchdb(tmp_path, monkeypatch) -> Path:
    """No KAZOO_VM_POUCHDB_SERVER, nothing on PATH, the current folder a fresh project below tmp_path."""
    monkeypatch.delenv("KAZOO_VM_POUCHDB_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    project = tmp_path / "project" / "tests"
    project.mkdir(parents=True)
    monkeypatch.chdir(project)
    return tmp_path


def test_pouchdb_server_is_missing_with_advice(no_pouchdb):
    with pytest.raises(LocalCouchError, match="npm install pouchdb-server.*KAZOO_VM_COUCHDB_URL"):
        pouchdb_server()


def test_pouchdb_server_on_path_then_the_nearest_node_modules_then_the_variable(no_pouchdb, monkeypatch):
    on_path = program(no_pouchdb / "bin" / "pouchdb-server")
    assert pouchdb_server() == on_path
    projects = program(no_pouchdb / "project" / "node_modules" / ".bin" / "pouchdb-server")
    assert pouchdb_server() == projects
    monkeypatch.setenv("KAZOO_VM_POUCHDB_SERVER", os.path.relpath(on_path))
    assert pouchdb_server() == on_path


def test_a_pouchdb_server_variable_naming_nothing_is_an_error(no_pouchdb, monkeypatch):
    monkeypatch.setenv("KAZOO_VM_POUCHDB_SERVER", str(no_pouchdb / "nowhere"))
    with pytest.raises(LocalCouchError, match="KAZOO_VM_POUCHDB_SERVER"):
        pouchdb_server()


def test_a_relative_data_folder_is_below_the_current_folder(tmp_path, monkeypatch):
    """`kazoo-vm dev` keeps its data in var/couchdb of the current folder, though PouchDB Server runs in it."""
    monkeypatch.chdir(tmp_path)
    with LocalCouch(data_dir=Path("var") / "couchdb"):
        pass
    assert (tmp_path / "var" / "couchdb" / "data").is_dir()
