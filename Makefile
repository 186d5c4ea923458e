# Two commands on a fresh machine:
#   make run    set up a virtual environment and start the service on the
#               seed live blogs: it polls them into an SQLite log and serves
#               the merged Atom feed at http://127.0.0.1:8080/feed.atom
#   make test   set up the same environment and run the test suite
# Also: make live (watch the feed grow from the live fixture), make collect
# (one poll of every source, then exit), make smoke (start, check, stop),
# make realpages (score the extractor on the real pages in tests/fixtures/realpages).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run live collect smoke test lint check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/aggregator run

# The fixture replays the seeds as they grew (600x); the service polls it every 2s.
live: $(STAMP)
	$(BIN)/aggregator fixtures serve & fixture=$$!; \
	trap 'kill $$fixture 2>/dev/null' EXIT; \
	$(BIN)/aggregator --config config/live.toml run

collect: $(STAMP)
	$(BIN)/aggregator collect

smoke: $(STAMP)
	bash .ci/smoke

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check aggregator tests
	$(BIN)/ruff format --check aggregator tests
	$(BIN)/mypy aggregator

check: lint test

# Benchmarks (bench/): every figure beside its baseline; var/bench/all.{json,md}.
# bench-quick runs them at a tiny size, only to prove they run (under a minute).
.PHONY: bench bench-quick
bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

# The extractor's recall and precision on real live-blog pages (a report; exits 0).
.PHONY: realpages
realpages: $(STAMP)
	$(BIN)/python -m bench.realpages

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
