// The server's handshake and the mapping of a connection (session.hpp).
#include "memif/session.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace upio::memif {

Message ServerHandshake::hello() const {
    Message m;
    m.type = MsgType::hello;
    m.hello.name = cfg_.name;
    m.hello.min_version = version;
    m.hello.max_version = version;
    m.hello.max_region = std::uint16_t(max_regions - 1);
    m.hello.max_c2s_ring = std::uint16_t(cfg_.rings - 1);
    m.hello.max_s2c_ring = std::uint16_t(cfg_.rings - 1);
    m.hello.max_log2_ring_size = std::uint8_t(max_log2_ring_size);
    return m;
}

Result<ServerHandshake::Step> ServerHandshake::on_message(Message m, Fd fd) {
    auto unexpected = [&] {
        return make_error(EPROTO, fmt::format("unexpected {} {}", type_name(m.type),
                                              state_ == State::wait_init ? "before INIT" : "after INIT"));
    };
    Step st;
    st.reply.type = MsgType::ack;
    if (m.type == MsgType::disconnect) {
        st.action = Action::disconnect;
        st.reason = m.disconnect.reason.empty() ? fmt::format("code {}", m.disconnect.code) : m.disconnect.reason;
        return st;
    }
    if (state_ == State::connected) return make_error(EPROTO, fmt::format("unexpected {} after CONNECT", type_name(m.type)));
    switch (m.type) {
    case MsgType::init:
        if (state_ != State::wait_init) return unexpected();
        if (m.init.version != version)
            return make_error(EPROTO, fmt::format("Incompatible memif version {:#x} (upio speaks {:#x})",
                                                  m.init.version, version));
        if (m.init.id != cfg_.id) return make_error(ENOENT, fmt::format("ID not found: {} (this socket serves id {})",
                                                                        m.init.id, cfg_.id));
        if (!cfg_.secret.empty() && m.init.secret != cfg_.secret)
            return make_error(EACCES, m.init.secret.empty() ? "Secret required" : "Incorrect secret");
        init_ = std::move(m.init);
        state_ = State::setup;
        return st;
    case MsgType::add_region: {
        if (state_ != State::setup) return unexpected();
        const AddRegion& r = m.add_region;
        if (r.index != regions_.size())
            return make_error(EPROTO, fmt::format("Invalid region index {}: expected {}", r.index, regions_.size()));
        regions_.push_back(RegionOffer{r, std::move(fd)});
        return st;
    }
    case MsgType::add_ring: {
        if (state_ != State::setup) return unexpected();
        const AddRing& r = m.add_ring;
        auto& list = r.c2s() ? c2s_ : s2c_;
        const char* dir = r.c2s() ? "C2S" : "S2C";
        if (r.index >= cfg_.rings)
            return make_error(EPROTO, fmt::format("Invalid ring index: {} ring {}; this port has {}", dir, r.index,
                                                  cfg_.rings));
        for (const RingOffer& o : list)
            if (o.msg.index == r.index) return make_error(EPROTO, fmt::format("{} ring {} added twice", dir, r.index));
        if (r.region >= regions_.size())
            return make_error(EPROTO, fmt::format("{} ring {} in region {}, which was not added", dir, r.index,
                                                  r.region));
        list.push_back(RingOffer{r, std::move(fd)});
        return st;
    }
    case MsgType::connect: {
        if (state_ != State::setup) return unexpected();
        if (regions_.empty()) return make_error(EPROTO, "CONNECT without a region");
        for (auto* list : {&c2s_, &s2c_}) {
            const char* dir = list == &c2s_ ? "C2S" : "S2C";
            if (list->empty()) return make_error(EPROTO, fmt::format("CONNECT without a {} ring", dir));
            // indices are distinct and below cfg_.rings: sorted, they must be 0..n-1
            std::sort(list->begin(), list->end(),
                      [](const RingOffer& a, const RingOffer& b) { return a.msg.index < b.msg.index; });
            if (list->back().msg.index != list->size() - 1)
                return make_error(EPROTO, fmt::format("{} rings not numbered 0..{}", dir, list->size() - 1));
        }
        peer_if_ = m.if_name;
        state_ = State::connected;
        st.action = Action::connect;
        st.reply.type = MsgType::connected;
        st.reply.if_name = cfg_.if_name;
        return st;
    }
    case MsgType::hello:
    case MsgType::ack:
    case MsgType::connected:
    case MsgType::none:
    case MsgType::disconnect: break;
    }
    return make_error(EPROTO, fmt::format("unexpected {} from a client", type_name(m.type)));
}

Mapping::~Mapping() {
    if (base) ::munmap(base, size);
}

