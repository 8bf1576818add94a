/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* CO-RE stand-in: struct layouts are the ones bpf/kernel_sock.h declares, and no ___old flavour
 * field exists (the fake sockets model a current kernel). */
#ifndef RG_SHIM_BPF_CORE_READ_H
#define RG_SHIM_BPF_CORE_READ_H

/* sizeof keeps the argument type-checked without evaluating it. */
#define bpf_core_field_exists(field) (sizeof(field) && 0)

#endif
