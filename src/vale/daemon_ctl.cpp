// The VALE daemon's control socket: vale-ctl's commands (see
// upio/vale_daemon.hpp), and the function vale-ctl sends them with.
#include "vale/daemon.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>

#include <cctype>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace upio::vale {

using namespace detail;
using namespace daemon;

namespace {

// "netif:veth1@xdp/R,ring=0" -> "veth1": the port's name on the switch.
std::string default_name(std::string_view port) {
    std::string out;
    for (char c : port.substr(port.find(':') + 1)) {
        if (c == '@' || c == '/' || c == ',' || c == '{' || c == '}') break;
        out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ? c : '_';
    }
    return out.empty() ? "port" : out;
}

} // namespace

std::string Daemon::Impl::list(std::string_view only) {
    std::string out;
    for (const auto& [sw, l] : listeners) {
        if (!only.empty() && only != sw) continue;
        auto info = describe(sw);
        if (!info) continue;
        out += fmt::format("{} ports={}\n", sw, info->ports.size());
        for (const auto& p : info->ports) {
            std::string kind = "attached=" + (p.attached.empty() ? std::string("-") : p.attached);
            if (auto it = persistent.find(p.name); it != persistent.end())
                kind = it->second ? "persistent" : "persistent_" + kind; // held by a client
            for (char& c : kind)
                if (c == ' ') c = '_';
            out += fmt::format("  port {} {} {} back_pressure={}", p.index, p.name, kind, int(p.back_pressure));
            for (const auto& f : stat_fields) out += fmt::format(" {}={}", f.name, p.stats.*f.field);
            out += '\n';
        }
    }
    if (!only.empty() && out.empty())
        return fmt::format("{}: not served by this daemon\n", only);
    return out;
}

Result<std::string> Daemon::Impl::command(const CtlRequest& r) {
    const std::string arg(r.arg);
    if (r.op == 'l') return list(arg);
    // Every other command names valeX:SOMETHING of a switch served here.
    const auto colon = arg.find(':');
    const std::string sw = arg.substr(0, colon);
    if (colon == std::string::npos || !listeners.contains(sw))
        return make_error(ENOENT, fmt::format("'{}': not valeX:... of a switch this daemon serves", arg));
    const std::string rest = arg.substr(colon + 1);
    switch (r.op) {
    case 'a': { // valeX:[NAME=]PORT
        const auto eq = rest.find('=');
        const std::string port = eq == std::string::npos ? rest : rest.substr(eq + 1);
        const std::string name = eq == std::string::npos ? default_name(port) : rest.substr(0, eq);
        const std::string vport = fmt::format("{}:{}", sw, name);
        if (port_index(vport)) return make_error(EEXIST, fmt::format("{}: the switch has that port already", vport));
        auto a = Attachment::attach(vport + ",local", port, cfg.port_options);
        if (!a) return std::move(a).error();
        const int fd = a.value()->attached_port().fd();
        if (!watch(k_attached, fd)) return make_error(EIO, fmt::format("{}: cannot watch it", port));
        attached.push_back({vport, std::move(a.value())});
        return fmt::format("attached {} as {}\n", port, vport);
    }
    case 'd': {
        for (auto it = attached.begin(); it != attached.end(); ++it) {
            if (it->vale_port != arg) continue;
            unwatch(it->att->attached_port().fd());
            const std::string what = it->att->attached_port().name().full;
            attached.erase(it); // between rounds: nothing of it is in flight
            return fmt::format("detached {} from {}\n", what, arg);
        }
        return make_error(ENOENT, fmt::format("{}: no attached port of that name (vale-ctl -l lists them)", arg));
    }
    case 'n': {
        if (port_index(arg)) return make_error(EEXIST, fmt::format("{}: the switch has that port already", arg));
        auto p = Port::open(arg + ",local", cfg.port_options);
        if (!p) return std::move(p).error();
        persistent[arg] = std::move(p.value());
        return fmt::format("created {}\n", arg);
    }
    case 'b':
    case 'B': { // back-pressure on the frames sent to a port (an attached one: a memif peer that must lose nothing)
        if (!port_index(arg)) return make_error(ENOENT, fmt::format("{}: no such port (vale-ctl -l lists them)", arg));
        if (Status s = set_back_pressure(arg, r.op == 'b'); !s) return std::move(s).error();
        return fmt::format("back-pressure {} for {}\n", r.op == 'b' ? "on" : "off", arg);
    }
    case 'r': {
        auto it = persistent.find(arg);
        if (it == persistent.end()) return make_error(ENOENT, fmt::format("{}: no persistent port of that name", arg));
        const bool held = !it->second;
        persistent.erase(it);
        // a client holding it keeps its port until it leaves; then the name is free
        return fmt::format("removed {}{}\n", arg, held ? " (its client keeps it until it leaves)" : "");
    }
    }
    return make_error(EINVAL, "unknown command");
}

