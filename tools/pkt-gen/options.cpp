// pkt-gen's command line: the options, their checks and what follows from
// them (roles, streams, the embedded default).
#include "cli.hpp"
#include "cli_checks.hpp"

#include <upio/version.hpp>

#include <upio/port_name.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace pktgen {
namespace {

bool parse_size(const std::string& s, Range& r) {
    auto dash = s.find('-');
    auto num = [](std::string_view v, std::uint32_t& out) {
        auto res = std::from_chars(v.data(), v.data() + v.size(), out);
        return res.ec == std::errc() && res.ptr == v.data() + v.size();
    };
    std::string_view sv = s;
    if (!num(sv.substr(0, dash), r.lo)) return false;
    r.hi = r.lo;
    if (dash != std::string::npos && !num(sv.substr(dash + 1), r.hi)) return false;
    return r.lo >= min_frame && r.hi <= max_frame && r.lo <= r.hi;
}

// -T as netmap's pkt-gen takes it: milliseconds; or with a unit (2s, 100ms,
// 500us). Seconds, or nullopt when it is no positive duration; `bare`: no unit.
std::optional<double> parse_interval(const std::string& s, bool& bare) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end == s.c_str() || !(v > 0) || v > 1e9) return std::nullopt;
    const std::string_view unit(end);
    bare = unit.empty();
    if (bare || unit == "ms") return v / 1e3;
    if (unit == "s") return v;
    if (unit == "us") return v / 1e6;
    return std::nullopt;
}

// netmap's names, as libupio-netmap.so maps them (docs/netmap-compat.md): a
// bare IFNAME and netmap:IFNAME open as netif:IFNAME, netmap:X{N and X}N as
// pipe:X{N and pipe:X}N; a name one of the registered types takes stays.
std::string port_name_of(const std::string& name) {
    if (upio::PortName::parse(name)) return name;
    std::string rest;
    if (name.starts_with("netmap:"))
        rest = name.substr(7);
    else if (!name.empty() && name.find(':') == std::string::npos)
        rest = name;
    else
        return name; // opening it says what is wrong
    return (rest.find_first_of("{}") != std::string::npos ? "pipe:" : "netif:") + rest;
}

// -l: one size or LO-HI; twice (netmap's -l MAX -l MIN) the range between.
bool parse_sizes(const std::vector<std::string>& sizes, Range& r) {
    if (sizes.empty() || sizes.size() > 2) return false;
    if (!parse_size(sizes[0], r)) return false;
    if (sizes.size() == 1) return true;
    Range other;
    if (r.lo != r.hi || !parse_size(sizes[1], other) || other.lo != other.hi) return false;
    r.lo = std::min(r.lo, other.lo);
    r.hi = std::max(r.hi, other.hi);
    return true;
}

Role role_of(const Config& cfg, std::size_t i) {
    const std::string& m = cfg.mode;
    if (m == "pingpong") return i == 0 ? Role::ping : Role::pong;
    if (m == "ping") return Role::ping;
    if (m == "pong") return Role::pong;
    if (m == "rx" || m == "rxseq") return Role::receiver;
    if (m == "tx" || m == "txseq") return Role::sender;
    return i + 1 < cfg.ports.size() ? Role::sender : Role::receiver;
}

// -a/-c: every CPU a worker is to be pinned to is one this process may run
// on, checked before any port opens (not when the run has started).
std::optional<std::string> check_cpus(const Config& cfg, std::size_t workers) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return std::nullopt; // the pinning will tell
    std::vector<std::pair<int, const char*>> want;
    if (cfg.cores > 0) {
        const int first = cfg.cpus.empty() ? 0 : cfg.cpus[0];
        for (int i = 0; i < cfg.cores && std::size_t(i) < workers; i++) want.emplace_back(first + i, "-c");
    }
    for (int c : cfg.cpus) want.emplace_back(c, "-a");
    for (auto [cpu, opt] : want)
        if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed))
            return fmt::format("{} {}: CPU {} is not one this process may run on (CPUs {})", opt,
                               opt[1] == 'c' ? std::to_string(cfg.cores) : std::to_string(cpu), cpu, allowed_cpus());
    return std::nullopt;
}

} // namespace

int bad_usage(const std::string& msg) {
    fmt::print(stderr, "pkt-gen: {}\n", msg);
    return 2;
}

