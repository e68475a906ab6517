/* cpu.h: what this x86-64 CPU executes, read from cpuid and the OS's enabled
 * register state (xgetbv), so that benchmarks name the ISA they measured and
 * code picks the widest vectors the machine runs. On other architectures
 * every feature reads 0. */
#ifndef ICLAB_CPU_H
#define ICLAB_CPU_H

#include <stdint.h>

typedef struct {
    char vendor[13];  /* "GenuineIntel", "AuthenticAMD", ... ("" off x86) */
    char brand[49];   /* the brand string, trimmed ("" when the CPU has none) */
    int family, model; /* display family and model (family 0x19 = Zen 3/4, 0x1a = Zen 5, 6 = Intel core) */
    /* instruction sets the CPU has AND the OS saves the registers of */
    int avx, avx2, fma;
    int avx512f, avx512bw, avx512vl, avx512dq;
    int avx512_bf16, avx512_fp16, avx512_vnni;
    int amx_tile, amx_bf16, amx_int8;
} ic_cpu;

/* The raw registers ic_cpu_decode reads (cpuid leaf 1 eax and ecx, leaf 7 subleaf 0
 * ebx/ecx/edx, leaf 7 subleaf 1 eax, and XCR0 from xgetbv, 0 when the OS
 * does not expose it). */
typedef struct {
    uint32_t l1_eax, l1_ecx;
    uint32_t l7_ebx, l7_ecx, l7_edx;
    uint32_t l71_eax;
    uint64_t xcr0;
    int max_leaf; /* highest standard cpuid leaf */
} ic_cpuid_regs;

/* Pure: the features of those registers. A feature counts only where the OS
 * enabled its state in XCR0 (AVX: SSE+YMM; AVX-512: also opmask and ZMM;
 * AMX: also tile config and data), since an instruction whose registers the
 * OS does not save faults. Tested with hand-made registers. */
void ic_cpu_decode(const ic_cpuid_regs *r, ic_cpu *out);

/* This machine (cpuid + xgetbv; zeroes off x86). */
void ic_cpu_detect(ic_cpu *out);

/* AVX-512 as the compute kernels use it: F, BW, VL and DQ. */
int ic_cpu_avx512(const ic_cpu *c);

/* Widest fp32 FMA vector this CPU executes: 16 (AVX-512F), 8 (AVX2 + FMA),
 * or 4 (SSE, no FMA), with its name ("avx512f", "avx2+fma", "sse"). */
int ic_cpu_fp32_lanes(const ic_cpu *c, const char **isa);

/* "avx2 fma avx512f ... amx_bf16": the features above that are present. */
void ic_cpu_features_string(const ic_cpu *c, char *buf, int len);

#endif