void Daemon::Impl::ctl_command(int fd, const void* msg, std::size_t n, std::size_t nfds) {
    auto parsed = parse_ctl_request(msg, n, nfds);
    Result<std::string> answer = parsed ? command(parsed.value()) : Result<std::string>(std::move(parsed).error());
    std::string text = answer ? answer.value() : answer.error().message;
    if (text.size() > ctl_reply_cap) text.resize(ctl_reply_cap);
    std::string out(sizeof(CtlReply), '\0');
    CtlReply h;
    h.status = answer ? 0 : answer.error().code;
    h.len = std::uint32_t(text.size());
    std::memcpy(out.data(), &h, sizeof h);
    out += text;
    (void)shm::send_msg(fd, out.data(), out.size(), {});
}

// The switches daemons of this user serve: their rendezvous listen
// ("@upio/<uid>/vale/valeX" in /proc/net/unix).
static std::vector<std::string> served_switches() {
    const std::string prefix = "@" + shm::rendezvous_name("vale", "");
    std::set<std::string> found;
    std::ifstream f("/proc/net/unix");
    for (std::string line; std::getline(f, line);) {
        const auto at = line.rfind(' ');
        if (at == std::string::npos) continue;
        const std::string path = line.substr(at + 1);
        if (path.starts_with(prefix) && path.size() > prefix.size()) found.insert(path.substr(prefix.size()));
    }
    return {found.begin(), found.end()};
}

namespace {

Result<std::string> one_command(char op, std::string_view sw, std::string_view arg) {
    CtlRequest r;
    r.op = op;
    if (arg.size() >= sizeof r.arg) return make_error(EINVAL, "argument too long");
    std::memcpy(r.arg, arg.data(), arg.size());
    auto sock = shm::connect_to(shm::rendezvous_name("vale", sw), 30000);
    if (!sock) {
        if (sock.error().code == ECONNREFUSED || sock.error().code == ENOENT)
            return make_error(ECONNREFUSED, fmt::format("{}: no VALE daemon serves it (start upio-vale -s {})", sw, sw));
        return std::move(sock).error();
    }
    if (Status s = shm::send_msg(sock.value().get(), &r, sizeof r, {}); !s) return std::move(s).error();
    std::string buf(sizeof(CtlReply) + ctl_reply_cap, '\0');
    std::vector<shm::Fd> fds;
    auto got = shm::recv_msg(sock.value().get(), buf.data(), buf.size(), fds, 0);
    if (!got) return make_error(got.error().code, fmt::format("no answer from the VALE daemon: {}", got.error().message));
    CtlReply h;
    if (got.value() < sizeof h) return make_error(EPROTO, "a short answer from the VALE daemon");
    std::memcpy(&h, buf.data(), sizeof h);
    if (h.magic != magic || h.len != got.value() - sizeof h) return make_error(EPROTO, "a malformed answer");
    std::string text = buf.substr(sizeof h, h.len);
    if (h.status != 0) {
        while (!text.empty() && text.back() == '\n') text.pop_back();
        return make_error(h.status > 0 && h.status < 4096 ? h.status : EPROTO, text);
    }
    return text;
}

} // namespace

Result<std::string> daemon_command(char op, std::string_view arg) {
    if (op == 'l' && arg.empty()) { // every switch of every daemon
        std::string out;
        for (const std::string& sw : served_switches()) {
            auto r = one_command('l', sw, sw);
            if (r) out += r.value();
        }
        if (out.empty()) return make_error(ENOENT, "no VALE daemon runs for this user (start upio-vale)");
        return out;
    }
    const std::string_view sw = arg.substr(0, arg.find(':'));
    return one_command(op, sw, arg);
}

Status daemon::parse_listing(std::string_view text, std::vector<DaemonSwitchEntry>& out) {
    std::istringstream in{std::string(text)};
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string first, second;
        if (!(words >> first >> second)) continue;
        if (first != "port") {
            if (second.starts_with("ports=")) out.push_back({first, {}});
            continue; // "valeX: not served by this daemon"
        }
        DaemonPortEntry p;
        std::string kind;
        if (out.empty() || !(words >> p.name >> kind) || second.find_first_not_of("0123456789") != std::string::npos ||
            second.empty() || second.size() > 9)
            return make_error(EPROTO, fmt::format("an unexpected line in the VALE daemon's list: '{}'", line));
        p.index = std::uint32_t(std::stoul(second));
        p.persistent = kind.starts_with("persistent"); // "persistent_attached=...": a client holds it
        if (p.persistent) kind.erase(0, kind.find('_') == std::string::npos ? kind.size() : kind.find('_') + 1);
        if (kind.starts_with("attached=") && kind != "attached=-") p.attached = kind.substr(9);
        out.back().ports.push_back(std::move(p));
    }
    return {};
}

Result<std::vector<DaemonSwitchEntry>> daemon_switches(std::string_view sw) {
    std::vector<DaemonSwitchEntry> out;
    if (!sw.empty()) {
        auto r = one_command('l', sw, sw);
        if (!r) return std::move(r).error();
        if (Status s = daemon::parse_listing(r.value(), out); !s) return std::move(s).error();
        return out;
    }
    for (const std::string& s : served_switches()) {
        auto r = one_command('l', s, s);
        if (!r) continue; // gone meanwhile
        if (Status st = daemon::parse_listing(r.value(), out); !st) return std::move(st).error();
    }
    return out;
}

} // namespace upio::vale
