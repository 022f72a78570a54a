// Fuzz target: memif's control messages and the server's handshake. The
// input is a sequence of (descriptor count byte, 128 message bytes) as a
// client could send them. Each is decoded -- refused with a message, or
// accepted with every string within its field and printable, and encoding
// it again gives the same fields back -- and what is accepted drives a
// ServerHandshake, which must refuse with a message or, at CONNECT, hold
// regions numbered 0..n-1 and rings numbered 0..n-1 per direction within
// what HELLO offered.
#include "fuzz_input.hpp"
#include "memif/protocol.hpp"
#include "memif/session.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

using namespace upio::memif;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

bool printable(const std::string& s, std::size_t field) {
    if (s.size() > field) return false;
    for (char c : s)
        if (c < 0x20 || c > 0x7e) return false;
    return true;
}

void check_accepted(const Message& m) {
    check(printable(m.hello.name, name_size) && printable(m.init.name, name_size) &&
          printable(m.if_name, name_size) && printable(m.disconnect.reason, reason_size));
    check(m.init.secret.size() <= secret_size);
    auto again = decode(encode(m), fds_expected(m.type));
    check(again.ok());
    const Message& a = again.value();
    check(a.type == m.type);
    switch (m.type) {
    case MsgType::hello:
        check(a.hello.name == m.hello.name && a.hello.min_version == m.hello.min_version &&
              a.hello.max_version == m.hello.max_version && m.hello.min_version <= m.hello.max_version);
        break;
    case MsgType::init: check(a.init.id == m.init.id && a.init.secret == m.init.secret && m.init.mode == 0); break;
    case MsgType::add_region:
        check(a.add_region.size == m.add_region.size && m.add_region.size > 0 && m.add_region.size <= max_region_bytes);
        break;
    case MsgType::add_ring:
        check(a.add_ring.offset == m.add_ring.offset && m.add_ring.log2_size >= 1 &&
              m.add_ring.log2_size <= max_log2_ring_size && m.add_ring.private_hdr_size == 0);
        break;
    case MsgType::disconnect: check(a.disconnect.reason == m.disconnect.reason); break;
    default: break;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    upio::fuzz::Input in(data, size);
    const std::uint16_t rings = std::uint16_t(1 + in.byte() % 4);
    ServerHandshake hs(ServerConfig{0, (in.byte() & 1) ? "pw" : "", rings, "upio", "fuzz"});
    while (!in.empty()) {
        const unsigned nfds = in.byte() % 3;
        Wire w{};
        for (auto& b : w) b = in.byte();
        auto m = decode(std::span<const std::uint8_t>(w), nfds);
        if (!m) {
            check(!m.error().message.empty());
            continue;
        }
        check_accepted(m.value());
        auto st = hs.on_message(m.value(), Fd());
        if (!st) {
            check(!st.error().message.empty());
            return 0; // the server closes the connection here
        }
        if (st->action == ServerHandshake::Action::connect) {
            check(!hs.regions().empty() && hs.regions().size() <= max_regions);
            for (std::size_t i = 0; i < hs.regions().size(); i++) check(hs.regions()[i].msg.index == i);
            for (auto* list : {&hs.c2s(), &hs.s2c()}) {
                check(!list->empty() && list->size() <= rings);
                for (std::size_t i = 0; i < list->size(); i++) {
                    check((*list)[i].msg.index == i);
                    check((*list)[i].msg.region < hs.regions().size());
                }
            }
        }
        if (st->action == ServerHandshake::Action::disconnect) return 0;
    }
    return 0;
}
