"""``virtimu train selfpab-downstream`` is the same command as ``virtimu selfpab-downstream``."""
from __future__ import annotations

import pytest

import virtimu.cli
from virtimu.cli import _resolve_aliases, build_parser, main
from virtimu.selfpab.cli import cmd_selfpab_downstream

ARGS = ["--store", "s.zarr", "--source", "harth", "--split", "ratio", "--n-per-class", "4", "--out", "runs/x",
        "downstream.steps=5"]


def _parse(argv: list[str]):
    return build_parser().parse_args(_resolve_aliases(argv))


def test_both_spellings_parse_to_the_same_command_and_arguments() -> None:
    direct = _parse(["selfpab-downstream", *ARGS])
    alias = _parse(["train", "selfpab-downstream", *ARGS])
    assert alias.func is cmd_selfpab_downstream
    assert vars(alias) == vars(direct)
    assert alias.n_per_class == 4 and alias.overrides == ["downstream.steps=5"]


def test_global_options_before_the_command_are_kept() -> None:
    args = _parse(["-v", "train", "selfpab-downstream", *ARGS])
    assert args.verbose and args.func is cmd_selfpab_downstream


def test_ordinary_train_commands_are_untouched() -> None:
    argv = ["train", "cnn1d", "--store", "s.zarr", "--out", "r"]
    assert _resolve_aliases(argv) == argv
    assert _parse(argv).model == "cnn1d"
    # only the command position counts: a later 'selfpab-downstream' value is left alone
    argv = ["train", "cnn1d", "--store", "selfpab-downstream", "--out", "r"]
    assert _resolve_aliases(argv) == argv


def test_alias_runs_the_downstream_command(monkeypatch, tmp_path) -> None:
    seen = []
    monkeypatch.setattr(virtimu.cli, "EXTENSIONS", ("virtimu.selfpab.cli",))

    def fake(args):
        seen.append(vars(args).copy())
        return 0

    import virtimu.selfpab.cli as scli

    monkeypatch.setattr(scli, "cmd_selfpab_downstream", fake)
    assert main(["train", "selfpab-downstream", *ARGS]) == 0
    assert main(["selfpab-downstream", *ARGS]) == 0
    assert len(seen) == 2 and seen[0] == seen[1]


def test_train_help_mentions_the_alias(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "train selfpab-downstream" in capsys.readouterr().out
