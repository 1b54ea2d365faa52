# pocket - plain `make` build (Linux, Termux). No configure step.
#
#   make                  library, bin/pocket, tests and benchmarks for this machine
#   make test             build and run every unit test
#   make test-arm         cross-build with aarch64-linux-gnu-g++, run the tests under qemu-aarch64
#   make test SANITIZE=address,undefined    the tests under ASan + UBSan
#   make test SIMD=scalar the tests with every SIMD path switched off (the portable fallback)
#   make bench-smoke      the benchmarks at tiny sizes (a check that they run, not a measurement)
#   make bench-ppl        perplexity of stories260K quantized to f16/q8_0/q4_0/q4_k (needs ../shared)
#   make fuzz             GGUF, config.json, JSONL task, safetensors, journal readers and the side protocol's
#                         decoders under libFuzzer, FUZZ_SECONDS each (clang++)
#   make deps             install what the build needs (apt on Debian/Ubuntu, pkg on Termux)
#   make demo             installs, builds bin/pocket, tunes a tiny model on a held-out task (pocket tune)
#
#   make PORTABLE=1       one binary for any CPU of this architecture, kernels chosen at run time
#
# ARCH=... overrides the detected -march value (e.g. ARCH=x86-64-v3 builds the AVX2 path on an
# AVX-512 machine). Variant builds (other ARCH, SANITIZE, SIMD, CXX) live in their own build/
# folder so they never mix objects with the default one.

ifeq ($(origin CXX),default)
  CXX := $(shell command -v g++ >/dev/null 2>&1 && echo g++ || echo c++)
endif

UNAME_M := $(shell uname -m)
DEFAULT_VARIANT := yes
ifneq ($(origin ARCH),undefined)
  DEFAULT_VARIANT :=
else ifneq ($(PORTABLE),)
  ARCH := $(if $(filter aarch64 arm64,$(UNAME_M)),armv8-a,x86-64)
else ifeq ($(UNAME_M),x86_64)
  ARCH := native
else ifneq ($(filter aarch64 arm64,$(UNAME_M)),)
  # aarch64: fp16 arithmetic (ARMv8.2) when the kernel reports it, plus dot product and FP16 FML.
  CPU_FEATURES := $(shell grep -m1 '^Features' /proc/cpuinfo 2>/dev/null)
  ifneq ($(filter asimdhp,$(CPU_FEATURES)),)
    ARCH := armv8.2-a+fp16$(if $(filter asimddp,$(CPU_FEATURES)),+dotprod)$(if $(filter asimdfhm,$(CPU_FEATURES)),+fp16fml)
  else
    ARCH := armv8-a
  endif
else
  ARCH := native
endif
ifneq ($(SANITIZE)$(SIMD)$(CROSS)$(PORTABLE),)
  DEFAULT_VARIANT :=
endif
ifeq ($(origin CXX),command line)
  DEFAULT_VARIANT :=
endif

# ccache, when installed, makes rebuilds of unchanged files (other variants, CI reruns) nearly free.
# CCACHE= switches it off.
CCACHE ?= $(shell command -v ccache 2>/dev/null)

VARIANT := $(notdir $(CXX))-$(subst +,_,$(ARCH))$(if $(SANITIZE),-san)$(if $(filter scalar,$(SIMD)),-scalar)$(if $(PORTABLE),-portable)
BUILD ?= build/$(VARIANT)
BIN ?= $(if $(DEFAULT_VARIANT),bin,$(BUILD)/bin)

CXXFLAGS ?= -O2
CXXFLAGS += -std=c++20 -march=$(ARCH) -ffp-contract=off -Wall -Wextra -pthread -MMD -MP
# GCC 12 warns inside its own AVX-512 headers (_mm512_cvtph_ps); the warning says nothing of ours.
# Asked of the compiler, not its name: clang++ contains "g++", and on Termux g++ is clang.
ifeq ($(shell $(CXX) --version 2>/dev/null | grep -ci clang),0)
  CXXFLAGS += -Wno-maybe-uninitialized
