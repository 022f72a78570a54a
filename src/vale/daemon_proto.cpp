// Parsing what a VALE daemon and its clients send each other (see
// daemon_proto.hpp).
#include "vale/daemon_proto.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstring>

namespace upio::vale::daemon {

std::size_t name_len(const char* f, std::size_t cap) {
    std::size_t n = 0;
    while (n < cap && f[n]) {
        const unsigned char c = static_cast<unsigned char>(f[n]);
        if (!(std::isalnum(c) || c == '_' || c == '.' || c == '-')) return 0;
        n++;
    }
    return n < cap ? n : 0; // a terminating NUL inside the field
}

namespace {

template <class T> Result<T> header(const void* data, std::size_t n, const char* what) {
    T m;
    if (n != sizeof m) return make_error(EPROTO, fmt::format("{} of {} bytes, not {}", what, n, sizeof m));
    std::memcpy(&m, data, sizeof m);
    if (m.magic != magic || m.version != version)
        return make_error(EPROTO, fmt::format("{} of another protocol (magic {:#x}, version {})", what, m.magic,
                                              m.version));
    return m;
}

} // namespace

Result<Hello> parse_hello(const void* data, std::size_t n, std::size_t nfds) {
    auto r = header<Hello>(data, n, "a request");
    if (!r) return r;
    const Hello& h = r.value();
    if (nfds != 2) return make_error(EPROTO, fmt::format("a request with {} descriptors, not 2", nfds));
    if (h.kind != 0) return make_error(EPROTO, fmt::format("a request of unknown kind {}", h.kind));
    const std::size_t sl = name_len(h.sw, sizeof h.sw);
    if (sl < 5 || std::memcmp(h.sw, "vale", 4) != 0 || name_len(h.port, sizeof h.port) == 0)
        return make_error(EPROTO, "a request for a switch or port name that cannot exist");
    if (h.rings == 0 || h.rings > max_rings || h.slots < 2 || h.slots > 16384)
        return make_error(EPROTO, fmt::format("a request for {} ring pairs of {} slots (1..{} of 2..16384)", h.rings,
                                              h.slots, max_rings));
    const std::uint64_t objs = h.object_bytes, need = shared_bytes(h.rings);
    if (objs == 0 || objs > (std::uint64_t(1) << 40) || h.shared_ofs % 64 != 0 || h.shared_ofs > objs ||
        need > objs - h.shared_ofs)
        return make_error(EPROTO, "a request whose control block lies outside its objects area");
    return r;
}

Result<Welcome> parse_welcome(const void* data, std::size_t n, std::size_t nfds) {
    auto r = header<Welcome>(data, n, "an answer");
    if (!r) return r;
    Welcome& w = r.value();
    w.message[sizeof w.message - 1] = 0;
    if (w.status != 0) {
        if (nfds != 0) return make_error(EPROTO, "a refusal with descriptors");
        // the daemon's words, shown to a user: printable text only, and never nothing
        std::string why(w.message);
        for (char& ch : why)
            if (!std::isprint(static_cast<unsigned char>(ch))) ch = '?';
        if (why.empty()) why = fmt::format("the switch refused without saying why (status {})", w.status);
        return make_error(w.status > 0 && w.status < 4096 ? w.status : EPROTO, why);
    }
    if (nfds != 1) return make_error(EPROTO, fmt::format("an answer with {} descriptors, not 1", nfds));
    return r;
}

Result<Request> parse_request(const void* data, std::size_t n, std::size_t nfds) {
    auto r = header<Request>(data, n, "a request");
    if (!r) return r;
    if (nfds != 0) return make_error(EPROTO, "a request with descriptors");
    if (r.value().op != op_back_pressure || r.value().value > 1)
        return make_error(EPROTO, fmt::format("an unknown request (op {}, value {})", r.value().op, r.value().value));
    return r;
}

Result<CtlRequest> parse_ctl_request(const void* data, std::size_t n, std::size_t nfds) {
    auto r = header<CtlRequest>(data, n, "a command");
    if (!r) return r;
    CtlRequest& c = r.value();
    if (nfds != 0) return make_error(EPROTO, "a command with descriptors");
    if (std::memchr(c.arg, 0, sizeof c.arg) == nullptr) return make_error(EPROTO, "a command whose argument has no end");
    for (const char* p = c.arg; *p; p++)
        if (!std::isprint(static_cast<unsigned char>(*p))) return make_error(EPROTO, "a command with unprintable text");
    if (!std::strchr("ladnrbB", c.op) || c.op == 0)
        return make_error(EPROTO, fmt::format("an unknown command '{}'", std::isprint(static_cast<unsigned char>(c.op)) ? c.op : '?'));
    return r;
}

} // namespace upio::vale::daemon
