# One command each: `make demo` and `make test` install what they need, then run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

# The demo's ports (each can be set: `make demo BOT_PORT=4000`); `make spike` and the README use the same.
BOT_PORT ?= 3978
GRAPH_PORT ?= 8443
PLAYGROUND_PORT ?= 56150
APPROVER_PLAYGROUND_PORT ?= 56151
COUNT ?= 20

.PHONY: install lock chromium ocr ocr-compare demo spike test fuzz lint bench package clean

install: $(VENV)/.installed node_modules/.installed

# Exactly the locked versions, each checked against its hash; then the project itself, without resolving anything.
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Re-pin every Python dependency (with hashes) after changing pyproject.toml; commit both lock files.
lock: $(VENV)/.installed
	$(PY) tools/lock.py

# --ignore-scripts: nothing here needs an install script; the Agents Toolkit CLI's optional keytar (a credential
# store for signing in) would otherwise try to compile against libsecret, which is not needed offline.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
	touch $@

# The end-to-end test drives the Agents Playground in Debian's Chromium (no browser download), with an emoji
# font so the screenshots show what Teams shows.
chromium:
	@{ command -v chromium >/dev/null 2>&1 && test -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf; } || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji; }

# Photos of the screen are read by Debian's Tesseract: its Latin-script model (every Latin language at once), Japanese,
# Chinese (both), Korean and Russian (bot/photo.py). The Noto fonts render the test photos of the error (tests/support/photos.py).
OCR_PACKAGES := tesseract-ocr tesseract-ocr-script-latn tesseract-ocr-jpn tesseract-ocr-chi-sim tesseract-ocr-chi-tra tesseract-ocr-kor tesseract-ocr-rus fonts-noto-core fonts-noto-cjk
ocr:
	@{ command -v tesseract >/dev/null 2>&1 && test -e /usr/share/tesseract-ocr/5/tessdata/Latin.traineddata \
	  && test -e /usr/share/tesseract-ocr/5/tessdata/jpn.traineddata && test -e /usr/share/tesseract-ocr/5/tessdata/chi_sim.traineddata && test -e /usr/share/tesseract-ocr/5/tessdata/rus.traineddata \
	  && test -e /usr/share/tesseract-ocr/5/tessdata/chi_tra.traineddata && test -e /usr/share/tesseract-ocr/5/tessdata/kor.traineddata \
	  && test -e /usr/share/fonts/truetype/noto/NotoSans-Regular.ttf && test -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc; } || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(OCR_PACKAGES); }

# The measurement that chose the OCR engine (README, "Photos of the screen"): Tesseract against PP-OCR, whose
# rapidocr-onnxruntime package goes into a venv of its own (.venv-ocr), not into the bot.
ocr-compare: install ocr
	test -x .venv-ocr/bin/python || $(PYTHON) -m venv .venv-ocr
	.venv-ocr/bin/python -m pip install --quiet rapidocr-onnxruntime==1.4.4
	$(PY) bench/ocr_compare.py --rapidocr-python .venv-ocr/bin/python

demo: install ocr
	$(PY) -m bot.demo --port $(BOT_PORT) --graph-port $(GRAPH_PORT) \
	  --playground-port $(PLAYGROUND_PORT) --approver-playground-port $(APPROVER_PLAYGROUND_PORT)

# With the demo running: a burst of COUNT bulk enrollment failures in its simulated tenant (an alert follows).
spike: $(VENV)/.installed
	$(PY) -m sim.spike --url https://127.0.0.1:$(GRAPH_PORT) --count $(COUNT)

test: install chromium ocr
	$(PY) -m pytest -q

# The HTTP edge's property-based fuzz test at length (make test runs 2,000 examples of it).
fuzz: install
	FUZZ_EXAMPLES=100000 $(PY) -m pytest -q tests/integration/test_edge_fuzz.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile

# Each prints its baseline, measured the same way in the same run, and the ratios.
bench: install ocr
	$(PY) bench/turns.py
	$(PY) bench/wave.py
	$(PY) bench/diagnosis.py
	$(PY) bench/ingest.py
	$(PY) bench/recognizer.py
	$(PY) bench/ocr.py
	$(PY) bench/logs.py
	$(PY) bench/polling.py

package: install
	$(PY) -m bot.package

clean:
	rm -rf $(VENV) .venv-ocr node_modules .pytest_cache .mypy_cache .ruff_cache
