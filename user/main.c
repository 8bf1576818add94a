// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Placeholder entry point until the control plane lands: loads the embedded object. */
#include <stdio.h>
#include "rstguard.skel.h"

int main(void)
{
	struct rstguard *skel = rstguard__open_and_load();

	if (!skel) {
		fprintf(stderr, "rstguard: cannot load the XDP object\n");
		return 1;
	}
	printf("rstguard: XDP object loads\n");
	rstguard__destroy(skel);
	return 0;
}
