"""The console script: its name in usage lines, --version, help for every option, exit codes (0 done, 1 a
failed input or run, 2 a usage error) and the package data its commands read."""
import argparse
import importlib.metadata
import importlib.resources
import subprocess
import sys
from pathlib import Path

import pytest

import microexpr
from microexpr.__main__ import build_parser
from conftest import ROOT

SCRIPT = Path(sys.executable).parent / "microexpr"  # the console script pip installed beside this Python


def _run(*args, cwd=ROOT):
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_version_is_the_packages_one():
    out = _run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"microexpr {microexpr.__version__}"
    assert importlib.metadata.version("microexpr") == microexpr.__version__  # pyproject reads it from there


def _subcommands(parser):
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


def test_usage_lines_name_the_console_script_and_every_option_has_help():
    parser = build_parser()
    assert parser.format_usage().startswith("usage: microexpr ")
    for name, command in _subcommands(parser).items():
        assert command.format_usage().startswith(f"usage: microexpr {name}"), name
        for action in command._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"microexpr {name}: {action.option_strings or action.dest} has no help text"
    text = _subcommands(parser)["synth"].format_help()
    assert "(default: 6)" in text and "(default: None)" not in text  # defaults stated, none for required ones


def test_exit_codes_tell_a_failed_input_from_a_usage_error(tmp_path):
    failed = _run("manifest", "--dataset", "casme2", "--root", tmp_path, "--out", tmp_path / "m.tsv",
                  "--report", tmp_path / "r.tsv")
    assert failed.returncode == 1 and "no coding sheet" in failed.stderr and str(tmp_path) in failed.stderr
    assert not (tmp_path / "m.tsv").exists()
    usage = _run("synth", "--out", tmp_path / "x", "--subjects", "many")
    assert usage.returncode == 2 and "invalid int value: 'many'" in usage.stderr
    assert _run("no-such-command").returncode == 2
    zero = _run("predict", "--model", tmp_path / "m.pt", tmp_path, "--fps", "0")
    assert zero.returncode == 2 and "--fps: must be a positive number, got 0" in zero.stderr


def test_config_reference_reads_the_schema_from_the_package_anywhere(tmp_path):
    schema = importlib.resources.files("microexpr") / "schemas" / "config.schema.yaml"
    assert schema.is_file()
    # package data: what a wheel ships (pyproject's package-data globs match the file)
    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["microexpr"]
    assert any(Path("schemas/config.schema.yaml").match(g) for g in globs)
    out = _run("config-reference", cwd=tmp_path)  # outside the checkout
    assert out.returncode == 0, out.stderr
    assert out.stdout == (ROOT / "docs" / "config-reference.md").read_text()


@pytest.mark.parametrize("command", ["synth", "manifest", "predict", "figures", "config-reference"])
def test_each_command_has_a_help_page(command):
    out = _run(command, "--help")
    assert out.returncode == 0 and out.stdout.startswith(f"usage: microexpr {command}")