namespace {

// A region a peer can shrink under us would fault upio (SIGBUS) on the
// next access: a memfd must carry F_SEAL_SHRINK (DPDK and libmemif seal
// theirs); a hugetlbfs file (DPDK's zero-copy regions) cannot be sealed, and
// is accepted as it is (docs/memif.md says what that trusts).
Status check_region_fd(int fd, std::uint16_t index, std::uint64_t size) {
    struct stat st{};
    if (fd < 0 || ::fstat(fd, &st) < 0)
        return make_error(EBADF, fmt::format("region {}: no usable file descriptor", index));
    if (!S_ISREG(st.st_mode)) return make_error(EPROTO, fmt::format("region {}: not a regular file or memfd", index));
    if (std::uint64_t(st.st_size) < size)
        return make_error(EPROTO, fmt::format("region {}: announced {} bytes, the file has {}", index, size,
                                              std::uint64_t(st.st_size)));
    // hugetlbfs (a file there, or a memfd made with MFD_HUGETLB): cannot be sealed
    struct statfs fs{};
    if (::fstatfs(fd, &fs) == 0 && fs.f_type == HUGETLBFS_MAGIC) return {};
    const int seals = ::fcntl(fd, F_GET_SEALS);
    if (seals < 0) return make_error(EPROTO, fmt::format("region {}: neither a memfd nor a hugetlbfs file", index));
    if (!(seals & F_SEAL_SHRINK))
        return make_error(EPROTO, fmt::format("region {}: the memfd is not sealed against shrinking (F_SEAL_SHRINK)",
                                              index));
    return {};
}

Status attach_ring(const Connection& c, RingOffer& o, SharedRing& r, bool ours) {
    const AddRing& a = o.msg;
    const char* dir = a.c2s() ? "C2S" : "S2C";
    const std::uint64_t bytes = ring_bytes(a.log2_size);
    char* p = c.buffer(a.region, a.offset, std::uint32_t(bytes));
    if (!p)
        return make_error(EPROTO, fmt::format("{} ring {}: {} bytes at offset {} of region {} (of {} bytes)", dir,
                                              a.index, bytes, a.offset, a.region, c.regions[a.region].size));
    r.hdr = reinterpret_cast<RingHeader*>(p);
    r.desc = reinterpret_cast<Desc*>(p + sizeof(RingHeader));
    r.size = 1u << a.log2_size;
    r.mask = std::uint16_t(r.size - 1);
    if (std::atomic_ref<std::uint32_t>(r.hdr->cookie).load(std::memory_order_relaxed) != ring_cookie)
        return make_error(EPROTO, fmt::format("{} ring {}: no memif cookie", dir, a.index));
    if (o.fd.get() < 0) return make_error(EPROTO, fmt::format("{} ring {}: no eventfd", dir, a.index));
    struct stat st{};
    if (::fstat(o.fd.get(), &st) < 0)
        return make_error(EPROTO, fmt::format("{} ring {}: a bad eventfd", dir, a.index));
    r.evfd = std::move(o.fd);
    std::atomic_ref<std::uint16_t>(r.hdr->head).store(0, std::memory_order_relaxed);
    std::atomic_ref<std::uint16_t>(r.hdr->tail).store(0, std::memory_order_relaxed);
    if (ours) std::atomic_ref<std::uint16_t>(r.hdr->flags).store(ring_flag_mask_int, std::memory_order_relaxed);
    r.pos = 0;
    return {};
}

} // namespace

Result<std::unique_ptr<Connection>> map_connection(ServerHandshake& hs) {
    auto c = std::make_unique<Connection>();
    c->peer_name = hs.init().name;
    c->peer_if_name = hs.peer_if_name();
    for (RegionOffer& r : hs.regions()) {
        if (Status s = check_region_fd(r.fd.get(), r.msg.index, r.msg.size); !s) return std::move(s).error();
        void* p = ::mmap(nullptr, r.msg.size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd.get(), 0);
        if (p == MAP_FAILED)
            return make_error(errno, fmt::format("region {}: cannot map {} bytes: {}", r.msg.index, r.msg.size,
                                                 std::strerror(errno)));
        c->regions.emplace_back(static_cast<char*>(p), r.msg.size);
        r.fd.reset(); // the mapping keeps the memory
    }
    c->c2s.resize(hs.c2s().size());
    c->s2c.resize(hs.s2c().size());
    for (std::size_t i = 0; i < c->c2s.size(); i++)
        if (Status s = attach_ring(*c, hs.c2s()[i], c->c2s[i], true); !s) return std::move(s).error();
    for (std::size_t i = 0; i < c->s2c.size(); i++)
        if (Status s = attach_ring(*c, hs.s2c()[i], c->s2c[i], false); !s) return std::move(s).error();
    return c;
}

} // namespace upio::memif
