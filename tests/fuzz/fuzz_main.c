// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libFuzzer entry point; FZ_TARGET (set by fuzz.mk) names the target function. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "check.h"
#include "input.h"

/* FZ_VERBOSE=1 traces every packet (for reading a crash input). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_verbose = getenv("FZ_VERBOSE") != NULL;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FZ_TARGET(data, size);
	return 0;
}
