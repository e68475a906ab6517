# iclab build. `make` builds build/libiclab.a and build/iclab; `make test`
# builds and runs the cmocka suite; `make asan` runs the suite under
# AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/; `make fuzz`
# runs the libFuzzer harness of the safetensors reader, `make fuzz FUZZ=schedule`
# the one of the schedule parser, `make fuzz FUZZ=torchpickle` the torch.save
# reader's (in build-fuzz/; all need clang).

CC      ?= cc
BUILD   ?= build
MARCH   := $(shell $(CC) -march=native -E -x c /dev/null >/dev/null 2>&1 && echo -march=native)
OPENMP  := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null >/dev/null 2>&1 && echo -fopenmp)
# On a CPU with AVX-512, gcc's tuning for it (-march=native names the nearest
# core it knows: znver3 for Zen 5 in gcc 12) still vectorises loops 8 lanes
# wide; 16 lanes doubled the element-wise kernels here (GELU forward 111 -> 58 us
# for a small shard's 704 x 256, docs/performance.md). No result changes: the
# vectorised loops are element-wise, and every reduction has its lanes fixed
# in the source. `make VECW=` keeps gcc's choice (e.g. on a Xeon whose clock
# drops under 512-bit code; not measured here).
VECW    := $(shell $(CC) $(MARCH) -dM -E -x c /dev/null 2>/dev/null | grep -q __AVX512F__ && echo -mprefer-vector-width=512)
# -fno-trapping-math/-fno-math-errno: we never read FP exceptions or errno, and
# without them gcc will not if-convert (vectorise) clamps or inline sqrtf.
OPT     ?= -O2 $(MARCH) $(VECW) -ffp-contract=fast -fno-trapping-math -fno-math-errno
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
BLAS_INC := $(shell pkg-config --cflags openblas 2>/dev/null)
CFLAGS  ?=
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) $(OPENMP) $(WARN) $(BLAS_INC) -Isrc -MMD -MP
# OpenBLAS: prefer Debian's OpenMP build, so BLAS and our OpenMP kernels share
# one thread pool (the pthread build's spinning threads fight OpenMP's for the
# cores: measured 2 threads 6x slower than 1 on the small model).
comma := ,
OPENBLAS_OMP_DIR := $(firstword $(wildcard /usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null)/openblas-openmp))
BLAS_LIBS := $(if $(OPENBLAS_OMP_DIR),-L$(OPENBLAS_OMP_DIR) -Wl$(comma)-rpath$(comma)$(OPENBLAS_OMP_DIR)) -lopenblas

# oneDNN (Debian's libdnnl-dev) runs the model's matrix products in fp32 and
# bf16 (src/gemm.c). DNNL=0 builds without it: fp32 products on OpenBLAS,
# --precision bf16 refused with a line saying so.
DNNL ?= 1
ifneq ($(DNNL),0)
CFLAGS  += -DICLAB_DNNL
DNNL_LIBS := -ldnnl
endif
LDLIBS  := $(BLAS_LIBS) $(DNNL_LIBS) -llapacke -ljansson -lzip -lyaml -lm
SAN_LDFLAGS ?=
LDFLAGS ?=
LDFLAGS += $(OPENMP) $(SAN_LDFLAGS)

