"""Where the workspace is: environment variables first, then the nearest .codetune.toml (what `make
run` writes, so the command line sees the dashboard's runs from anywhere in the checkout), then the
defaults; every command says which workspace it uses."""

from __future__ import annotations

import pytest

from engine.settings import load_settings


def test_the_nearest_settings_file_gives_the_workspace(tmp_path):
    (tmp_path / ".codetune.toml").write_text('home = "workspace"\ndata_dir = "../shared/data"\n', encoding="utf-8")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    settings = load_settings(env={}, cwd=deep)
    assert settings.home == (tmp_path / "workspace").resolve()
    assert settings.runs_dir == settings.home / "runs"
    assert settings.data_dir == (tmp_path.parent / "shared" / "data").resolve()
    assert settings.origin == str(tmp_path / ".codetune.toml")


def test_environment_variables_win_over_the_file(tmp_path):
    (tmp_path / ".codetune.toml").write_text('home = "workspace"\ndata_dir = "d"\n', encoding="utf-8")
    assert load_settings(env={"CODETUNE_HOME": str(tmp_path / "h")}, cwd=tmp_path).home == tmp_path / "h"
    only_data = load_settings(env={"CODETUNE_DATA_DIR": str(tmp_path / "other")}, cwd=tmp_path)
    assert only_data.home == tmp_path / "workspace" and only_data.data_dir == tmp_path / "other"


def test_without_a_file_the_defaults_apply(tmp_path):
    settings = load_settings(env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert settings.origin == "defaults" and settings.home.name == ".codetune"


@pytest.mark.parametrize("text, message", [("home = ", "cannot read the settings file"),
                                           ('hme = "x"', "unknown setting(s) ['hme']")])
def test_a_bad_settings_file_is_named(tmp_path, text, message):
    (tmp_path / ".codetune.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=r"\.codetune\.toml") as err:
        load_settings(env={}, cwd=tmp_path)
    assert message in str(err.value) and "Fix:" in str(err.value)


def test_the_cli_says_which_workspace_it_uses(tmp_path, monkeypatch, capsys):
    from ui import cli

    (tmp_path / ".codetune.toml").write_text('home = "ws"\n', encoding="utf-8")
    monkeypatch.delenv("CODETUNE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["status"]) == 0
    captured = capsys.readouterr()
    assert f"workspace {tmp_path / 'ws'} (from {tmp_path / '.codetune.toml'})" in captured.err
    assert f"no runs under {tmp_path / 'ws' / 'runs'}" in captured.out


def test_sandbox_help_is_the_sandboxs_own(capsys):
    from ui import cli

    with pytest.raises(SystemExit) as done:
        cli.main(["sandbox", "--help"])
    assert done.value.code == 0
    assert "--lang" in capsys.readouterr().out
