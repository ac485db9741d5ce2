"""The README's examples run as written: Python blocks in-process and against a live server, curl blocks over HTTP.

Each curl command's documented answer (the ``# => {...}`` line after it) must equal
what the server returns, so the README cannot drift from the service.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, serve

README = ROOT / "README.md"
DOC_URL = "http://127.0.0.1:8000"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve(env={"VALGRAD_ACCESS_LOG": "false"}) as live:
        yield live.url


def _concatenated_json(text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    out, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        value, i = decoder.raw_decode(text, i)
        out.append(value)
    return out


def test_readme_has_examples() -> None:
    assert len(_blocks("python")) >= 3
    assert sum("curl" in b for b in _blocks("sh")) >= 4


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
@pytest.mark.slow
def test_python_example_runs(index: int, server: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(_blocks("python")[index])
    env = {**os.environ, "VALGRAD_URL": server}
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("index", [i for i, b in enumerate(_blocks("sh")) if "curl -s" in b and DOC_URL in b])
@pytest.mark.slow
def test_curl_example_answers_as_documented(index: int, server: str) -> None:
    block = _blocks("sh")[index]
    expected = [json.loads(line.split("# =>", 1)[1]) for line in block.splitlines() if line.startswith("# =>")]
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block.replace(DOC_URL, server)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert _concatenated_json(result.stdout) == expected


def test_configuration_table_lists_every_setting() -> None:
    from app.cli import settings_table

    text = README.read_text()
    documented = text.split("<!-- settings-table -->")[1].split("<!-- /settings-table -->")[0]
    assert documented.strip() == settings_table().strip()
