// Fuzz target: a frame and its virtio-net header from a hostile VALE port
// (src/vale/offload.cpp). The input chooses the source's and the
// destination's header lengths, the destination's buffer size and how the
// frame is cut into slots; the rest is the header and the frame. plan()
// accepts or refuses it; an accepted frame is written out (segments,
// checksums, a converted header) into exactly the slots slots() counted,
// each holding a length within its buffer, and nothing is read outside the
// fragments or written outside the reserved slots' buffers. IPv4 fragments
// (UFO) follow each other: every one's total length its own, its offset
// where the one before ended, MF on all but the last, its header checksum
// right, and their payloads after the UDP header are the datagram's.
#include "fuzz_input.hpp"
#include "vale/offload.hpp"

#include <upio/chain.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

using namespace upio::vale::offload;

namespace {

std::uint32_t be16(const unsigned char* p) { return std::uint32_t(p[0] << 8 | p[1]); }

// The frames in `need` slots from `start` on, chains joined.
template <class Mem>
std::vector<std::vector<unsigned char>> frames(const std::vector<netmap_slot>& slot, const Mem& mem,
                                               std::uint32_t start, std::uint32_t need) {
    std::vector<std::vector<unsigned char>> out(1);
    for (std::uint32_t k = 0, j = start; k < need; k++, j = (j + 1) % std::uint32_t(slot.size())) {
        const char* b = mem.bufs[slot[j].buf_idx].get();
        out.back().insert(out.back().end(), b, b + slot[j].len);
        if (!(slot[j].flags & NS_MOREFRAG) && k + 1 < need) out.emplace_back();
    }
    return out;
}

// UFO's IPv4 fragments of the frame at `frame` (after the source's header).
template <class Mem>
void check_fragments(const Plan& p, const std::uint8_t* frame, const std::vector<netmap_slot>& slot, const Mem& mem,
                     std::uint32_t start, std::uint32_t need) {
    const auto fr = frames(slot, mem, start, need);
    if (fr.size() != p.nseg) __builtin_trap();
    std::uint32_t at = 0; // datagram bytes so far
    for (std::size_t i = 0; i < fr.size(); i++) {
        const auto& b = fr[i];
        if (b.size() < p.hdrs || b.size() - p.hdrs > p.mss) __builtin_trap();
        const unsigned char* ip = b.data() + p.l3;
        const std::uint32_t fo = be16(ip + 6), last = i + 1 == fr.size();
        if (be16(ip + 2) != b.size() - p.l3) __builtin_trap();
        if (fr.size() > 1 && ((fo & 0x1fff) * 8 != at || bool(fo & 0x2000) == bool(last))) __builtin_trap();
        std::uint32_t acc = 0;
        for (std::uint32_t k = 0; k < std::uint32_t(p.hdrs - p.l3); k += 2) acc += be16(ip + k);
        while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
        if (acc != 0xffff) __builtin_trap();
        const std::uint32_t skip = i == 0 ? 8 : 0; // the UDP header is rewritten
        if (std::memcmp(b.data() + p.hdrs + skip, frame + p.hdrs + at + skip, b.size() - p.hdrs - skip) != 0)
            __builtin_trap();
        at += std::uint32_t(b.size()) - p.hdrs;
    }
    if (at != p.len - p.hdrs) __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    upio::fuzz::Input in(data, size);
    static constexpr std::uint32_t lens[4] = {0, 10, 12, 10};
    const std::uint32_t src_hdr = lens[in.byte() & 3], dst_hdr = lens[in.byte() & 3];
    const std::uint32_t dbs = 64u << (in.byte() % 6); // 64 .. 2048
    const std::uint32_t cut = 1 + in.get<std::uint16_t>() % 4096;
    if (size < 5) return 0;
    // The frame: the rest of the input, each fragment its own allocation
    // (so ASan sees a read past any of them).
    const std::uint8_t* f = data + 5;
    const std::uint32_t len = std::uint32_t(std::min<std::size_t>(size - 5, 70000));
    std::vector<std::unique_ptr<char[]>> owned;
    std::vector<Frag> frags;
    for (std::uint32_t at = 0; at < len;) {
        const std::uint32_t c = std::min(cut, len - at);
        owned.emplace_back(new char[c]);
        std::memcpy(owned.back().get(), f + at, c);
        frags.push_back({owned.back().get(), c});
        at += c;
    }
    Plan p;
    if (plan(frags.data(), std::uint32_t(frags.size()), len, src_hdr, p) != Verdict::ok) return 0;
    if (p.len + p.hdr != len) __builtin_trap();
    const std::uint32_t need = slots(p, dst_hdr, dbs);
    constexpr std::uint32_t ring = 4096;
    if (need == 0) __builtin_trap();
    if (need > ring - 1) return 0; // the switch drops what its ring cannot hold
    struct Mem {
        std::vector<std::unique_ptr<char[]>> bufs;
        std::uint32_t bs;
    } mem{{}, dbs};
    std::vector<netmap_slot> slot(ring);
    const std::uint32_t start = ring - 7; // wraps
    for (std::uint32_t k = 0, j = start; k < need; k++, j = (j + 1) % ring) {
        mem.bufs.emplace_back(new char[dbs]);
        slot[j].buf_idx = k;
    }
    const std::uint32_t sentinel = (start + need) % ring;
    slot[sentinel].len = 0xbeef;
    const Dest d{slot.data(), ring, dbs,
                 [](const void* ctx, const netmap_slot& s) noexcept {
                     return static_cast<const Mem*>(ctx)->bufs[s.buf_idx].get();
                 },
                 &mem};
    if (emit(p, frags.data(), std::uint32_t(frags.size()), dst_hdr, d, start) != sentinel) __builtin_trap();
    if (slot[sentinel].len != 0xbeef) __builtin_trap();
    for (std::uint32_t k = 0, j = start; k < need; k++, j = (j + 1) % ring)
        if (slot[j].len > dbs || (slot[j].len == 0 && need > 1)) __builtin_trap();
    if (p.kind == Plan::frag4 && dst_hdr == 0) check_fragments(p, f + src_hdr, slot, mem, start, need);
    return 0;
}
