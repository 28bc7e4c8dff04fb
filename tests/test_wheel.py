"""The built wheel is self-contained: installed outside the checkout, ``rag`` loads
its prompts and the eval question set from the package, ingests and answers.

Offline: the wheel is built without build isolation (setuptools from this venv)
and installed with ``--no-deps --target`` (the dependencies come from this venv).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rag import prompts

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # builds and installs a wheel (several seconds)

RECORDS = [
    {
        "title": "Glacier Retreat Measured by Lidar Drones",
        "abstract": "We measure the retreat of alpine glaciers with lidar mounted on drones. "
        "Over five summers the studied glaciers lost on average 14 meters of length per year. "
        "Drone lidar is cheaper than airborne surveys and resolves crevasses at 5 cm.",
        "year": 2021,
    },
    {
        "title": "Sourdough Fermentation Kinetics",
        "abstract": "We model the fermentation of sourdough starters as coupled yeast and "
        "lactobacillus growth. Acidity peaks after twelve hours at 24 degrees Celsius, "
        "and rye flour doubles the rate of carbon dioxide production compared with wheat.",
        "year": 2019,
    },
    {
        "title": "Sparse Attention for Protein Folding",
        "abstract": "A sparse attention transformer predicts protein contact maps from "
        "single sequences. Restricting attention to 64 neighbours cuts memory by a factor "
        "of eight while keeping contact precision within one point of dense attention.",
        "year": 2023,
    },
]


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{args}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a clean copy of the checkout: setuptools builds in place and puts
    # whatever a stale build/lib still holds into the wheel, which could hide a file
    # the packaging config no longer ships.
    src = tmp_path_factory.mktemp("checkout") / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".rag", ".env"))
    out = tmp_path_factory.mktemp("wheelhouse")
    _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
          "--no-index", "--quiet", "-w", str(out)])
    (built,) = out.glob("rag_abstracts-*.whl")
    return built


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
          "--target", str(target), str(wheel)])
    return target


def test_wheel_holds_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in prompts.EXPECTED_KEYS:
        assert f"rag/prompt_files/{name}.txt" in names
    assert "rag/evals/questions.jsonl" in names
    assert "rag/resources/minilm-tokenizer.json" in names
    for static in (ROOT / "rag" / "server" / "static").iterdir():
        assert f"rag/server/static/{static.name}" in names
    # The package list in pyproject.toml is explicit: a new subpackage must be added there.
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "rag").rglob("*.py")}
    assert not sources - names, "modules missing from the wheel (add the subpackage to pyproject.toml)"
    assert not [n for n in names if n.startswith(("prompts/", "evals/", "tests/"))]


SCRIPT = """
import json, sys
from importlib import resources
import rag, rag.cli
from rag import prompts
from rag.evals import questions
qs = questions.load()
print(json.dumps({
    "rag": rag.__file__,
    "modules": sorted(m.__file__ for n, m in sys.modules.items()
                      if (n == "rag" or n.startswith("rag.")) and getattr(m, "__file__", None)),
    "prompts": str(prompts.PROMPTS_DIR),
    "prompt_names": sorted(prompts.names()),
    "answer_user": prompts.load("answer_user"),
    "questions_path": str(questions.DEFAULT_PATH),
    "questions": len(qs),
    "splits": sorted({q.split for q in qs}),
}))
"""


def test_installed_wheel_answers_outside_the_checkout(site, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    corpus = work / "papers.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_", "PYTHON"))}
    env.update(
        PYTHONPATH=str(site),
        RAG_DATA_DIR=str(tmp_path / "data"),
        RAG_EMBED_BACKEND="hashing",
        RAG_LLM_BACKEND="fake",
    )

    def py(*args: str) -> subprocess.CompletedProcess:
        return _run([sys.executable, *args], cwd=work, env=env)

    # PYTHONPATH comes before the venv's editable finder: every rag module, the prompts
    # and the question set come from the installed copy, none from the checkout.
    info = json.loads(py("-c", SCRIPT).stdout)
    for path in (info["rag"], *info["modules"], info["prompts"], info["questions_path"]):
        assert Path(path).resolve().is_relative_to(site.resolve()), path
        assert not Path(path).resolve().is_relative_to(ROOT), path
    assert info["prompt_names"] == sorted(prompts.EXPECTED_KEYS)
    assert "{question}" in info["answer_user"]
    assert info["questions"] >= 100 and info["splits"] == ["dev", "test"]

    report = json.loads(py("-m", "rag.cli", "ingest", str(corpus), "--json").stdout)
    assert report["records"] == 3 and not report["rejected"]

    answer = json.loads(py("-m", "rag.cli", "ask", "How fast did the glaciers retreat measured with drone lidar?",
                           "--json").stdout)
    assert answer["abstained"] is False, answer
    assert answer["citations"], answer
    assert "Glacier" in json.dumps(answer["citations"]), answer