std::optional<int> parse_options(int argc, char** argv, Invocation& inv) {
    Config& cfg = inv.cfg;
    CLI::App app{"pkt-gen: send, receive, check and time packets on upio ports (pipes, VALE, NICs, interfaces)"};
    app.set_version_flag("--version", std::string("pkt-gen (upio) ") + upio::version());
    std::string src_mac, dst_mac, src_ip, dst_ip, replay, interval = "1s";
    std::vector<std::string> sizes{"60"};
    bool rand_src = false, rand_dst = false, no_huge = false;
    app.add_option("-f,--mode", cfg.mode, "tx rx txrx txseq rxseq txrxseq ping pong pingpong")
        ->check(CLI::IsMember({"tx", "rx", "txrx", "txseq", "rxseq", "txrxseq", "ping", "pong", "pingpong"}));
    app.add_option("-i,--port", cfg.ports,
                   "port name (txrx, txrxseq, pingpong: two; the first sends/pings); a bare IFNAME or netmap:IFNAME "
                   "opens netif:IFNAME");
    app.add_option("-n,--count", cfg.count, "packets to send, receive or ping (0: no limit)");
    app.add_option("-l,--size", sizes,
                   "frame size without FCS, or a range LO-HI (walked in order, -z/-Z random); netmap's -l MAX -l MIN "
                   "gives the range too")
        ->allow_extra_args(false);
    app.add_option("-b,--batch", cfg.batch, "packets per sync")->check(CLI::Range(1, 65536));
    app.add_option("-R,--rate", cfg.rate, "packets per second per sender (0: as fast as possible)")
        ->check(upio::tools::at_least(0));
    app.add_option("-p,--threads", cfg.threads, "threads per port, one ring pair each")->check(CLI::Range(1, 64));
    app.add_option("-a,--cpu", cfg.cpus, "pin workers to these CPUs in order (with -c: the first CPU)");
    app.add_option("-c,--cores", cfg.cores, "spread workers round-robin over this many CPUs from -a")
        ->check(CLI::Range(1, 4096));
    app.add_option("-T,--interval", interval,
                   "time between reports: milliseconds as in netmap's pkt-gen, or with a unit (2s, 100ms, 500us); "
                   "default 1s");
    app.add_option("-w,--wait-link", cfg.wait_link, "seconds to wait for link up")->check(upio::tools::at_least(0));
    app.add_option("--duration", cfg.duration, "stop after this many seconds (0: no limit)")
        ->check(upio::tools::at_least(0));
    app.add_option("--timeout", cfg.timeout,
                   "fail when a sender's ring stays full, or ping gets no reply, this many seconds (0: wait forever)")
        ->check(upio::tools::at_least(0));
    app.add_option("--slots", cfg.slots, "slots per ring")->check(CLI::Range(64, 65536));
    app.add_flag("--busy", cfg.busy, "busy-wait instead of sleeping on the port's descriptor");
    app.add_option("--spin", cfg.spin_us, "microseconds a blocking wait polls before it sleeps (0: sleep at once)")
        ->check(CLI::Range(0.0, 1e6));
    app.add_flag("--json", cfg.json, "print JSON lines");
    app.add_option("-S,--src-mac", src_mac, "source MAC");
    app.add_option("-D,--dst-mac", dst_mac, "destination MAC");
    app.add_option("-s,--src-ip", src_ip, "source IPv4 address or range, optional :PORT or :LO-HI");
    app.add_option("-d,--dst-ip", dst_ip, "destination IPv4 address or range, optional :PORT or :LO-HI");
    app.add_flag("-z", rand_src, "random source address and port within the -s range");
    app.add_flag("-Z", rand_dst, "random destination address and port within the -d range");
    app.add_option("-P,--replay", replay, "send the frames of this pcap file, in a loop");
    app.add_option("--pcap", cfg.pcap_out, "write received frames to this pcap file");
    app.add_flag("--no-hugepages", no_huge, "use normal pages even when hugepages are available");
    app.add_flag("--lossless", inv.lossless,
                 "VALE: receiving VALE ports hold their senders back instead of dropping (vale::set_back_pressure)");
    app.add_flag("--ixgbe-model", inv.ixgbe_model,
                 "ixgbe: ports are software 82599s; functions 0 and 1 of a device are wired back to back");
    app.add_option("--ixgbe-model-wire", inv.ixgbe_wire,
                   "with --ixgbe-model: function 0's wire is this upio port (e.g. vale0:nic) instead of function 1");
    app.add_flag("--e1000-model", inv.e1000_model,
                 "e1000: ports are software 82574Ls; functions 0 and 1 of a device are wired back to back");
    app.add_option("--e1000-model-wire", inv.e1000_wire,
                   "with --e1000-model: function 0's wire is this upio port instead of function 1");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e); // --help, --version
        return bad_usage(std::string(e.what()) + " (pkt-gen --help lists the options)");
    }

    for (std::string& p : cfg.ports) p = port_name_of(p);
    inv.embedded_default = cfg.ports.empty() && cfg.mode == "txrx"; // both ends of a pipe
    if (inv.embedded_default) {
        cfg.ports = {"pipe:pktgen{0", "pipe:pktgen}0"};
        if (cfg.duration == 0 && cfg.count == 0) cfg.duration = 5;
    }
    if (no_huge) cfg.hugepages = upio::HugepagePolicy::never;
    if (!inv.ixgbe_wire.empty() && !inv.ixgbe_model) return bad_usage("--ixgbe-model-wire needs --ixgbe-model");
    if (!inv.e1000_wire.empty() && !inv.e1000_model) return bad_usage("--e1000-model-wire needs --e1000-model");
    bool bare = false; // a bare -T under 10 ms or of a minute or more was likely meant in seconds
    if (auto t = parse_interval(interval, bare))
        cfg.interval = *t;
    else
        return bad_usage("--interval: '" + interval + "' must be more than 0 (milliseconds, or with a unit: 2s, 100ms, 500us)");
    if (bare && (cfg.interval < 0.01 || cfg.interval >= 60))
        fmt::print(stderr, "pkt-gen: warning: -T {} is in milliseconds, as in netmap's pkt-gen: a report every {:g} s; "
                           "a unit says which you mean (-T {}ms, -T {}s)\n",
                   interval, cfg.interval, interval, interval);
    cfg.seq = cfg.mode.find("seq") != std::string::npos;
    if (!parse_sizes(sizes, cfg.vary.size))
        return bad_usage("bad -l: " + fmt::format("{}", fmt::join(sizes, " -l ")) +
                         " (60..9018, LO-HI, or -l MAX -l MIN)");
    cfg.frame.size = cfg.vary.size.hi == cfg.vary.size.lo ? cfg.vary.size.lo : cfg.vary.size.hi;
    cfg.vary.size.random = rand_src || rand_dst;
    if (!src_mac.empty() && !parse_mac(src_mac, cfg.frame.src_mac)) return bad_usage("bad -S MAC: " + src_mac);
    if (!dst_mac.empty() && !parse_mac(dst_mac, cfg.frame.dst_mac)) return bad_usage("bad -D MAC: " + dst_mac);
    cfg.vary.src_ip = {cfg.frame.src_ip, cfg.frame.src_ip, rand_src};
    cfg.vary.dst_ip = {cfg.frame.dst_ip, cfg.frame.dst_ip, rand_dst};
    cfg.vary.src_port = {cfg.frame.src_port, cfg.frame.src_port, rand_src};
    cfg.vary.dst_port = {cfg.frame.dst_port, cfg.frame.dst_port, rand_dst};
    if (!src_ip.empty() && !parse_ip_range(src_ip, cfg.vary.src_ip, cfg.vary.src_port))
        return bad_usage("bad -s: " + src_ip + " (A.B.C.D[-A.B.C.D][:PORT[-PORT]])");
    if (!dst_ip.empty() && !parse_ip_range(dst_ip, cfg.vary.dst_ip, cfg.vary.dst_port))
        return bad_usage("bad -d: " + dst_ip + " (A.B.C.D[-A.B.C.D][:PORT[-PORT]])");
    cfg.frame.src_ip = cfg.vary.src_ip.lo;
    cfg.frame.dst_ip = cfg.vary.dst_ip.lo;
    cfg.frame.src_port = std::uint16_t(cfg.vary.src_port.lo);
    cfg.frame.dst_port = std::uint16_t(cfg.vary.dst_port.lo);
    if (!replay.empty()) {
        std::string err;
        if (const int rc = load_pcap(replay, cfg.replay, err)) {
            fmt::print(stderr, "pkt-gen: {}\n", err);
            return rc;
        }
    }

    inv.two = cfg.mode == "txrx" || cfg.mode == "txrxseq" || cfg.mode == "pingpong";
    const bool many = inv.two && cfg.mode != "pingpong"; // several senders into one receiver
    const std::size_t want = inv.two ? 2 : 1;
    if (many ? cfg.ports.size() < want : cfg.ports.size() != want)
        return bad_usage(fmt::format("-f {} needs {}{} -i port{} (got {})", cfg.mode, many ? "at least " : "", want,
                                     want > 1 ? "s" : "", cfg.ports.size()));
    std::uint32_t senders = 0;
    inv.roles.clear();
    for (std::size_t i = 0; i < cfg.ports.size(); i++) {
        inv.roles.push_back(role_of(cfg, i));
        if (inv.roles.back() == Role::sender) senders += cfg.threads;
    }
    cfg.streams = std::max<std::uint32_t>(senders, 1);
    if (auto bad = check_cpus(cfg, cfg.ports.size() * cfg.threads)) return bad_usage(*bad);

    if (inv.embedded_default) // announced once the options are known to be good (JSON lines: on stderr)
        fmt::print(cfg.json ? stderr : stdout, "pkt-gen: no ports given; running -f txrx -i 'pipe:pktgen{{0' -i 'pipe:pktgen}}0'{}\n",
                   cfg.duration > 0 ? fmt::format(" --duration {}", cfg.duration) : "");
    return std::nullopt;
}

} // namespace pktgen
