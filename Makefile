# rstguard: one entry point. Outputs go under build/; V=1 shows the commands.
.DELETE_ON_ERROR:
.SUFFIXES:

BUILD    ?= build
CLANG    ?= clang
CC       ?= gcc
BPFTOOL  ?= bpftool
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
MULTIARCH:= $(shell $(CC) -print-multiarch 2>/dev/null)

ifeq ($(V),1)
Q :=
else
Q := @
endif

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
              -idirafter /usr/include/$(MULTIARCH) -Ibpf -MMD -MP
CFLAGS     ?= -O2 -g
# One version string for the binary, its metrics and its package: a Debian version (a digit
# first, no hyphen), the commit appended.
VERSION    := 0.1.0$(shell git describe --always --dirty 2>/dev/null | sed -e 's/^/+git/' -e 's/-/+/g')
CFLAGS     += -Wall -Wextra -Wno-unused-parameter -std=gnu11 -I$(BUILD) -Ibpf -Iuser -MMD -MP
LDLIBS     := -lbpf -lxdp -ljson-c -lmicrohttpd -lpcap -lelf -lz

# Debian packages the build, the tests, the demo and the bench need.
DEPS := clang llvm gcc make libbpf-dev bpftool libxdp-dev xdp-tools libelf-dev zlib1g-dev \
        libmicrohttpd-dev libjson-c-dev pkg-config iproute2 nftables systemd python3-yaml \
        python3-scapy python3-prometheus-client prometheus man-db tcpdump libclang-rt-14-dev \
        libpcap-dev

USER_SRCS  := $(wildcard user/*.c)
USER_OBJS  := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS))
TLIB_SRCS  := $(wildcard tests/lib/*.c)
TLIB_OBJS  := $(patsubst tests/lib/%.c,$(BUILD)/tests/lib/%.o,$(TLIB_SRCS))
TEST_SRCS  := $(wildcard tests/unit/test_*.c)
TEST_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
SKEL       := $(BUILD)/rstguard.skel.h
BPF_OBJ    := $(BUILD)/bpf/rstguard.bpf.o

# The test library objects are shared by every test binary: keep them between builds.
.SECONDARY: $(TLIB_OBJS)

.PHONY: all deps test demo bench soak fuzz clean install deb FORCE
all: $(BUILD)/rstguard $(TEST_BINS)

$(BUILD) $(BUILD)/bpf $(BUILD)/user $(BUILD)/tests $(BUILD)/tests/lib:
	$(Q)mkdir -p $@

$(BPF_OBJ): bpf/rstguard.bpf.c | $(BUILD)/bpf
	@echo "  BPF     $@"
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(SKEL): $(BPF_OBJ) | $(BUILD)
	@echo "  SKEL    $@"
	$(Q)$(BPFTOOL) gen skeleton $< name rstguard > $@

# Rewritten only when the version changes, so nothing else rebuilds for it.
$(BUILD)/rg_version.h: FORCE | $(BUILD)
	$(Q)echo '#define RG_VERSION "$(VERSION)"' >$@.tmp; cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
$(BUILD)/user/version.o: $(BUILD)/rg_version.h

$(BUILD)/user/%.o: user/%.c $(SKEL) | $(BUILD)/user
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/rstguard: $(USER_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/lib/%.o: tests/lib/%.c $(SKEL) | $(BUILD)/tests/lib
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -Itests/lib -c $< -o $@

$(BUILD)/tests/%: tests/unit/%.c $(TLIB_OBJS) $(SKEL) | $(BUILD)/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -Itests/lib $< $(TLIB_OBJS) -o $@ $(LDLIBS)

# Installs what is missing, and only when root; a no-op when everything is there.
deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "missing packages (run as root or install): $$missing" >&2; exit 1; fi; \
	echo "  DEPS    $$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $$missing >/dev/null

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run.sh $(BUILD)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/demo.sh $(BUILD)

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/bench/run.sh $(BUILD)

# Differential fuzzing of the data plane built as plain C (libFuzzer, ASan, UBSan) against a
# reference model; grows tests/fuzz/corpus. FUZZ_SECONDS per target.
fuzz: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/fuzz/run.sh $(or $(FUZZ_SECONDS),600)

# Long fault runs (1000 atomic replacements, thousands of policy flips, big floods). Not a test
# gate: run by hand, ROUNDS=N repeats it.
soak: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/soak.sh $(BUILD) $(or $(ROUNDS),1)

# The files of the package, under DESTDIR (the units name /usr/sbin/rstguard).
install: $(BUILD)/rstguard
	install -D -m 0755 $(BUILD)/rstguard $(DESTDIR)/usr/sbin/rstguard
	install -D -m 0644 user/rstguard.8 $(DESTDIR)/usr/share/man/man8/rstguard.8
	install -D -m 0644 -t $(DESTDIR)/lib/systemd/system user/dist/rstguard.service \
		user/dist/rstguard-attach@.service user/dist/rstguard-exporter.service
	install -D -m 0644 user/dist/60-rstguard.rules $(DESTDIR)/lib/udev/rules.d/60-rstguard.rules
	install -D -m 0644 user/dist/rstguard.bash-completion $(DESTDIR)/usr/share/bash-completion/completions/rstguard
	install -D -m 0644 -t $(DESTDIR)/usr/share/rstguard user/dist/rstguard.rules.yml \
		user/dist/rstguard-dashboard.json
	install -D -m 0644 user/dist/rstguard.conf $(DESTDIR)/etc/rstguard/rstguard.conf

# A Debian package of those files: build/rstguard_VERSION_ARCH.deb (dpkg-deb).
deb: all
	$(Q)user/dist/mkdeb.sh $(BUILD) $(VERSION)

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/bpf/*.d $(BUILD)/user/*.d $(BUILD)/tests/*.d $(BUILD)/tests/lib/*.d)
