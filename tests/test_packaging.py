"""Pins agree between pyproject.toml and the conda env; the project never needs torchvision."""
import re
import subprocess
import sys
import tomllib

import yaml

from conftest import ROOT


def _name(req: str) -> str:
    return re.split(r"[=<>!~\[ ]", req, maxsplit=1)[0].lower()


def test_conda_env_carries_the_same_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {_name(r): r.replace(" ", "") for r in project["dependencies"]}
    assert pins["torch"] == "torch==2.13.0"
    assert "torchvision" not in pins  # only an optional extra
    for env in (ROOT / "envs").glob("*.yaml"):
        deps = yaml.safe_load(env.read_text())["dependencies"]
        pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
        env_pins = {_name(r): r.replace(" ", "") for r in pip}
        assert env_pins == pins, f"{env.name} disagrees with pyproject.toml"


def test_every_module_imports_without_torchvision():
    code = (
        "import importlib, pkgutil, sys, microexpr\n"
        "sys.modules['torchvision'] = None  # any import of it now fails\n"
        "for m in pkgutil.walk_packages(microexpr.__path__, 'microexpr.'):\n"
        "    importlib.import_module(m.name)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
