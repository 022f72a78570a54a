// Parsing the cross-process pipe messages (see xpipe_proto.hpp).
#include "pipes/xpipe_proto.hpp"

#include <upio/netmap.h>

#include <fmt/format.h>

#include <cctype>
#include <cstring>

namespace upio::pipes::xproc {

bool valid_pipe_name(const char* s, std::size_t n) {
    if (n == 0) return false;
    for (std::size_t i = 0; i < n; i++) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (!(std::isalnum(c) || c == '_' || c == '.' || c == '-')) return false;
    }
    return true;
}

Result<Hello> parse_hello(const void* data, std::size_t n, std::size_t nfds) {
    Hello h;
    if (n != sizeof h) return make_error(EPROTO, fmt::format("a request of {} bytes, not {}", n, sizeof h));
    std::memcpy(&h, data, sizeof h);
    if (h.magic != magic || h.version != version)
        return make_error(EPROTO, fmt::format("a request of another protocol (magic {:#x}, version {})", h.magic,
                                              h.version));
    if (nfds != 1) return make_error(EPROTO, fmt::format("a request with {} descriptors, not 1", nfds));
    if (h.end > 1 || h.id > 1023 || h.name_len > sizeof h.name || !valid_pipe_name(h.name, h.name_len))
        return make_error(EPROTO, "a request for an end that cannot exist");
    return h;
}

Result<Welcome> parse_welcome(const void* data, std::size_t n, std::size_t nfds) {
    Welcome w;
    if (n != sizeof w) return make_error(EPROTO, fmt::format("an answer of {} bytes, not {}", n, sizeof w));
    std::memcpy(&w, data, sizeof w);
    if (w.magic != magic || w.version != version)
        return make_error(EPROTO, fmt::format("an answer of another protocol (magic {:#x}, version {})", w.magic,
                                              w.version));
    w.message[sizeof w.message - 1] = 0;
    if (w.status != 0) {
        if (nfds != 0) return make_error(EPROTO, "a refusal with descriptors");
        return make_error(w.status > 0 && w.status < 4096 ? w.status : EPROTO, w.message);
    }
    if (nfds != 2) return make_error(EPROTO, fmt::format("an answer with {} descriptors, not 2", nfds));
    // Everything below is an offset into the objects area, which
    // MemoryRegion::attach checks against the file itself.
    const std::uint64_t objs = w.object_bytes;
    auto inside = [objs](std::uint64_t ofs, std::uint64_t len, std::uint64_t align) {
        return ofs % align == 0 && ofs <= objs && len <= objs - ofs;
    };
    const std::uint64_t ring_len = sizeof(netmap_ring) + std::uint64_t(w.slots) * sizeof(netmap_slot);
    const bool ok = objs > 0 && objs <= (std::uint64_t(1) << 40) && w.slots >= 2 && w.slots <= 65536 &&
                    w.num_bufs > 2 && w.spare_buf >= 2 && w.spare_buf < w.num_bufs && inside(w.tx_ofs, ring_len, 8) &&
                    inside(w.rx_ofs, ring_len, 8) && inside(w.peer_rx_ofs, ring_len, 8) &&
                    inside(w.shared_ofs, sizeof(SharedPipe), 64) && inside(w.objects_ofs, w.objects_len, 128);
    if (!ok) return make_error(EPROTO, "an answer whose rings or control block lie outside the region");
    return w;
}

} // namespace upio::pipes::xproc
