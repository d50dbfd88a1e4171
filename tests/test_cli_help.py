"""One interface: every option says what it does and its default; `algoeff --help` lists every command."""

import argparse

import pytest

from algoeff import cli

# study's options are cli/study.py's (another module's contract); checked there.
SKIP = {"study"}


def _parsers(parser, path=("algoeff",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if name not in SKIP:
                    yield from _parsers(sub, (*path, name))


def _options():
    for path, parser in _parsers(cli.build_parser()):
        # one of a required group is required: no default to state
        one_of = {id(a) for g in parser._mutually_exclusive_groups if g.required for a in g._group_actions}
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            if id(action) in one_of:
                action = argparse.Action(action.option_strings, action.dest, help=action.help, required=True)
            yield " ".join(path), action


OPTIONS = list(_options())


@pytest.mark.parametrize("command, action", OPTIONS, ids=[f"{c} {'/'.join(a.option_strings) or a.dest}"
                                                          for c, a in OPTIONS])
def test_every_option_has_help_and_says_its_default(command, action):
    assert action.help, f"{command} {action.option_strings or action.dest}: no help text"
    takes_value = action.nargs != 0 and action.option_strings
    if takes_value and not action.required:
        assert "default" in action.help or "repeatable" in action.help, (
            f"{command} {action.option_strings}: help does not say the default: {action.help!r}")


def test_top_level_help_lists_every_ledger_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps help at the terminal's width
    assert "ledger the efficiency ledger: show, tables, validate, add, check, benchmark" in out


def test_usage_errors_are_one_line_with_the_error_class(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["ledger", "show", "--unit", "watts"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("UsageError: algoeff ledger show: argument --unit: invalid choice: 'watts'")
    assert len(err.splitlines()) == 1
