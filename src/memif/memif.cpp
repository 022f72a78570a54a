// "memif:": the name syntax, the descriptor and the factory.
#include "memif/memif.hpp"

#include "memif/adapter.hpp"

#include <fmt/format.h>
#include <sys/un.h>

#include <charconv>
#include <map>
#include <mutex>

namespace upio::memif {
namespace {

constexpr std::size_t max_path = sizeof(sockaddr_un{}.sun_path) - 1;

Result<std::size_t> parse_body(std::string_view, std::string_view body) {
    if (body.empty()) return make_error(EINVAL, "no socket path after 'memif:' (e.g. memif:/run/upio/m0.sock)");
    if (body.size() > max_path)
        return make_error(EINVAL, fmt::format("socket path of {} bytes; at most {}", body.size(), max_path));
    for (char c : body)
        if (c < 0x21 || c > 0x7e) return make_error(EINVAL, "the socket path has a space or a control character");
    return body.size();
}

Status check_name(const PortName& pn) {
    auto n = parse_memif_name(pn);
    if (!n) return std::move(n).error();
    if (!n->client && (pn.option("bsize") || pn.option("rsize")))
        return make_error(EINVAL, "bsize= and rsize= are the client's (role=client): a server uses the client's rings");
    if (!n->client && n->zero_copy)
        return make_error(EINVAL, "zero-copy is the client's (role=client): a server's buffers are the client's region");
    return {};
}

std::mutex mu;
std::map<std::pair<std::string, bool>, std::weak_ptr<Adapter>> open_ports; // by socket path and role

} // namespace

Result<MemifName> parse_memif_name(const PortName& pn) {
    MemifName n;
    n.path = pn.body;
    for (const PortOption& o : pn.options) {
        if (o.key == "id") {
            const char* e = o.value.data() + o.value.size();
            auto r = std::from_chars(o.value.data(), e, n.id);
            if (!o.has_value || o.value.empty() || r.ec != std::errc() || r.ptr != e)
                return make_error(EINVAL, fmt::format("id={}: the interface id is a number 0..4294967295", o.value));
        } else if (o.key == "role") {
            if (o.value != "server" && o.value != "client")
                return make_error(EINVAL, fmt::format("role={}: server or client", o.value));
            n.client = o.value == "client";
        } else if (o.key == "secret") {
            if (!o.has_value || o.value.empty() || o.value.size() > secret_size)
                return make_error(EINVAL, fmt::format("secret: 1..{} characters", secret_size));
            n.secret = o.value;
        } else if (o.key == "zero-copy") {
            n.zero_copy = true;
        } else if (o.key == "bsize" || o.key == "rsize") {
            std::uint32_t v = 0;
            const char* e = o.value.data() + o.value.size();
            auto r = std::from_chars(o.value.data(), e, v);
            const bool num = !o.value.empty() && r.ec == std::errc() && r.ptr == e;
            if (o.key == "bsize") {
                if (!num || v < 64 || v > 65535 || v % 64)
                    return make_error(EINVAL, fmt::format("bsize={}: a multiple of 64 in 64..65472", o.value));
                n.bsize = v;
            } else {
                if (!num || v < 1 || v > max_log2_ring_size)
                    return make_error(EINVAL, fmt::format("rsize={}: log2 of the ring size, 1..{}", o.value,
                                                          max_log2_ring_size));
                n.log2_ring_size = v;
            }
        }
    }
    return n;
}

const PortType& port_type() {
    static const PortType t = [] {
        PortType d;
        d.name = "memif";
        d.syntax = "memif:SOCKET_PATH[,id=N][,role=server|client][,secret=S][,bsize=B][,rsize=R][,zero-copy]";
        d.summary = "a memif interface (DPDK net_memif, libmemif, VPP) on an AF_UNIX socket";
        d.shorthands = shorthand_none; // a path may contain '/' and end in "-1"
        d.options = {"id=", "role=", "secret=", "bsize=", "rsize=", "zero-copy"};
        d.parse = &parse_body;
        d.check = &check_name;
        d.open = &open_memif;
        return d;
    }();
    return t;
}

Result<std::shared_ptr<Adapter>> open_memif(const PortName& pn, const PortOptions& opts) {
    auto n = parse_memif_name(pn);
    if (!n) return make_error(EINVAL, fmt::format("{}: {}", pn.full, n.error().message));
    std::lock_guard lk(mu);
    const auto key = std::pair{n->path, n->client};
    if (auto it = open_ports.find(key); it != open_ports.end())
        if (auto a = it->second.lock()) return a;
    auto a = std::make_shared<MemifAdapter>(fmt::format("memif:{}", n->path), n.value());
    if (Status s = a->init(pn, opts); !s) return std::move(s).error();
    open_ports[key] = a;
    return std::shared_ptr<Adapter>(std::move(a));
}

std::optional<LinkStatus> link_status(const Adapter& a) {
    if (auto m = dynamic_cast<const MemifAdapter*>(&a)) return m->status();
    return std::nullopt;
}

} // namespace upio::memif
