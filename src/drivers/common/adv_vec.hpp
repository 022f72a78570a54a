// drivers/common/adv_vec.hpp -- advanced descriptors four at a time (SSE2).
//
// The data path's three per-packet loops, each a step over four slots and
// four descriptors with the same checks as the one-at-a-time code of
// nic_ring.hpp and adv_desc.hpp, done on all four lanes at once and tested
// with one branch:
//   - tx_fill4: four application slots -> four data descriptors (EOP,
//     PAYLEN = DTALEN), when every slot is a whole packet without NS_REPORT,
//     its buffer is a buffer of the region and its length at most a buffer;
//   - rx_arm4: four application slots -> four receive descriptors; an index
//     that is not a buffer of the region becomes the reserved buffer 0 (and
//     counts), in the vector, so the slots are read once whatever they hold;
//   - rx_take4: four write-backs -> four slot lengths, when every one is a
//     whole frame (DD, EOP, no error, length 1..bsz, rx_frame_ok); else it
//     says which passed.
// The e1000's legacy descriptors take the same steps (template parameters:
// no PAYLEN, the write-back's status and length the other way round).
// Each slot is read with one load of its first eight bytes (buf_idx, len,
// flags) and what is checked is what is used. A group that fails tx_fill4
// or rx_take4 writes nothing and is done one slot at a time by the caller
// (which reads those slots itself, and uses only what it read). Buffer
// addresses are by arithmetic (base + idx * size: a linear mapping).
//
// UPIO_ADV_VEC is 0 where SSE2 is not there (not x86-64), and under
// ThreadSanitizer: the callers then keep their one-at-a-time loops. A
// device's write-back is read here with vector loads, which TSan cannot see
// ordered after a model thread's atomic stores (real DMA has no such
// thread); the one-at-a-time loops read it with atomic loads, so the TSan
// build checks their synchronisation, and the release and ASan builds run
// the vector steps.
#pragma once

#include "drivers/common/adv_desc.hpp"

#include <upio/backend/memory_region.hpp>
#include <upio/netmap.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UPIO_TSAN_BUILD 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define UPIO_TSAN_BUILD 1
#endif

#if defined(__SSE2__) && !defined(UPIO_TSAN_BUILD)
#include <emmintrin.h>
#define UPIO_ADV_VEC 1
#else
#define UPIO_ADV_VEC 0
#endif

namespace upio::drivers::adv {

#if UPIO_ADV_VEC

// Whether the drivers take their paths compiled with AVX encodings (the same
// SSE2 steps, three-operand instructions: no register copies): the CPU has
// AVX and UPIO_NO_AVX=1 (tests, comparisons) does not ask for the SSE2 code.
// For a constructor that picks the paths once, before the program runs.
inline bool avx_wanted() noexcept {
    if (const char* e = std::getenv("UPIO_NO_AVX"); e && *e && *e != '0') return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") != 0;
}

// The per-sync constants of the steps, in registers.
struct Vec4 {
    __m128i span; // buffers first_buf .. first_buf + span - 1, biased for a signed compare
    __m128i off;  // 0x80000000 - first_buf: idx + off is idx - first_buf, biased
    __m128i size; // buffer size (multiplier, low dword of each qword)
    __m128i base; // IOVA of buffer 0, both qwords
    [[gnu::always_inline]] Vec4(std::uint32_t span_, std::uint64_t base_, std::uint32_t size_) noexcept
        : span(_mm_set1_epi32(int(span_ ^ 0x80000000u))),
          off(_mm_set1_epi32(int(0x80000000u - MemoryRegion::first_buf))), size(_mm_set1_epi32(int(size_))),
          base(_mm_set1_epi64x(std::int64_t(base_))) {}

    // All ones in the lanes whose index is a buffer of the region: idx -
    // first_buf < span, unsigned, as a signed compare of both biased by 2^31.
    [[gnu::always_inline]] __m128i idx_ok(__m128i idx) const noexcept { return _mm_cmpgt_epi32(span, _mm_add_epi32(idx, off)); }
    // The addresses of buffers idx[0], idx[2] and of idx[1], idx[3].
    [[gnu::always_inline]] void iova(__m128i idx, __m128i& a02, __m128i& a13) const noexcept {
        a02 = _mm_add_epi64(_mm_mul_epu32(idx, size), base);
        a13 = _mm_add_epi64(_mm_mul_epu32(_mm_srli_epi64(idx, 32), size), base);
    }
};

// The first eight bytes of a slot (buf_idx | len << 32 | flags << 48), one load.
[[gnu::always_inline]] inline __m128i load_slot(const netmap_slot& s) noexcept {
    return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(&s));
}

