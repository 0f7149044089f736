# Two commands do everything: `make run` (set up, ingest corpus/, start the app) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL := models/multilingual-e5-small
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run test ingest eval chromium bench clean

setup: $(VENV)/.installed $(MODEL)/modules.json

# torch first, alone: 2.13.0 resolves to the local CPU build, so requirements never pull CUDA wheels.
$(VENV)/.installed: requirements.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(MODEL)/modules.json: $(VENV)/.installed index/model_prep.py
	$(BIN)/python -m index.model_prep --dest $(MODEL)

ingest: setup
	$(BIN)/python cli.py ingest

eval: ingest
	$(BIN)/python cli.py eval

run: ingest
	$(BIN)/streamlit run app.py --server.address 127.0.0.1 --server.port 8501 --server.headless true \
		--browser.gatherUsageStats false

# Browser tests drive Debian's Chromium; Playwright cannot download its own browser here.
chromium:
	@test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium) \
		|| (sudo apt-get update -q && sudo apt-get install -y -q chromium)

test: setup chromium
	$(BIN)/python cli.py ingest --quiet
	$(BIN)/python cli.py eval
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

bench: setup
	$(BIN)/python bench/run.py --sizes 10000 100000

clean:
	rm -rf data tests/artifacts
