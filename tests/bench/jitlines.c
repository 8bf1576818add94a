// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Prints where each source line of a loaded BPF program sits in its JIT image: one line per
 * line-info record, "<kernel address> <file>:<line> <source text>". profile.sh maps perf's
 * samples in the program to source lines with it; bpftool can do the same only when built with
 * a disassembler, which Debian's is not.
 * Usage: rg_jitlines PROG_ID...
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *base(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/* The counts first, then a second call that fills the arrays sized from them. */
static int dump(__u32 id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), n, nj, btf_id;
	struct bpf_line_info *li = NULL;
	struct btf *btf = NULL;
	__u64 *jli = NULL;
	int fd, err = -1;

	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		fprintf(stderr, "rg_jitlines: program %u: %s\n", id, strerror(errno));
		goto out;
	}
	n = info.nr_line_info;
	nj = info.nr_jited_line_info;
	btf_id = info.btf_id;
	if (!n || nj != n || !btf_id) {
		fprintf(stderr, "rg_jitlines: program %u has no line info for its JIT image\n", id);
		goto out;
	}
	li = calloc(n, sizeof(*li));
	jli = calloc(nj, sizeof(*jli));
	if (!li || !jli)
		goto out;
	memset(&info, 0, sizeof(info));
	info.nr_line_info = n;
	info.line_info_rec_size = sizeof(*li);
	info.line_info = (unsigned long)li;
	info.nr_jited_line_info = nj;
	info.jited_line_info_rec_size = sizeof(*jli);
	info.jited_line_info = (unsigned long)jli;
	len = sizeof(info);
	btf = btf__load_from_kernel_by_id(btf_id);
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || !btf) {
		fprintf(stderr, "rg_jitlines: program %u: %s\n", id, strerror(errno));
		goto out;
	}
	for (__u32 i = 0; i < n; i++) {
		const char *src = btf__name_by_offset(btf, li[i].line_off);
		const char *file = btf__name_by_offset(btf, li[i].file_name_off);

		printf("%llx %s:%u\t%s\n", (unsigned long long)jli[i], base(file ? file : "?"),
		       BPF_LINE_INFO_LINE_NUM(li[i].line_col), src ? src : "");
	}
	err = 0;
out:
	btf__free(btf);
	free(li);
	free(jli);
	if (fd >= 0)
		close(fd);
	return err;
}

int main(int argc, char **argv)
{
	int err = 0;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fprintf(argc < 2 ? stderr : stdout, "usage: rg_jitlines PROG_ID...\n");
		return argc < 2 ? 2 : 0;
	}
	for (int i = 1; i < argc; i++) {
		char *end;
		unsigned long id = strtoul(argv[i], &end, 10);

		if (!*argv[i] || *end || id > 0xffffffffUL) {
			fprintf(stderr, "rg_jitlines: not a program id: %s\n", argv[i]);
			return 2;
		}
		err |= dump((__u32)id);
	}
	return err ? 1 : 0;
}
