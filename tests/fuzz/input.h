/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Reading fuzz input bytes: a cursor that yields zeros once the input runs out, so every input
 * decodes to something and libFuzzer's mutations never fall off a format edge. */
#ifndef RG_FUZZ_INPUT_H
#define RG_FUZZ_INPUT_H

#include <linux/types.h>
#include <stddef.h>

struct in {
	const __u8 *p;
	size_t n, i;
};

static inline __u8 in_u8(struct in *in)
{
	return in->i < in->n ? in->p[in->i++] : 0;
}

static inline __u16 in_u16(struct in *in)
{
	__u16 v = in_u8(in);

	return (__u16)(v << 8 | in_u8(in));
}

static inline __u32 in_u32(struct in *in)
{
	__u32 v = in_u16(in);

	return v << 16 | in_u16(in);
}

static inline size_t in_left(const struct in *in)
{
	return in->n - in->i;
}

/* Targets, each a libFuzzer entry point's body; replay.c runs them over the corpus. */
int fz_frame_run(const __u8 *data, size_t size);
int fz_seq_run(const __u8 *data, size_t size);

#endif
