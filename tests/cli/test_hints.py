"""Every hint that names a command or an option names one that exists, checked against the real Typer app.

Hints are the strings of the package (messages, help texts, docstrings) and the command lines of the README and
``docs/``. A ``wearfm <command> ... --option`` hint must name a command and options of that command; a bare
``--option`` suggestion in a module must be an option of a command that runs that module's code.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import typer.main

from wearfm.cli import app

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "wearfm"
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# `wearfm cmd ...` inside backticks, or at the start of a line (docstring examples) when cmd is a command; the hint
# ends at a closing backtick, a semicolon, a closing parenthesis or the end of the line
COMMAND_HINT = re.compile(r"(`|^[ \t]*(?:\$ )?)wearfm ([a-z][a-z0-9-]*)([^`;)\n]*)", re.MULTILINE)
# a placeholder standing for an f-string's formatted value
HOLE = "{}"

# Library modules -> the commands whose runs reach their messages (the cli/ modules are found from the app).
REACHED_BY = {
    "wearfm/io/": ("ingest", "info"),
    "wearfm/data/paired.py": ("pair",),
    "wearfm/text.py": ("pair",),
    "wearfm/data/": ("pretrain", "probe", "export", "embed"),
    "wearfm/train/": ("pretrain",),
    "wearfm/methods/": ("pretrain",),
    "wearfm/objectives/": ("pretrain",),
    "wearfm/models/motif_distance.py": ("pretrain",),
    "wearfm/models/": ("pretrain", "probe", "export", "embed"),
    "wearfm/probe/": ("probe",),
    "wearfm/export/embed.py": ("embed",),
    "wearfm/export/classifier.py": ("export",),
    "wearfm/classify/": ("classify", "export"),
    "wearfm/export/": ("export", "embed"),
    "wearfm/quickstart.py": ("quickstart",),
    "wearfm/simulate.py": ("quickstart",),
}


def _long_options(cmd: object) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")} | {"--help"}  # type: ignore[attr-defined]


def _leaves(cmd: object) -> list[object]:
    """The commands under ``cmd``: itself, or for a sub-app (``wearfm classify fit|...``) each of its commands."""
    subs = getattr(cmd, "commands", None)
    return [leaf for sub in subs.values() for leaf in _leaves(sub)] if subs else [cmd]


def _commands() -> dict[str, set[str]]:
    """Command name -> its long options (and the app's own, e.g. --version), from the click command Typer builds.

    A sub-app's name maps to the options of all its commands (``wearfm classify fit --shots`` is ``classify``).
    """
    group = typer.main.get_command(app)
    root = _long_options(group)
    return {
        name: set().union(*(_long_options(leaf) for leaf in _leaves(cmd))) | root
        for name, cmd in group.commands.items()  # type: ignore[attr-defined]
    }


COMMANDS = _commands()
# "ingest with --subject-from": prose that names the command an option belongs to
PROSE_HINT = re.compile(rf"\b({'|'.join(COMMANDS)}) with (--[a-z][a-z0-9-]*)")
CLI_MODULES: dict[str, set[str]] = {}
for _name, _cmd in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
    for _leaf in _leaves(_cmd):
        CLI_MODULES.setdefault(_leaf.callback.__module__.replace(".", "/") + ".py", set()).add(_name)  # type: ignore[attr-defined]


def _strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal in ``path``; an f-string's values become ``{}``."""
    tree = ast.parse(path.read_text())
    inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else HOLE for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inner:
            text = node.value
        else:
            continue
        out.append((node.lineno, text))
    return out


def _command_hints(text: str) -> list[tuple[str, list[str]]]:
    """(command, options) of each ``wearfm <command> ...`` (or ``<command> with --option``) hint in ``text``."""
    hints = [
        (m.group(2), OPTION.findall(m.group(3)))
        for m in COMMAND_HINT.finditer(text)
        if m.group(1) == "`" or m.group(2) in COMMANDS
    ]
    return hints + [(m.group(1), [m.group(2)]) for m in PROSE_HINT.finditer(text)]


def _reached_by(rel: str) -> set[str]:
    if rel in CLI_MODULES:
        return CLI_MODULES[rel]
    for prefix, cmds in REACHED_BY.items():
        if rel == prefix or (prefix.endswith("/") and rel.startswith(prefix)):
            return set(cmds)
    return set(COMMANDS)  # shared modules (config, errors, registry): any command


def _source_problems() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        reached = _reached_by(rel)
        for line, text in _strings(path):
            named = set()
            for cmd, opts in _command_hints(text):
                if cmd not in COMMANDS:
                    problems.append(f"{rel}:{line}: `wearfm {cmd}` is not a command ({text!r})")
                    continue
                named.update(opts)
                problems += [
                    f"{rel}:{line}: `wearfm {cmd}` has no {o} ({text!r})" for o in opts if o not in COMMANDS[cmd]
                ]
            for o in set(OPTION.findall(text)) - named:
                if not any(o in COMMANDS[c] for c in reached):
                    problems.append(f"{rel}:{line}: {o} is not an option of {sorted(reached)} ({text!r})")
    return problems


def _doc_command_lines() -> list[tuple[str, str]]:
    """(where, command line) of each ``wearfm ...`` line in the README's and docs' code blocks (joined at ``\\``)."""
    out = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        in_code, pending = False, ""
        for i, raw in enumerate(path.read_text().splitlines(), 1):
            if raw.lstrip().startswith("```"):
                in_code, pending = not in_code, ""
                continue
            if not in_code:
                continue
            line = pending + raw.split("  #")[0].strip()
            pending = line[:-1] + " " if line.endswith("\\") else ""
            if pending:
                continue
            m = re.match(r"(?:.*?(?:-m|&&|\|)\s+)?wearfm ([a-z][a-z0-9-]*)(.*)", line)
            if m:
                out.append((f"{path.name}:{i}", f"wearfm {m.group(1)}{m.group(2)}"))
    return out


def test_collectors_find_hints() -> None:
    """The collectors see the hints they are meant to check (so an empty result cannot pass silently)."""
    assert _command_hints("resample it with `wearfm ingest --resample {}` or drop --strict") == [
        ("ingest", ["--resample"])
    ]
    assert _command_hints("    wearfm pretrain DATA --method relcon --out runs/x\n") == [
        ("pretrain", ["--method", "--out"])
    ]
    assert _command_hints("the wearfm version that wrote it") == []
    assert _command_hints("wearfm version that wrote it") == []  # a line start that is no command: prose
    assert _command_hints("`wearfm versoin`") == [("versoin", [])]  # in backticks: must be a command
    assert _command_hints("(ingest with --label-col)") == [("ingest", ["--label-col"])]
    n_strings = sum(len(_strings(p)) for p in PACKAGE.rglob("*.py"))
    n_hints = sum(1 for p in PACKAGE.rglob("*.py") for _, t in _strings(p) if _command_hints(t) or OPTION.search(t))
    assert n_strings > 1000 and n_hints > 100
    assert len(_doc_command_lines()) > 20
    assert CLI_MODULES["wearfm/cli/export.py"] == {"export", "embed"}


def test_a_hint_naming_a_missing_option_is_caught() -> None:
    """The check itself fails on the hints this test exists for."""
    assert _command_hints("`wearfm ingest --resample-hz 30`")[0][1][0] not in COMMANDS["ingest"]
    assert not any("--bogus" in COMMANDS[c] for c in _reached_by("wearfm/train/loop.py"))


def test_source_hints_name_real_commands_and_options() -> None:
    problems = _source_problems()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("where,line", _doc_command_lines())
def test_documented_command_lines_parse(where: str, line: str) -> None:
    """Each documented command line names a real command and only its options (values are not checked)."""
    words = shlex.split(line.replace("...", ""))
    cmd = words[1]
    assert cmd in COMMANDS, f"{where}: `wearfm {cmd}` is not a command"
    bad = [w.split("=")[0] for w in words[2:] if w.startswith("--") and w.split("=")[0] not in COMMANDS[cmd]]
    assert not bad, f"{where}: `wearfm {cmd}` has no {bad}"


def test_documented_inline_hints_name_real_options() -> None:
    """Inline `wearfm <command> --option` spans of the README and docs name options of that command."""
    problems = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for cmd, opts in _command_hints(path.read_text()):
            if cmd not in COMMANDS:
                problems.append(f"{path.name}: `wearfm {cmd}` is not a command")
            else:
                problems += [f"{path.name}: `wearfm {cmd}` has no {o}" for o in opts if o not in COMMANDS[cmd]]
    assert not problems, "\n".join(problems)
