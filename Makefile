# Pneumoscope: two commands do all set-up on a fresh machine with Python 3.11 and make.
#   make run    create .venv, install, start the app
#   make test   create .venv with the dev extra, run the default test suite
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
export QT_QPA_PLATFORM ?= offscreen
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test test-slow test-all lint app app-lite dist-archive bench bench-node clean default-model

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[tuning]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	@QT_QPA_PLATFORM= $(PY) -m gui.platform_check
	QT_QPA_PLATFORM= $(VENV)/bin/pneumoscope

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: $(STAMP_DEV) lint
	$(PY) -m pytest -m "not slow" -q

test-slow: $(STAMP_DEV)
	$(PY) -m pytest -m slow -q

test-all: test test-slow

bench: $(STAMP_DEV)
	$(PY) benchmarks/bench_operating.py
	$(PY) benchmarks/gradcam_latency.py
	$(PY) benchmarks/bench_gui.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_site_calibration.py
	$(PY) benchmarks/bench_cold_start.py --open ../shared/data/dicom/chest/rsna_00436515-870c-4b36-a041-de91049b9ab4.dcm --checkout-only

# The DICOM node under load (needs orthanc and dcmtk; several minutes).
bench-node: $(STAMP_DEV)
	$(PY) benchmarks/bench_node.py

app: $(STAMP_DEV)
	$(VENV)/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build build_spec/pneumoscope.spec

# The app without TensorFlow (dist/PneumoscopeLite): scores, explains, sets thresholds, reads and
# listens through the bundles' LiteRT models; training needs the full app.
app-lite: $(STAMP_DEV)
	PNEUMOSCOPE_APP_LITE=1 $(VENV)/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/lite build_spec/pneumoscope.spec

# The app folder as one compressed file to hand out, named with the version (core/__init__.py) and
# the system it was built on, with its sha256 next to it. Builds the app first. XZ_LEVEL=1 is about
# 6x faster and 13% bigger.
VERSION  := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' core/__init__.py)
ARCHIVE  := dist/Pneumoscope-$(VERSION)-$(shell uname -s | tr A-Z a-z)-$(shell uname -m).tar.xz
XZ_LEVEL ?= 6
dist-archive: app
	tar -C dist -cf - Pneumoscope | xz -T0 -$(XZ_LEVEL) > $(ARCHIVE).part
	mv $(ARCHIVE).part $(ARCHIVE)
	cd dist && { sha256sum $(notdir $(ARCHIVE)) 2>/dev/null || shasum -a 256 $(notdir $(ARCHIVE)); } > $(notdir $(ARCHIVE)).sha256
	@ls -l $(ARCHIVE)

default-model: $(STAMP_DEV)
	$(PY) scripts/train_default.py --out models/default --baseline

clean:
	rm -rf build dist .pytest_cache .ruff_cache
