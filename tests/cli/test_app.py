"""`mobilei2v app` without a server: its options, the warning when exposed, the message without gradio."""

import subprocess
import sys
from contextlib import contextmanager

import pytest

from mobilei2v.cli.main import main


@pytest.fixture
def served(monkeypatch):
    """Replaces the server with a recorder: the (host, port) the command asked for."""
    pytest.importorskip("gradio", reason='the web app needs the app extra: pip install -e ".[app]"')
    from mobilei2v.app import server

    calls = []

    @contextmanager
    def fake_serve(pipe, model_name, host, port):
        calls.append((model_name, host, port))
        yield type("Page", (), {"block_thread": lambda self: None})()

    monkeypatch.setattr(server, "serve", fake_serve)
    return calls


def test_help_names_the_options_and_the_local_default(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["app", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert exit_.value.code == 0
    assert "--model" in out and "--port" in out and "(default: 7860)" in out
    assert "--host" in out and "(default: 127.0.0.1)" in out


def test_local_by_default_and_a_warning_when_exposed(capsys, served, tiny_model_dir):
    assert main(["app", "--model", tiny_model_dir]) == 0
    out, err = capsys.readouterr()
    assert served == [(tiny_model_dir, "127.0.0.1", 7860)]
    assert "http://127.0.0.1:7860" in out and "warning" not in err

    assert main(["app", "--model", tiny_model_dir, "--host", "0.0.0.0", "--port", "8000"]) == 0
    err = capsys.readouterr().err
    assert served[-1] == (tiny_model_dir, "0.0.0.0", 8000)
    assert "warning: listening on 0.0.0.0" in err and "--host 127.0.0.1" in err


def test_a_missing_model_is_one_line_before_any_server(capsys, served, tmp_path):
    assert main(["app", "--model", str(tmp_path / "none")]) == 2
    assert "model folder not found" in capsys.readouterr().err
    assert served == []


def test_without_gradio_help_works_and_app_says_what_to_install():
    # A fresh interpreter in which `import gradio` fails, as where the app extra is not installed.
    script = ("import sys; sys.modules['gradio'] = None\n"
              "from mobilei2v.cli.main import main\n"
              "print('exit', main(['app']))\n"
              "main(['--help'])\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "exit 2" in result.stdout and "app" in result.stdout.split("exit 2", 1)[1]  # listed in --help
    assert 'pip install "mobilei2v[app]"' in result.stderr and "Traceback" not in result.stderr
