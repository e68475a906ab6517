#include "cpu.h"

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define IC_X86 1
#endif

/* cpuid bit positions (Intel SDM vol. 2A, CPUID; AMD uses the same bits) */
enum {
    L1C_FMA = 12, L1C_OSXSAVE = 27, L1C_AVX = 28,
    L7B_AVX2 = 5, L7B_AVX512F = 16, L7B_AVX512DQ = 17, L7B_AVX512BW = 30, L7B_AVX512VL = 31,
    L7C_AVX512VNNI = 11,
    L7D_AMXBF16 = 22, L7D_AVX512FP16 = 23, L7D_AMXTILE = 24, L7D_AMXINT8 = 25,
    L71A_AVX512BF16 = 5,
};
/* XCR0 state components the OS must enable before the registers may be used */
#define XCR0_AVX ((1ull << 1) | (1ull << 2))                 /* SSE, YMM upper halves */
#define XCR0_AVX512 (XCR0_AVX | (7ull << 5))                 /* + opmask, ZMM_Hi256, Hi16_ZMM */
#define XCR0_AMX ((1ull << 17) | (1ull << 18))               /* XTILECFG, XTILEDATA */

#define BIT(v, b) (((v) >> (b)) & 1u)

void ic_cpu_decode(const ic_cpuid_regs *r, ic_cpu *c) {
    memset(c, 0, sizeof *c);
    unsigned fam = (r->l1_eax >> 8) & 0xf, mod = (r->l1_eax >> 4) & 0xf;
    if (fam == 0xf) fam += (r->l1_eax >> 20) & 0xff;
    if (fam == 0x6 || fam >= 0xf) mod += ((r->l1_eax >> 16) & 0xf) << 4;
    c->family = (int)fam;
    c->model = (int)mod;
    const int os_avx = BIT(r->l1_ecx, L1C_OSXSAVE) && (r->xcr0 & XCR0_AVX) == XCR0_AVX;
    const int os_512 = os_avx && (r->xcr0 & XCR0_AVX512) == XCR0_AVX512;
    const int os_amx = os_avx && (r->xcr0 & XCR0_AMX) == XCR0_AMX;
    c->avx = os_avx && BIT(r->l1_ecx, L1C_AVX);
    c->fma = c->avx && BIT(r->l1_ecx, L1C_FMA);
    if (r->max_leaf < 7) return;
    c->avx2 = c->avx && BIT(r->l7_ebx, L7B_AVX2);
    c->avx512f = os_512 && BIT(r->l7_ebx, L7B_AVX512F);
    c->avx512bw = c->avx512f && BIT(r->l7_ebx, L7B_AVX512BW);
    c->avx512vl = c->avx512f && BIT(r->l7_ebx, L7B_AVX512VL);
    c->avx512dq = c->avx512f && BIT(r->l7_ebx, L7B_AVX512DQ);
    c->avx512_vnni = c->avx512f && BIT(r->l7_ecx, L7C_AVX512VNNI);
    c->avx512_fp16 = c->avx512f && BIT(r->l7_edx, L7D_AVX512FP16);
    c->avx512_bf16 = c->avx512f && BIT(r->l71_eax, L71A_AVX512BF16);
    c->amx_tile = os_amx && BIT(r->l7_edx, L7D_AMXTILE);
    c->amx_bf16 = c->amx_tile && BIT(r->l7_edx, L7D_AMXBF16);
    c->amx_int8 = c->amx_tile && BIT(r->l7_edx, L7D_AMXINT8);
}

void ic_cpu_detect(ic_cpu *c) {
    memset(c, 0, sizeof *c);
#ifdef IC_X86
    ic_cpuid_regs r;
    memset(&r, 0, sizeof r);
    unsigned a, b, cc, d;
    char vendor[13] = "", brand[49] = "";
    if (!__get_cpuid(0, &a, &b, &cc, &d)) return;
    r.max_leaf = (int)a;
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &cc, 4);
    vendor[12] = 0;
    __get_cpuid(1, &r.l1_eax, &b, &r.l1_ecx, &d);
    if (r.max_leaf >= 7) {
        __cpuid_count(7, 0, a, r.l7_ebx, r.l7_ecx, r.l7_edx);
        const unsigned sub = a;
        if (sub >= 1) __cpuid_count(7, 1, r.l71_eax, b, cc, d);
    }
    if (BIT(r.l1_ecx, L1C_OSXSAVE)) {
        /* xgetbv(0) as inline asm, so the file needs no -mxsave */
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        r.xcr0 = ((uint64_t)hi << 32) | lo;
    }
    if (__get_cpuid(0x80000000u, &a, &b, &cc, &d) && a >= 0x80000004u) {
        unsigned w[12];
        for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002u + i, &w[4 * i], &w[4 * i + 1], &w[4 * i + 2], &w[4 * i + 3]);
        char s[49];
        memcpy(s, w, 48);
        s[48] = 0;
        /* trim the padding spaces some vendors put around the name */
        char *p = s;
        while (*p == ' ') p++;
        size_t n = strlen(p);
        while (n && p[n - 1] == ' ') p[--n] = 0;
        memcpy(brand, p, n + 1);
    }
    ic_cpu_decode(&r, c);
    memcpy(c->vendor, vendor, sizeof vendor);
    memcpy(c->brand, brand, sizeof brand);
#endif
}

int ic_cpu_avx512(const ic_cpu *c) { return c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq; }

int ic_cpu_fp32_lanes(const ic_cpu *c, const char **isa) {
    const char *name = "sse";
    int lanes = 4;
    if (c->avx512f) {
        name = "avx512f";
        lanes = 16;
    } else if (c->avx2 && c->fma) {
        name = "avx2+fma";
        lanes = 8;
    }
    if (isa) *isa = name;
    return lanes;
}

void ic_cpu_features_string(const ic_cpu *c, char *buf, int len) {
    const struct { const char *name; int on; } f[] = {
        {"avx", c->avx}, {"avx2", c->avx2}, {"fma", c->fma}, {"avx512f", c->avx512f},
        {"avx512bw", c->avx512bw}, {"avx512vl", c->avx512vl}, {"avx512dq", c->avx512dq},
        {"avx512_vnni", c->avx512_vnni}, {"avx512_bf16", c->avx512_bf16}, {"avx512_fp16", c->avx512_fp16},
        {"amx_tile", c->amx_tile}, {"amx_bf16", c->amx_bf16}, {"amx_int8", c->amx_int8},
    };
    if (len < 1) return;
    buf[0] = 0;
    int used = 0;
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        if (!f[i].on) continue;
        int w = snprintf(buf + used, (size_t)(len - used), "%s%s", used ? " " : "", f[i].name);
        if (w < 0 || w >= len - used) break;
        used += w;
    }
}
