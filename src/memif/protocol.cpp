// memif control messages: encoding, checking, and the socket calls.
//
// Byte offsets are those of DPDK's packed memif_msg_t (drivers/net/memif/
// memif.h): the u16 type at 0, the body from 2. The host is little-endian,
// as memif's wire is (both ends share one machine).
#include "memif/protocol.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

namespace upio::memif {
namespace {

static_assert(std::endian::native == std::endian::little, "memif's wire is the host's order, little-endian here");

// body offsets (from the message start)
constexpr std::size_t body = 2;
namespace hello_off {
constexpr std::size_t name = body, min_version = body + 32, max_version = body + 34, max_region = body + 36,
                      max_s2c_ring = body + 38, max_c2s_ring = body + 40, max_log2 = body + 42;
}
namespace init_off {
constexpr std::size_t version = body, id = body + 2, mode = body + 6, secret = body + 7, name = body + 31;
}
namespace region_off {
constexpr std::size_t index = body, size = body + 2;
}
namespace ring_off {
constexpr std::size_t flags = body, index = body + 2, region = body + 4, offset = body + 6, log2 = body + 10,
                      private_hdr = body + 11;
}
namespace disc_off {
constexpr std::size_t code = body, reason = body + 4;
}
static_assert(init_off::name + name_size <= msg_size && disc_off::reason + reason_size <= msg_size);

template <class T>
void put(Wire& w, std::size_t off, T v) {
    std::memcpy(w.data() + off, &v, sizeof v);
}
template <class T>
T get(std::span<const std::uint8_t> b, std::size_t off) {
    T v;
    std::memcpy(&v, b.data() + off, sizeof v);
    return v;
}
void put_str(Wire& w, std::size_t off, std::size_t field, std::string_view s) {
    std::memcpy(w.data() + off, s.data(), std::min(s.size(), field)); // the rest stays 0
}
// A string field: up to its first NUL or its end; anything but printable
// ASCII becomes '?', so a peer's text can be shown in a message as it is.
std::string get_str(std::span<const std::uint8_t> b, std::size_t off, std::size_t field) {
    std::string s;
    for (std::size_t i = 0; i < field && b[off + i] != 0; i++) {
        const char c = char(b[off + i]);
        s.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    }
    return s;
}
// The secret is compared, not shown: kept as bytes, up to its first NUL.
std::string get_bytes(std::span<const std::uint8_t> b, std::size_t off, std::size_t field) {
    std::string s;
    for (std::size_t i = 0; i < field && b[off + i] != 0; i++) s.push_back(char(b[off + i]));
    return s;
}

} // namespace

const char* type_name(MsgType t) noexcept {
    switch (t) {
    case MsgType::none: return "NONE";
    case MsgType::ack: return "ACK";
    case MsgType::hello: return "HELLO";
    case MsgType::init: return "INIT";
    case MsgType::add_region: return "ADD_REGION";
    case MsgType::add_ring: return "ADD_RING";
    case MsgType::connect: return "CONNECT";
    case MsgType::connected: return "CONNECTED";
    case MsgType::disconnect: return "DISCONNECT";
    }
    return "unknown";
}

unsigned fds_expected(MsgType t) noexcept { return t == MsgType::add_region || t == MsgType::add_ring ? 1 : 0; }

Wire encode(const Message& m) {
    Wire w{};
    put(w, 0, std::uint16_t(m.type));
    switch (m.type) {
    case MsgType::hello:
        put_str(w, hello_off::name, name_size, m.hello.name);
        put(w, hello_off::min_version, m.hello.min_version);
        put(w, hello_off::max_version, m.hello.max_version);
        put(w, hello_off::max_region, m.hello.max_region);
        put(w, hello_off::max_s2c_ring, m.hello.max_s2c_ring);
        put(w, hello_off::max_c2s_ring, m.hello.max_c2s_ring);
        put(w, hello_off::max_log2, m.hello.max_log2_ring_size);
        break;
    case MsgType::init:
        put(w, init_off::version, m.init.version);
        put(w, init_off::id, m.init.id);
        put(w, init_off::mode, m.init.mode);
        put_str(w, init_off::secret, secret_size, m.init.secret);
        put_str(w, init_off::name, name_size, m.init.name);
        break;
    case MsgType::add_region:
        put(w, region_off::index, m.add_region.index);
        put(w, region_off::size, m.add_region.size);
        break;
    case MsgType::add_ring:
        put(w, ring_off::flags, m.add_ring.flags);
        put(w, ring_off::index, m.add_ring.index);
        put(w, ring_off::region, m.add_ring.region);
        put(w, ring_off::offset, m.add_ring.offset);
        put(w, ring_off::log2, m.add_ring.log2_size);
        put(w, ring_off::private_hdr, m.add_ring.private_hdr_size);
        break;
    case MsgType::connect:
    case MsgType::connected: put_str(w, body, name_size, m.if_name); break;
    case MsgType::disconnect:
        put(w, disc_off::code, m.disconnect.code);
        put_str(w, disc_off::reason, reason_size, m.disconnect.reason);
        break;
    case MsgType::none:
    case MsgType::ack: break;
    }
    return w;
}

Result<Message> decode(std::span<const std::uint8_t> b, unsigned nfds) {
    if (b.size() != msg_size)
        return make_error(EPROTO, fmt::format("a message of {} bytes; memif messages are {}", b.size(), msg_size));
    Message m;
    const auto raw = get<std::uint16_t>(b, 0);
    if (raw < std::uint16_t(MsgType::ack) || raw > std::uint16_t(MsgType::disconnect))
        return make_error(EPROTO, fmt::format("unknown message type {}", raw));
    m.type = MsgType(raw);
    if (nfds != fds_expected(m.type))
        return make_error(EPROTO, fmt::format("{} came with {} file descriptors; it takes {}", type_name(m.type), nfds,
                                              fds_expected(m.type)));
    switch (m.type) {
    case MsgType::hello: {
        Hello& h = m.hello;
        h.name = get_str(b, hello_off::name, name_size);
        h.min_version = get<std::uint16_t>(b, hello_off::min_version);
        h.max_version = get<std::uint16_t>(b, hello_off::max_version);
        h.max_region = get<std::uint16_t>(b, hello_off::max_region);
        h.max_s2c_ring = get<std::uint16_t>(b, hello_off::max_s2c_ring);
        h.max_c2s_ring = get<std::uint16_t>(b, hello_off::max_c2s_ring);
        h.max_log2_ring_size = get<std::uint8_t>(b, hello_off::max_log2);
        if (h.min_version > h.max_version)
            return make_error(EPROTO, fmt::format("HELLO: min version {:#x} above max version {:#x}", h.min_version,
                                                  h.max_version));
        if (h.max_log2_ring_size == 0) return make_error(EPROTO, "HELLO: a maximum ring size of 2^0");
        break;
    }
    case MsgType::init: {
        Init& i = m.init;
        i.version = get<std::uint16_t>(b, init_off::version);
        i.id = get<std::uint32_t>(b, init_off::id);
        i.mode = get<std::uint8_t>(b, init_off::mode);
        i.secret = get_bytes(b, init_off::secret, secret_size);
        i.name = get_str(b, init_off::name, name_size);
        if (i.mode != 0) return make_error(EPROTO, fmt::format("INIT: interface mode {}; only ethernet (0)", i.mode));
        break;
    }
    case MsgType::add_region: {
        AddRegion& r = m.add_region;
        r.index = get<std::uint16_t>(b, region_off::index);
        r.size = get<std::uint64_t>(b, region_off::size);
        if (r.index >= max_regions)
            return make_error(EPROTO, fmt::format("ADD_REGION: index {}; at most {} regions", r.index, max_regions));
        if (r.size == 0 || r.size > max_region_bytes)
            return make_error(EPROTO, fmt::format("ADD_REGION: size {} (1..{})", r.size, max_region_bytes));
        break;
    }
    case MsgType::add_ring: {
        AddRing& r = m.add_ring;
        r.flags = get<std::uint16_t>(b, ring_off::flags);
        r.index = get<std::uint16_t>(b, ring_off::index);
        r.region = get<std::uint16_t>(b, ring_off::region);
        r.offset = get<std::uint32_t>(b, ring_off::offset);
        r.log2_size = get<std::uint8_t>(b, ring_off::log2);
        r.private_hdr_size = get<std::uint16_t>(b, ring_off::private_hdr);
        if (r.flags & ~ring_flag_c2s) return make_error(EPROTO, fmt::format("ADD_RING: unknown flags {:#x}", r.flags));
        if (r.log2_size == 0 || r.log2_size > max_log2_ring_size)
            return make_error(EPROTO, fmt::format("ADD_RING: ring size 2^{} (2^1..2^{})", r.log2_size,
                                                  max_log2_ring_size));
        if (r.private_hdr_size != 0)
            return make_error(EPROTO, fmt::format("ADD_RING: a private header of {} bytes; not supported",
                                                  r.private_hdr_size));
        if (r.region >= max_regions)
            return make_error(EPROTO, fmt::format("ADD_RING: region {}; at most {} regions", r.region, max_regions));
        if (r.offset % 8)
            return make_error(EPROTO, fmt::format("ADD_RING: ring offset {} is not 8-byte aligned", r.offset));
        break;
    }
    case MsgType::connect:
    case MsgType::connected: m.if_name = get_str(b, body, name_size); break;
    case MsgType::disconnect:
        m.disconnect.code = get<std::uint32_t>(b, disc_off::code);
        m.disconnect.reason = get_str(b, disc_off::reason, reason_size);
        break;
    case MsgType::none:
    case MsgType::ack: break;
    }
    return m;
}

Status send_msg(int sock, const Message& m, int fd) {
    Wire w = encode(m);
    iovec iov{w.data(), w.size()};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
        mh.msg_control = ctl;
        mh.msg_controllen = sizeof ctl;
        cmsghdr* c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    const ssize_t n = ::sendmsg(sock, &mh, MSG_NOSIGNAL);
    if (n != ssize_t(w.size()))
        return make_error(n < 0 ? errno : EIO, fmt::format("cannot send {}: {}", type_name(m.type),
                                                           n < 0 ? std::strerror(errno) : "short write"));
    return {};
}

Result<Received> recv_msg(int sock) {
    Wire w{};
    iovec iov{w.data(), w.size()};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    // room for several descriptors, so that extra ones arrive (and are
    // closed here) instead of being dropped by the kernel silently
    alignas(cmsghdr) char ctl[CMSG_SPACE(8 * sizeof(int))] = {};
    mh.msg_control = ctl;
    mh.msg_controllen = sizeof ctl;
    const ssize_t n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0) return make_error(errno, fmt::format("cannot receive: {}", std::strerror(errno)));
    if (n == 0) return make_error(ECONNRESET, "the peer closed the socket");
    std::vector<int> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < k; i++) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            fds.push_back(fd);
        }
    }
    auto close_all = [&] {
        for (int fd : fds) ::close(fd);
    };
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        close_all();
        return make_error(EPROTO, (mh.msg_flags & MSG_TRUNC) ? "a message longer than 128 bytes"
                                                             : "a message with too many file descriptors");
    }
    auto m = decode(std::span<const std::uint8_t>(w.data(), std::size_t(n)), unsigned(fds.size()));
    if (!m) {
        close_all();
        return std::move(m).error();
    }
    return Received{std::move(m).value(), fds.empty() ? -1 : fds[0]};
}

} // namespace upio::memif