endif
CPPFLAGS += -Isrc -DPOCKET_MARCH='"$(ARCH)"'
LDFLAGS += -pthread
ifneq ($(SANITIZE),)
  CXXFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all -g
  LDFLAGS += -fsanitize=$(SANITIZE)
endif
ifeq ($(SIMD),scalar)
  CPPFLAGS += -DPOCKET_FORCE_SCALAR
endif

# PORTABLE=1: one binary for every CPU of its architecture (what an Android app ships, as ggml's
# CPU variants). Everything is built for the baseline ARCH (x86-64, armv8-a) except each
# src/kernels/arch/<isa>/ folder, built with its ISA's flags; cpu_config() picks the kernel set and
# row at run time. Only the GEMM micro-kernels are per ISA: the other kernels (packing, small-M
# GEMM, norms, softmax, attention, ZO update, ...) run the baseline's path (scalar on x86-64,
# NEON on aarch64). scripts/check-isa-objects.sh checks that no arch/ object defines a shared
# inline function the linker could hand to baseline code.
ifneq ($(PORTABLE),)
  ifneq ($(filter x86_64%,$(shell $(CXX) -dumpmachine)),)
    $(BUILD)/obj/src/kernels/arch/x86_avx512/%.o: CXXFLAGS += -march=x86-64-v4
    $(BUILD)/obj/src/kernels/arch/x86_avx2/%.o: CXXFLAGS += -march=x86-64-v3
  endif
endif

# The AVX-512 VNNI integer GEMM kernel is built with -mavx512vnni for any x86 target (it compiles
# to nothing without AVX-512BW) and used only where cpuid reports VNNI (gemm_quant_vnni.cpp).
ifneq ($(filter x86_64%,$(shell $(CXX) -dumpmachine)),)
  $(BUILD)/obj/src/kernels/arch/x86_avx512/gemm_quant_vnni.o: CXXFLAGS += -mavx512vnni
endif
# Likewise the NEON dot-product integer GEMM kernel, built for ARMv8.2 + dot product on any aarch64
# target (GCC declares sdot by element for armv8.2-a+dotprod, not armv8-a+dotprod; the file uses
# nothing else of the target), used only where the CPU reports asimddp (gemm_quant_dotprod.cpp).
ifneq ($(filter aarch64%,$(shell $(CXX) -dumpmachine)),)
  $(BUILD)/obj/src/kernels/arch/neon/gemm_quant_dotprod.o: CXXFLAGS += -march=armv8.2-a+dotprod
endif

# A cross compiler does not search the host's /usr/include; give it the header-only libraries
# (xsimd, doctest, nlohmann-json) through a folder of links, and nothing else of the host.
ifneq ($(CROSS),)
  CPPFLAGS += -isystem $(BUILD)/include
  HEADER_LINKS := $(BUILD)/include/.links
endif

# OpenBLAS is optional: the side-tuning server's GEMMs (src/side/side_gemm.cpp) use it when present
# (own loops otherwise), and the GEMM benchmark compares against it. The cross build goes without.
ifeq ($(CROSS),)
  OPENBLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
  OPENBLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null)
  ifeq ($(OPENBLAS_LIBS),)
    ifeq ($(shell printf '\#include <cblas.h>\n' | $(CXX) -E -x c++ - >/dev/null 2>&1 && echo yes),yes)
      OPENBLAS_LIBS := -lopenblas
    endif
  endif
endif
ifneq ($(OPENBLAS_LIBS),)
  CPPFLAGS += -DPOCKET_HAVE_OPENBLAS $(OPENBLAS_CFLAGS)
endif

# OpenSSL's libcrypto: HMAC-SHA256, SHA-256 and random nonces of the side-tuning protocol
# (src/side/auth.cpp). Optional like sentencepiece: without it (the cross build has no arm64 copy)
# everything but `pocket side-tune`/`side-server` works, and those say what is missing.
ifeq ($(CROSS)$(NO_OPENSSL),)
  CRYPTO_LIBS := $(shell pkg-config --libs libcrypto 2>/dev/null)
  ifeq ($(CRYPTO_LIBS),)
    ifeq ($(shell printf '\#include <openssl/hmac.h>\n' | $(CXX) -E -x c++ - >/dev/null 2>&1 && echo yes),yes)
      CRYPTO_LIBS := -lcrypto
    endif
  endif
