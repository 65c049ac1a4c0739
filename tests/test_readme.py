"""The README's commands are the ones CI runs and the ones the code accepts."""

import re
from pathlib import Path

from mobilei2v.cli.main import build_parser

ROOT = Path(__file__).parents[1]


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    test_command = readme_commands()[1]
    ci_lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci_lines[-1] == test_command


def test_readme_quick_start_commands_parse():
    first = readme_commands()[0]
    for part in first.split(" && "):
        if ".venv/bin/mobilei2v " in part:
            build_parser().parse_args(part.split(".venv/bin/mobilei2v ", 1)[1].split())
