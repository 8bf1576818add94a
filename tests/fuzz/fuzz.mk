# Builds the fuzz targets and the corpus replay runner: make -f tests/fuzz/fuzz.mk BUILD=build
# (from the repository root). The data plane is bpf/rstguard.bpf.c itself, built as plain C.
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

BUILD    ?= build
FZ_CC    ?= clang
O        := $(BUILD)/fuzz
SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all
# The shim directory comes first so <bpf/bpf_helpers.h> & co. resolve to the fakes.
FZ_CFLAGS := -g -O1 -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-unknown-attributes \
             -Wno-sign-compare -Itests/fuzz/shim -Ibpf -Itests/fuzz -Itests/lib -MMD -MP $(SAN)

# Objects shared by the fuzzers (coverage-instrumented) and the replay runner (not).
CORE     := dp shim model check fz_frame fz_seq
FUZZ_OBJS := $(patsubst %,$(O)/f/%.o,$(CORE)) $(O)/f/pkt.o
REPL_OBJS := $(patsubst %,$(O)/r/%.o,$(CORE)) $(O)/r/pkt.o $(O)/r/harness.o $(O)/r/replay.o

.PHONY: all fuzzers replay
all: fuzzers replay
fuzzers: $(O)/fuzz_frame $(O)/fuzz_seq
replay: $(O)/replay

$(O)/f $(O)/r:
	@mkdir -p $@

$(O)/f/pkt.o: tests/lib/pkt.c | $(O)/f
	$(FZ_CC) $(FZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(O)/f/%.o: tests/fuzz/%.c | $(O)/f
	$(FZ_CC) $(FZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(O)/fuzz_%: tests/fuzz/fuzz_main.c $(FUZZ_OBJS)
	$(FZ_CC) $(FZ_CFLAGS) -fsanitize=fuzzer -DFZ_TARGET=fz_$*_run $^ -o $@

$(O)/r/pkt.o: tests/lib/pkt.c | $(O)/r
	$(FZ_CC) $(FZ_CFLAGS) -c $< -o $@
# The BPF_PROG_TEST_RUN harness over the shipped object's skeleton (built by `make all`).
$(O)/r/harness.o: tests/lib/harness.c $(BUILD)/rstguard.skel.h | $(O)/r
	$(FZ_CC) $(FZ_CFLAGS) -I$(BUILD) -c $< -o $@
$(O)/r/replay.o: tests/fuzz/replay.c $(BUILD)/rstguard.skel.h | $(O)/r
	$(FZ_CC) $(FZ_CFLAGS) -I$(BUILD) -c $< -o $@
$(O)/r/%.o: tests/fuzz/%.c | $(O)/r
	$(FZ_CC) $(FZ_CFLAGS) -c $< -o $@

$(O)/replay: $(REPL_OBJS)
	$(FZ_CC) $(FZ_CFLAGS) $^ -o $@ -lbpf -lelf -lz

-include $(wildcard $(O)/f/*.d $(O)/r/*.d)
