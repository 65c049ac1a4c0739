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


# Paths the repository's own text refers to: from its top-level folders, or a module below the package.
REPO_PATH = re.compile(r"(?<![\w/.-])((?:src|docs|configs|tests|benchmarks|examples|\.ci)/[\w./-]*[\w-])")
MODULE_PATH = re.compile(r"(?<![\w/.-])((?:models|diffusion|training|data|io|measures|evaluation|cli)/\w+\.py)")
MARKDOWN_LINK = re.compile(r"\]\((?!https?:|#)([^)#\s]+)")


def referenced_paths() -> list[tuple[Path, str, Path]]:
    """(file, reference, the path it names) for every path named in the README, docs, configs and code."""
    texts = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "configs").rglob("*.yaml"),
             *(ROOT / "src").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py"), *(ROOT / "tests").rglob("*.py")]
    found = []
    for file in texts:
        text = file.read_text()
        found += [(file, ref, ROOT / ref) for ref in REPO_PATH.findall(text)]
        found += [(file, ref, ROOT / "src" / "mobilei2v" / ref) for ref in MODULE_PATH.findall(text)]
        if file.suffix == ".md":
            found += [(file, ref, file.parent / ref) for ref in MARKDOWN_LINK.findall(text)]
    return found


def test_every_path_the_repository_refers_to_exists():
    found = referenced_paths()
    assert len(found) > 30  # the scan sees the references (README links, docs, module paths)
    missing = sorted({f"{file.relative_to(ROOT)}: {ref}" for file, ref, path in found if not path.exists()})
    assert not missing, "references to paths that do not exist:\n" + "\n".join(missing)


def test_nothing_refers_outside_the_repository():
    """A clone has only itself, not the spec folder the project was built beside: the repository explains
    itself (docs/architecture.md), and no text points at that folder or its sections."""
    texts = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "src").rglob("*.py"),
             *(ROOT / "tests").rglob("*.py"), *(ROOT / "configs").rglob("*.yaml")]
    offenders = [str(f.relative_to(ROOT)) for f in texts if re.search(r"\.\.[/\\]shared|\bSPEC §", f.read_text())
                 and f != Path(__file__)]
    assert not offenders