endif
ifneq ($(CRYPTO_LIBS),)
  CPPFLAGS += -DPOCKET_HAVE_OPENSSL $(shell pkg-config --cflags libcrypto 2>/dev/null)
endif

# sentencepiece (the Llama tokenizer, and training one for `pocket init`) is optional: without it
# pocket still runs every model from token ids, and Llama tokenization says what is missing.
# Termux does not package it; the cross build has no arm64 copy of it. NO_SENTENCEPIECE=1 skips it.
ifeq ($(CROSS)$(NO_SENTENCEPIECE),)
  SP_LIBS := $(shell pkg-config --libs sentencepiece 2>/dev/null)
  ifeq ($(SP_LIBS),)
    ifeq ($(shell printf '\#include <sentencepiece_processor.h>\n' | $(CXX) -E -x c++ - >/dev/null 2>&1 && echo yes),yes)
      SP_LIBS := -lsentencepiece -lsentencepiece_train
    endif
  endif
endif
ifneq ($(SP_LIBS),)
  CPPFLAGS += -DPOCKET_HAVE_SENTENCEPIECE $(shell pkg-config --cflags sentencepiece 2>/dev/null)
endif

# Four libraries, one per layer (cli -> zo, side -> task -> model -> kernels; io below all,
# scripts/check-layers.sh): kernels; model with io and task; zo; side. Each binary links the
# layers it uses, top down, and the system libraries only of the layer that uses them.
KERNELS_SRCS := $(sort $(wildcard src/kernels/*.cpp src/kernels/arch/*/*.cpp))
MODEL_SRCS := $(sort $(wildcard src/io/*.cpp src/model/*.cpp src/task/*.cpp))
ZO_SRCS := $(sort $(wildcard src/zo/*.cpp))
SIDE_SRCS := $(sort $(wildcard src/side/*.cpp))
CLI_SRCS := $(sort $(wildcard src/cli/*.cpp))
TEST_SRCS := $(filter-out tests/fuzz/%,$(sort $(wildcard tests/*.cpp tests/*/*.cpp)))
BENCH_COMMON_SRCS := $(filter-out bench/bench_%.cpp,$(sort $(wildcard bench/*.cpp)))
BENCHES := $(patsubst bench/bench_%.cpp,bench-%,$(sort $(wildcard bench/bench_*.cpp)))

obj = $(patsubst %.cpp,$(BUILD)/obj/%.o,$(1))
KERNELS_LIB := $(BUILD)/libpocket-kernels.a
MODEL_LIB := $(BUILD)/libpocket-model.a
ZO_LIB := $(BUILD)/libpocket-zo.a
SIDE_LIB := $(BUILD)/libpocket-side.a

# Keep the benchmarks' objects: as intermediates of a pattern rule make would delete them.
.SECONDARY:

.PHONY: all test test-arm test-all bench-smoke bench-ppl fuzz deps demo clean help
all: $(BIN)/pocket $(BIN)/pocket-tests $(addprefix $(BIN)/,$(BENCHES))

$(BUILD)/obj/%.o: %.cpp $(HEADER_LINKS)
	@mkdir -p $(dir $@)
	$(CCACHE) $(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/%.cpp $(HEADER_LINKS)
	@mkdir -p $(dir $@)
	$(CCACHE) $(CXX) $(CPPFLAGS) -Itests $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/bench/%.o: bench/%.cpp $(HEADER_LINKS)
	@mkdir -p $(dir $@)
	$(CCACHE) $(CXX) $(CPPFLAGS) -Ibench $(CXXFLAGS) -c $< -o $@

$(KERNELS_LIB): $(call obj,$(KERNELS_SRCS))
$(MODEL_LIB): $(call obj,$(MODEL_SRCS))
$(ZO_LIB): $(call obj,$(ZO_SRCS))
$(SIDE_LIB): $(call obj,$(SIDE_SRCS))
$(BUILD)/libpocket-%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

# What a binary of each layer links, top down: its library, the layers below, and the system
# libraries that layer uses (sentencepiece: io's tokenizer; OpenBLAS and libcrypto: side).
KERNELS_LINK := $(KERNELS_LIB)
MODEL_LINK := $(MODEL_LIB) $(KERNELS_LINK)
MODEL_SYS := $(SP_LIBS)
ZO_LINK := $(ZO_LIB) $(MODEL_LINK)
SIDE_LINK := $(SIDE_LIB) $(MODEL_LINK)
SIDE_SYS := $(OPENBLAS_LIBS) $(CRYPTO_LIBS)
ALL_LINK := $(ZO_LIB) $(SIDE_LIB) $(MODEL_LINK)

$(BIN)/pocket: $(call obj,$(CLI_SRCS)) $(ALL_LINK)
	@mkdir -p $(dir $@)
	$(CXX) $^ $(LDFLAGS) $(MODEL_SYS) $(SIDE_SYS) -o $@

$(BIN)/pocket-tests: $(call obj,$(TEST_SRCS)) $(ALL_LINK)
	@mkdir -p $(dir $@)
	$(CXX) $^ $(LDFLAGS) $(MODEL_SYS) $(SIDE_SYS) -o $@

# bench-step runs ZO steps; the others use model and kernels; bench-gemm compares with OpenBLAS.
$(BIN)/bench-step: $(BUILD)/obj/bench/bench_step.o $(call obj,$(BENCH_COMMON_SRCS)) $(ZO_LINK)
	@mkdir -p $(dir $@)
	$(CXX) $^ $(LDFLAGS) $(MODEL_SYS) -o $@

$(BIN)/bench-gemm: $(BUILD)/obj/bench/bench_gemm.o $(call obj,$(BENCH_COMMON_SRCS)) $(MODEL_LINK)
	@mkdir -p $(dir $@)
	$(CXX) $^ $(LDFLAGS) $(MODEL_SYS) $(OPENBLAS_LIBS) -o $@

$(BIN)/bench-%: $(BUILD)/obj/bench/bench_%.o $(call obj,$(BENCH_COMMON_SRCS)) $(MODEL_LINK)
	@mkdir -p $(dir $@)
	$(CXX) $^ $(LDFLAGS) $(MODEL_SYS) -o $@

$(BUILD)/include/.links:
	@mkdir -p $(dir $@)
	for d in xsimd doctest nlohmann; do ln -sfn /usr/include/$$d $(BUILD)/include/$$d; done
	touch $@

# The test runner prints doctest's report and then one "N passed, N failed" line.
test: $(BIN)/pocket-tests $(BIN)/pocket
	scripts/check-layers.sh
	$(if $(PORTABLE),scripts/check-isa-objects.sh $(BUILD)/obj/src/kernels/arch)
	scripts/run-tests.sh $(TEST_RUNNER) $(BIN)/pocket-tests

test-arm:
	$(MAKE) CXX=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar ARCH=armv8.2-a+fp16 CROSS=1 \
	  BUILD=build/aarch64 BIN=build/aarch64/bin build/aarch64/bin/pocket-tests
	scripts/run-tests.sh "qemu-aarch64 -L /usr/aarch64-linux-gnu" build/aarch64/bin/pocket-tests

bench-smoke: $(addprefix $(BIN)/,$(BENCHES))
	$(BIN)/bench-gemm --smoke
	$(BIN)/bench-kernels --smoke
	$(BIN)/bench-forward --smoke
	$(BIN)/bench-step --smoke

# bench/quant_perplexity.sh --tinyllama adds a random TinyLlama-1.1B (minutes, ~4.5 GB of temp files).
bench-ppl: $(BIN)/pocket
	bench/quant_perplexity.sh --pocket $(BIN)/pocket

# The GGUF reader under libFuzzer with ASan + UBSan (clang++ only: g++ has no libFuzzer). The
# corpus lives in build/fuzz/; it is seeded with the first 16 KiB (the header) of the GGUF files
# in ../shared/models when they are there, and grows from nothing otherwise.
FUZZ_CXX ?= clang++
FUZZ_SECONDS ?= 30
FUZZ_DIR := build/fuzz
FUZZ_FLAGS := -std=c++20 -O1 -g -Isrc -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SRCS := tests/fuzz/gguf_fuzz.cpp src/io/gguf.cpp src/io/mapped_file.cpp
$(FUZZ_DIR)/gguf-fuzz: $(FUZZ_SRCS) src/io/gguf.h src/io/mapped_file.h src/io/error.h
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $(FUZZ_SRCS) -o $@
# config.json -> ModelConfig and JSONL task lines (issue 17), each from an empty corpus.
CONFIG_FUZZ_SRCS := tests/fuzz/config_fuzz.cpp src/io/model_config.cpp src/io/json_parse.cpp \
  src/io/rope_scaling.cpp
$(FUZZ_DIR)/config-fuzz: $(CONFIG_FUZZ_SRCS) src/io/model_config.h src/io/json_parse.h src/io/error.h
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $(CONFIG_FUZZ_SRCS) -o $@
TASK_FUZZ_SRCS := tests/fuzz/task_line_fuzz.cpp src/task/task.cpp src/io/jsonl.cpp \
  src/io/json_parse.cpp
$(FUZZ_DIR)/task-line-fuzz: $(TASK_FUZZ_SRCS) src/task/task.h src/io/jsonl.h src/io/json_parse.h \
  src/io/tokenizer.h src/io/error.h
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $(TASK_FUZZ_SRCS) -o $@
# The safetensors header reader, seeded with the first 4 KiB of each model's file in ../shared.
ST_FUZZ_SRCS := tests/fuzz/safetensors_fuzz.cpp src/io/safetensors.cpp src/io/mapped_file.cpp \
  src/io/atomic_file.cpp src/io/json_parse.cpp
$(FUZZ_DIR)/safetensors-fuzz: $(ST_FUZZ_SRCS) src/io/safetensors.h src/io/mapped_file.h \
  src/io/json_parse.h src/io/error.h
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $(ST_FUZZ_SRCS) -o $@
# The run journal's reader, and the side protocol's frame and message decoders with the
# activation codec; both seeded by write_seeds, which makes valid inputs with the project's writers.
JOURNAL_FUZZ_SRCS := tests/fuzz/journal_fuzz.cpp src/zo/journal.cpp src/io/atomic_file.cpp \
  src/io/crc32.cpp
$(FUZZ_DIR)/journal-fuzz: $(JOURNAL_FUZZ_SRCS) src/zo/journal.h src/io/atomic_file.h src/io/crc32.h \
  src/io/error.h
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $(JOURNAL_FUZZ_SRCS) -o $@
SIDE_FUZZ_LIB_SRCS := src/side/frame.cpp src/side/socket.cpp src/side/messages.cpp \
  src/side/wire.cpp src/side/auth.cpp src/side/act_codec.cpp src/io/crc32.cpp
SIDE_FUZZ_HDRS := src/side/frame.h src/side/socket.h src/side/messages.h src/side/wire.h \
  src/side/auth.h src/side/act_codec.h src/io/crc32.h src/io/error.h
$(FUZZ_DIR)/side-protocol-fuzz: tests/fuzz/side_protocol_fuzz.cpp $(SIDE_FUZZ_LIB_SRCS) \
  $(SIDE_FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) tests/fuzz/side_protocol_fuzz.cpp $(SIDE_FUZZ_LIB_SRCS) -o $@
# Each journal input is a file the open truncates and fsyncs: on tmpfs that is ~30x faster.
FUZZ_TMP ?= $(if $(wildcard /dev/shm),/dev/shm,/tmp)
SEED_SRCS := tests/fuzz/write_seeds.cpp src/zo/journal.cpp src/io/atomic_file.cpp \
  $(SIDE_FUZZ_LIB_SRCS)
$(FUZZ_DIR)/write-seeds: $(SEED_SRCS) src/zo/journal.h $(SIDE_FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) -std=c++20 -O1 -Isrc $(SEED_SRCS) -o $@

fuzz: $(FUZZ_DIR)/gguf-fuzz $(FUZZ_DIR)/config-fuzz $(FUZZ_DIR)/task-line-fuzz \
  $(FUZZ_DIR)/safetensors-fuzz $(FUZZ_DIR)/journal-fuzz $(FUZZ_DIR)/side-protocol-fuzz \
  $(FUZZ_DIR)/write-seeds
	@mkdir -p $(FUZZ_DIR)/gguf-corpus $(FUZZ_DIR)/config-corpus $(FUZZ_DIR)/task-line-corpus \
	  $(FUZZ_DIR)/safetensors-corpus $(FUZZ_DIR)/journal-corpus $(FUZZ_DIR)/side-protocol-corpus
	for f in ../shared/models/*/*.gguf; do \
	  [ -f "$$f" ] && head -c 16384 "$$f" > $(FUZZ_DIR)/gguf-corpus/seed-$$(basename "$$f"); \
	done; true
	$(FUZZ_DIR)/gguf-fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=16384 $(FUZZ_DIR)/gguf-corpus
	$(FUZZ_DIR)/config-fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 $(FUZZ_DIR)/config-corpus
	$(FUZZ_DIR)/task-line-fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  $(FUZZ_DIR)/task-line-corpus
	for f in ../shared/models/*/*.safetensors; do \
	  [ -f "$$f" ] && head -c 4096 "$$f" > $(FUZZ_DIR)/safetensors-corpus/seed-$$(basename "$$f"); \
	done; true
	$(FUZZ_DIR)/safetensors-fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  $(FUZZ_DIR)/safetensors-corpus
	$(FUZZ_DIR)/write-seeds journal $(FUZZ_DIR)/journal-corpus
	TMPDIR=$(FUZZ_TMP) $(FUZZ_DIR)/journal-fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=1024 \
	  $(FUZZ_DIR)/journal-corpus
	$(FUZZ_DIR)/write-seeds side $(FUZZ_DIR)/side-protocol-corpus
	$(FUZZ_DIR)/side-protocol-fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  $(FUZZ_DIR)/side-protocol-corpus tests/fuzz/regressions/side-protocol

deps:
	scripts/deps.sh

# The README's first command: a tiny OPT model made by `pocket init` (nothing downloaded), tuned with
# MeZO on a generated, held-out sentiment task (data/demo/README.md): accuracy before, a progress
# bar, accuracy after, the plot. Each `make demo` starts a fresh run in $(DEMO_RUN).
DEMO_MODEL ?= weights/demo-opt-tiny
DEMO_RUN ?= runs/demo
DEMO_TUNE := --data data/demo/train.jsonl --eval data/demo/dev.jsonl --labels " hard| good" \
  --steps 3200 --batch 32 --lr 1.5e-3 --eps 1e-3 --schedule linear --weight-decay 0.1 --seed 1 \
  --snapshot-every 400
demo: deps $(BIN)/pocket
	@test -f $(DEMO_MODEL)/config.json || $(BIN)/pocket init --arch opt --shape tiny --seed 1 $(DEMO_MODEL)
	@rm -rf $(DEMO_RUN)
	$(BIN)/pocket tune $(DEMO_MODEL) --out $(DEMO_RUN) $(DEMO_TUNE)
	@echo
	@echo "make demo: dev accuracy before and after tuning are printed above."
	@echo "  plot (opens in any browser): $(DEMO_RUN)/loss.svg"
	@echo "  the tuned model:             bin/pocket export $(DEMO_RUN) OUT_DIR"
	@echo "  the same model, from the journal alone: bin/pocket replay $(DEMO_MODEL) $(DEMO_RUN) OUT_DIR"

clean:
	rm -rf build bin

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
