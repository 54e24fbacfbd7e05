"""The command line's contract: user errors exit 2 with one line, Ctrl-C exits 130."""

from __future__ import annotations

import subprocess
import sys

import pytest

from unlearnlab import __version__, cli
from unlearnlab.errors import UserError


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    return caught.value.code


def test_version(capsys) -> None:
    cli.main(["--version"])
    assert capsys.readouterr().out.strip() == __version__


def test_the_module_runs_the_command_line() -> None:
    """``python -m unlearnlab`` (what ``accelerate launch -m unlearnlab`` runs)."""
    done = subprocess.run(
        [sys.executable, "-m", "unlearnlab", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == __version__


def test_user_error_is_one_line_and_exit_code_2(monkeypatch, capsys) -> None:
    def broken(*args, **kwargs):
        raise UserError('facts.jsonl:17: missing "object" [with brackets]')

    monkeypatch.setattr(cli, "app", broken)
    assert _exit_code([]) == 2
    err = capsys.readouterr().err
    assert err == 'error: facts.jsonl:17: missing "object" [with brackets]\n'


def test_ctrl_c_exits_130(monkeypatch, capsys) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "app", interrupted)
    assert _exit_code([]) == 130
    assert "re-run to resume" in capsys.readouterr().err


def test_unknown_command_exits_2(capsys) -> None:
    assert _exit_code(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err