// Four single-descriptor packets from s[0..3] into d[0..3] (EOP, `cmd` the
// command bits, PAYLEN = length), or false (nothing written) when a slot is
// a fragment (NS_MOREFRAG), asks for a report (NS_REPORT), or has a buffer
// outside the region or a length above `lim` (the buffer size, at most
// 0xffff). The lengths go into `bytes` (per lane). NS_BUF_CHANGED is
// cleared in the slots. `Paylen` false: the e1000's legacy layout, whose
// second dword (status, CSS, special) is written 0 instead of PAYLEN; its
// first (length, CSO 0, CMD) is the same length | cmd, and its EOP, IFCS
// and RS sit where the advanced descriptor has them.
template <bool Paylen = true, class Desc = TxDesc>
[[gnu::always_inline]] inline bool tx_fill4(const Vec4& v, __m128i lim, __m128i cmd, netmap_slot* s, Desc* d,
                                            __m128i& bytes) noexcept {
    static_assert(sizeof(Desc) == 16);
    const __m128i a = _mm_unpacklo_epi64(load_slot(s[0]), load_slot(s[1])); // i0 lf0 i1 lf1
    const __m128i b = _mm_unpacklo_epi64(load_slot(s[2]), load_slot(s[3])); // i2 lf2 i3 lf3
    const __m128i idx = _mm_castps_si128(
        _mm_shuffle_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b), _MM_SHUFFLE(2, 0, 2, 0)));
    const __m128i lf = _mm_castps_si128(
        _mm_shuffle_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b), _MM_SHUFFLE(3, 1, 3, 1)));
    // len | (MOREFRAG|REPORT) << 16: above lim exactly when the length is, or a flag is set
    const __m128i len = _mm_and_si128(lf, _mm_set1_epi32(0xffff | (NS_MOREFRAG | NS_REPORT) << 16));
    const __m128i ok = _mm_andnot_si128(_mm_cmpgt_epi32(len, lim), v.idx_ok(idx));
    if (_mm_movemask_epi8(ok) != 0xffff) [[unlikely]]
        return false;
    __m128i a02, a13;
    v.iova(idx, a02, a13);
    const __m128i c = _mm_or_si128(len, cmd);
    const __m128i o = Paylen ? _mm_slli_epi32(len, TXD_PAYLEN_SHIFT) : _mm_setzero_si128();
    const __m128i co01 = _mm_unpacklo_epi32(c, o); // cmd0 ol0 cmd1 ol1
    const __m128i co23 = _mm_unpackhi_epi32(c, o);
    auto* out = reinterpret_cast<__m128i*>(d);
    _mm_storeu_si128(out + 0, _mm_unpacklo_epi64(a02, co01));
    _mm_storeu_si128(out + 1, _mm_castpd_si128(_mm_shuffle_pd(_mm_castsi128_pd(a13), _mm_castsi128_pd(co01), 2)));
    _mm_storeu_si128(out + 2, _mm_castpd_si128(_mm_shuffle_pd(_mm_castsi128_pd(a02), _mm_castsi128_pd(co23), 1)));
    _mm_storeu_si128(out + 3, _mm_unpackhi_epi64(a13, co23));
    s[0].flags &= std::uint16_t(~NS_BUF_CHANGED);
    s[1].flags &= std::uint16_t(~NS_BUF_CHANGED);
    s[2].flags &= std::uint16_t(~NS_BUF_CHANGED);
    s[3].flags &= std::uint16_t(~NS_BUF_CHANGED);
    bytes = _mm_add_epi32(bytes, len);
    return true;
}

// Arms d[0..3] with the buffers of s[0..3] (DD cleared); returns how many
// indexes were not buffers of the region (armed with buffer 0 instead).
// The e1000's legacy descriptor is armed the same way (address, then 0).
template <class Desc = RxDesc>
[[gnu::always_inline]] inline unsigned rx_arm4(const Vec4& v, const netmap_slot* s, Desc* d) noexcept {
    static_assert(sizeof(Desc) == 16);
    const __m128i a = _mm_unpacklo_epi32(load_slot(s[0]), load_slot(s[1])); // i0 i1 lf0 lf1
    const __m128i b = _mm_unpacklo_epi32(load_slot(s[2]), load_slot(s[3]));
    __m128i idx = _mm_unpacklo_epi64(a, b);
    const __m128i ok = v.idx_ok(idx);
    unsigned bad = 0;
    if (const int m = _mm_movemask_epi8(ok); m != 0xffff) [[unlikely]] {
        idx = _mm_and_si128(idx, ok);
        bad = unsigned(4 - __builtin_popcount(unsigned(m)) / 4);
    }
    __m128i a02, a13;
    v.iova(idx, a02, a13);
    const __m128i z = _mm_setzero_si128();
    auto* out = reinterpret_cast<__m128i*>(d);
    _mm_storeu_si128(out + 0, _mm_unpacklo_epi64(a02, z));
    _mm_storeu_si128(out + 1, _mm_unpacklo_epi64(a13, z));
    _mm_storeu_si128(out + 2, _mm_unpackhi_epi64(a02, z));
    _mm_storeu_si128(out + 3, _mm_unpackhi_epi64(a13, z));
    return bad;
}

