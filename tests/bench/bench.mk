# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Builds the bench binary against the already built rstguard skeleton: make -f tests/bench/bench.mk BUILD=build
.DELETE_ON_ERROR:
.SUFFIXES:

BUILD    ?= build
B        := $(BUILD)/bench
CLANG    ?= clang
CC       ?= gcc
BPFTOOL  ?= bpftool
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
MULTIARCH:= $(shell $(CC) -print-multiarch 2>/dev/null)

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
              -idirafter /usr/include/$(MULTIARCH) -Ibpf -Itests/bench -MMD -MP
CFLAGS     ?= -O2 -g
CFLAGS     += -Wall -Wextra -Wno-unused-parameter -std=gnu11 -MMD -MP \
              -I$(B) -I$(BUILD) -Ibpf -Itests/lib -Itests/bench
LDLIBS     := -lbpf -lelf -lz -lpthread

all: $(B)/rg_bench

$(B):
	@mkdir -p $@

$(B)/bench.bpf.o: tests/bench/bench.bpf.c | $(B)
	@echo "  BPF     $@"
	@$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(B)/bench.skel.h: $(B)/bench.bpf.o
	@echo "  SKEL    $@"
	@$(BPFTOOL) gen skeleton $< name bench > $@

# The skeleton of the program under test comes from the top-level build (make all).
$(B)/%.o: tests/bench/%.c $(B)/bench.skel.h $(BUILD)/rstguard.skel.h | $(B)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS) -c $< -o $@

$(B)/pkt.o: tests/lib/pkt.c | $(B)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS) -c $< -o $@

$(B)/rg_bench: $(B)/bench.o $(B)/live.o $(B)/pkt.o
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# profile.sh's map from JIT addresses to source lines.
$(B)/rg_jitlines: tests/bench/jitlines.c | $(B)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS) $< -o $@ -lbpf

-include $(wildcard $(B)/*.d)