LIB_SRC  := $(sort $(wildcard src/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_SUPPORT := $(filter-out tests/test_%.c,$(wildcard tests/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test asan fuzz fuzz-build fuzz-safetensors fuzz-schedule fuzz-torchpickle clean bench
all: $(BUILD)/iclab

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libiclab.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# MPI is optional (docs/distributed.md): when mpicc is found (MPI=0 turns it
# off), cli/mpi.c is compiled with it and ICLAB_MPI and the CLI is linked
# with it; the library never includes MPI, and without mpicc the build is
# exactly the plain one.
MPI ?= auto
MPICC ?= $(if $(filter 0,$(MPI)),,$(shell command -v mpicc 2>/dev/null))
ifneq ($(MPICC),)
$(BUILD)/cli/mpi.o: cli/mpi.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -DICLAB_MPI -c $< -o $@
ICLAB_LD := $(MPICC)
else
ICLAB_LD := $(CC)
endif

$(BUILD)/iclab: $(CLI_OBJ) $(BUILD)/libiclab.a
	$(ICLAB_LD) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(BUILD)/libiclab.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS) -lcmocka

# Each test binary runs from the repository root (tests read tests/data/).
# ICLAB_BIN tells the CLI tests which binary to drive.
test: $(TEST_BIN) $(BUILD)/iclab
	@fail=0; for t in $(TEST_BIN); do \
	  echo "== $$t"; ICLAB_BIN=$(BUILD)/iclab OMP_NUM_THREADS=2 $$t || fail=1; \
	done; \
	if [ -x /usr/bin/python3 ]; then echo "== tests/torch_parity.py"; ICLAB_BIN=$(BUILD)/iclab /usr/bin/python3 tests/torch_parity.py || fail=1; fi; \
	for s in tests/*_test.sh; do echo "== $$s"; ICLAB_BIN=$(BUILD)/iclab ICLAB_SAN=$(ICLAB_SAN) bash $$s || fail=1; done; \
	$(PYTEST_CMD) \
	exit $$fail

asan:
	$(MAKE) test BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  SAN_LDFLAGS="-fsanitize=address,undefined" ICLAB_SAN=1

FUZZ_SECONDS ?= 60
FUZZ ?= safetensors
FUZZ_BUILD ?= build-fuzz
fuzz-build: $(BUILD)/fuzz_safetensors $(FUZZ_BUILD)/fuzz_schedule $(FUZZ_BUILD)/fuzz_torchpickle
$(BUILD)/fuzz_safetensors: fuzz/fuzz_safetensors.c src/safetensors.c src/fsutil.c src/err.c
	@mkdir -p $(BUILD)
	clang -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined -Isrc $^ -o $@ -ljansson
# the schedule module alone (schedule.c depends on rng.c and err.c only: no BLAS)
$(FUZZ_BUILD)/fuzz_schedule: fuzz/fuzz_schedule.c src/schedule.c src/rng.c src/err.c
	@mkdir -p $(FUZZ_BUILD)
	clang -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	  -Isrc $^ -o $@ -lm
# the torch.save reader: the unpickler and the zip reader (libzip, libyaml are linked by torchimport.c)
$(FUZZ_BUILD)/fuzz_torchpickle: fuzz/fuzz_torchpickle.c src/torchpickle.c src/torchimport.c src/checkpoint.c src/safetensors.c src/model.c src/ops.c src/gemm.c src/rng.c src/config.c src/tasks.c src/err.c src/sysmem.c src/fsutil.c src/schedule.c src/numout.c
	@mkdir -p $(FUZZ_BUILD)
	clang -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	  $(BLAS_INC) -Isrc $^ -o $@ $(BLAS_LIBS) -llapacke -ljansson -lzip -lyaml -lm
# `make fuzz` fuzzes the safetensors reader; `make fuzz FUZZ=schedule` the schedule parser
fuzz: fuzz-$(FUZZ)
fuzz-safetensors: $(BUILD)/fuzz_safetensors
	@mkdir -p $(BUILD)/fuzz-corpus
	$(BUILD)/fuzz_safetensors -max_total_time=$(FUZZ_SECONDS) -max_len=4096 $(BUILD)/fuzz-corpus fuzz/corpus
fuzz-schedule: $(FUZZ_BUILD)/fuzz_schedule
	@mkdir -p $(FUZZ_BUILD)/corpus-schedule
	$(FUZZ_BUILD)/fuzz_schedule -max_total_time=$(FUZZ_SECONDS) -max_len=512 $(FUZZ_BUILD)/corpus-schedule fuzz/corpus_schedule

# ---- shared library, install (issue 16) ----
# build/libiclab.so.$(VERSION) (soname libiclab.so.$(SOVERSION)) from the
# library sources compiled again with -fPIC into $(BUILD)/pic/; `make install`
# copies the CLI, both libraries, the headers (include/iclab/, umbrella
# iclab.h = the flat API of src/capi.h) and iclab.pc under $(DESTDIR)$(PREFIX);
# `make uninstall` removes exactly those files.
VERSION    := 0.1.0
SOVERSION  := 0
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
PIC_OBJ    := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
SO_REAL    := libiclab.so.$(VERSION)
SO_NAME    := libiclab.so.$(SOVERSION)
LIB_HDR    := $(sort $(wildcard src/*.h))
SHARED     := $(BUILD)/$(SO_REAL) $(BUILD)/$(SO_NAME) $(BUILD)/libiclab.so

.PHONY: shared install uninstall
all: shared
shared: $(SHARED)
# make test's install_test.sh and the Python tests use the shared library
test: $(SHARED)
# The Python package (python/iclab) over $(BUILD)/libiclab.so, with Debian's
# /usr/bin/python3 (numpy; the test skips with a line without it). Not under
# sanitizers: a sanitized libiclab.so loads into python only with LD_PRELOAD.
PYTHON ?= /usr/bin/python3
PYTEST_CMD = if [ -n "$(SAN_LDFLAGS)" ]; then echo "== tests/python/test_iclab.py: skipped under sanitizers"; \
	  elif [ -x $(PYTHON) ]; then echo "== tests/python/test_iclab.py"; ICLAB_BIN=$(BUILD)/iclab ICLAB_LIB=$$PWD/$(BUILD)/libiclab.so \
	  OMP_NUM_THREADS=2 $(PYTHON) tests/python/test_iclab.py || fail=1; \
	  else echo "== tests/python/test_iclab.py: skipped ($(PYTHON) not found)"; fi;
.PHONY: test-python
test-python: $(SHARED) $(BUILD)/iclab
	@fail=0; $(PYTEST_CMD) exit $$fail

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c $< -o $@

$(BUILD)/$(SO_REAL): $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,$(SO_NAME) -Wl,--no-undefined $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/$(SO_NAME): $(BUILD)/$(SO_REAL)
	ln -sf $(SO_REAL) $@
$(BUILD)/libiclab.so: $(BUILD)/$(SO_NAME)
	ln -sf $(SO_NAME) $@

# pkg-config: the shared library needs nothing more at link time; a static
# link (pkg-config --static) adds BLAS/LAPACKE/jansson/OpenMP
# (written by install itself, so it always has this call's PREFIX/LIBDIR)
define ICLAB_PC
prefix=$(PREFIX)
libdir=$(LIBDIR)
includedir=$(INCLUDEDIR)

Name: iclab
Description: small transformers for in-context regression (C11 library)
Version: $(VERSION)
Requires.private: jansson
Cflags: -I$${includedir}
Libs: -L$${libdir} -liclab
Libs.private: $(strip $(BLAS_LIBS) $(DNNL_LIBS) -llapacke -lzip -lyaml -lm $(OPENMP))
endef
export ICLAB_PC

INSTALLED := $(DESTDIR)$(BINDIR)/iclab $(DESTDIR)$(LIBDIR)/libiclab.a \
  $(DESTDIR)$(LIBDIR)/$(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SO_NAME) $(DESTDIR)$(LIBDIR)/libiclab.so \
  $(LIB_HDR:src/%=$(DESTDIR)$(INCLUDEDIR)/iclab/%) $(DESTDIR)$(PKGCONFIGDIR)/iclab.pc

install: $(BUILD)/iclab $(BUILD)/libiclab.a $(SHARED)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/iclab $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(BUILD)/iclab $(DESTDIR)$(BINDIR)/iclab
	install -m 644 $(BUILD)/libiclab.a $(DESTDIR)$(LIBDIR)/libiclab.a
	install -m 755 $(BUILD)/$(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SO_REAL)
	ln -sf $(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SO_NAME)
	ln -sf $(SO_NAME) $(DESTDIR)$(LIBDIR)/libiclab.so
	install -m 644 $(LIB_HDR) $(DESTDIR)$(INCLUDEDIR)/iclab/
	printf '%s\n' "$$ICLAB_PC" > $(DESTDIR)$(PKGCONFIGDIR)/iclab.pc

uninstall:
	rm -f $(INSTALLED)
	-rmdir $(DESTDIR)$(INCLUDEDIR)/iclab 2>/dev/null

fuzz-torchpickle: $(FUZZ_BUILD)/fuzz_torchpickle
	@mkdir -p $(FUZZ_BUILD)/corpus-torchpickle
	$(FUZZ_BUILD)/fuzz_torchpickle -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	  $(FUZZ_BUILD)/corpus-torchpickle fuzz/corpus_torchpickle

bench: $(BUILD)/iclab
	$(BUILD)/iclab bench

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(PIC_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_SUPPORT_OBJ:.o=.d) $(TEST_BIN:%=%.d)

# Per-product benchmark of src/gemm.c's backends (docs/performance.md, "oneDNN and bf16")
$(BUILD)/gemm_products: $(BUILD)/bench/gemm_products.o $(BUILD)/libiclab.a
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