// The write-back qword of a receive descriptor (the second), one 8-byte load.
template <class Desc>
[[gnu::always_inline]] inline __m128i load_wb(const Desc& d) noexcept {
    static_assert(sizeof(Desc) == 16);
    return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(reinterpret_cast<const char*>(&d) + 8));
}

// The constants of rx_take4 for the error bits `errs` and buffers of bsz
// bytes. The status dword has DD in bit 0 and EOP in bit 1 in both layouts
// (the legacy one's is the write-back's second dword: status, errors <<
// 8, special; its `errs` are the error byte's bits there).
struct RxTake {
    __m128i st_mask; // DD | EOP | errs
    __m128i dd_eop;
    __m128i len_mask; // 0xffff
    __m128i len_off;  // 0x80000000 - 1: len + len_off is len - 1, biased
    __m128i len_lim;  // bsz (at most 0xffff), biased
    [[gnu::always_inline]] RxTake(std::uint32_t errs, std::uint32_t bsz) noexcept
        : st_mask(_mm_set1_epi32(int(errs | RXD_STAT_DD | RXD_STAT_EOP))),
          dd_eop(_mm_set1_epi32(int(RXD_STAT_DD | RXD_STAT_EOP))), len_mask(_mm_set1_epi32(0xffff)),
          len_off(_mm_set1_epi32(int(0x80000000u - 1))),
          len_lim(_mm_set1_epi32(int((bsz < 0xffff ? bsz : 0xffff) ^ 0x80000000u))) {}
};

// Four received frames from d[0..3] into s[0..3] (len, flags 0), when each
// descriptor's write-back is DD, EOP, none of the error bits, and a length
// 1..bsz (len - 1 < bsz, unsigned). Returns which passed (four bits a
// descriptor, from the lowest: 0xffff all four, then they are taken; less,
// nothing is written). Each write-back is read once; the lengths go into
// `bytes`. The write-back qword is status | length << 32 (advanced), or
// with `Legacy` length | status << 32 (the e1000's legacy descriptor).
template <bool Legacy = false, class Desc = RxDesc>
[[gnu::always_inline]] inline int rx_take4(const RxTake& c, const Desc* d, netmap_slot* s,
                                            __m128i& bytes) noexcept {
    const __m128i w0 = load_wb(d[0]), w1 = load_wb(d[1]), w2 = load_wb(d[2]), w3 = load_wb(d[3]);
    // the buffers are read after the write-backs that say they are done
    std::atomic_signal_fence(std::memory_order_acquire);
    const __m128i a = _mm_unpacklo_epi32(w0, w1); // st0 st1 lv0 lv1
    const __m128i b = _mm_unpacklo_epi32(w2, w3);
    const __m128i st = Legacy ? _mm_unpackhi_epi64(a, b) : _mm_unpacklo_epi64(a, b);
    const __m128i len = _mm_and_si128(Legacy ? _mm_unpacklo_epi64(a, b) : _mm_unpackhi_epi64(a, b), c.len_mask);
    const __m128i st_ok = _mm_cmpeq_epi32(_mm_and_si128(st, c.st_mask), c.dd_eop);
    const __m128i len_ok = _mm_cmpgt_epi32(c.len_lim, _mm_add_epi32(len, c.len_off));
    const int m = _mm_movemask_epi8(_mm_and_si128(st_ok, len_ok));
    if (m != 0xffff) [[unlikely]]
        return m;
    auto put = [](netmap_slot& x, __m128i l) noexcept { // len, flags 0: one store
        const int v = _mm_cvtsi128_si32(l);
        __builtin_memcpy(&x.len, &v, 4);
    };
    put(s[0], len);
    put(s[1], _mm_shuffle_epi32(len, 1));
    put(s[2], _mm_shuffle_epi32(len, 2));
    put(s[3], _mm_shuffle_epi32(len, 3));
    bytes = _mm_add_epi32(len, bytes);
    return m;
}

// The sum of the four lanes.
[[gnu::always_inline]] inline std::uint64_t lanes_sum(__m128i x) noexcept {
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 0, 3, 2)));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)));
    return std::uint32_t(_mm_cvtsi128_si32(x));
}

#endif

} // namespace upio::drivers::adv
