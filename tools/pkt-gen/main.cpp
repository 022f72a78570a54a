// pkt-gen: generate, sink, check and time traffic on any upio port.
//
//   pkt-gen                                  sender and receiver on pipe:pktgen{0 / }0 for 5 s
//   pkt-gen -f txrx -i 'pipe:a{0' -i 'pipe:a}0' -l 1514   both ends of a pipe, in one process
//   pkt-gen -f tx -i netif:veth0 -l 1514     send on one port (another process or host receives)
//   pkt-gen -f rx -i netif:veth1             receive on one port
//   pkt-gen -f txrx -i vale0:a -i vale0:b    sender and receiver on a VALE switch, in one process
//   pkt-gen -f pingpong -i 'pipe:p{0' -i 'pipe:p}0' -n 10000   round-trip times
// Pipes exist inside one process only: both ends go to one pkt-gen.
#include "cli_checks.hpp"
#include "pktgen.hpp"

#include <upio/models.hpp>
#include <upio/vale.hpp>
#include <upio/version.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <thread>

namespace {

using pktgen::Role;
// Set by SIGINT/SIGTERM; the main loop passes it on to the workers. Static
// storage, so a signal that arrives while main() returns finds it still
// there; lock-free, so storing to it is async-signal-safe.
std::atomic<bool> g_signalled{false};
static_assert(std::atomic<bool>::is_always_lock_free);
// The main loop sleeps on this eventfd until its next report; a signal or a
// worker that finishes wakes it at once. -1: no eventfd, the loop polls.
std::atomic<int> g_wake_fd{-1};
static_assert(std::atomic<int>::is_always_lock_free);
void wake_main() {
    const int fd = g_wake_fd.load(std::memory_order_relaxed);
    if (fd < 0) return;
    const int saved = errno; // a signal handler leaves errno as it found it
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
    errno = saved;
}
void on_signal(int) {
    g_signalled.store(true, std::memory_order_relaxed);
    wake_main();
}
// Sleep until `until`, a wake_main() or a signal, whichever comes first.
void sleep_main(std::chrono::steady_clock::time_point until) {
    using namespace std::chrono;
    const int fd = g_wake_fd.load(std::memory_order_relaxed);
    if (fd < 0) {
        std::this_thread::sleep_for(milliseconds(10));
        return;
    }
    const auto left = ceil<milliseconds>(until - steady_clock::now()).count();
    if (left <= 0) return;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, int(std::min<long long>(left, 1000))) > 0) {
        std::uint64_t count;
        [[maybe_unused]] ssize_t n = ::read(fd, &count, sizeof count);
    }
}

struct Totals {
    std::uint64_t packets = 0, bytes = 0, syncs = 0;
    std::uint64_t drops = 0; // the ports' own count: frames the port (or its NIC) dropped
};

Totals sum(const std::vector<std::unique_ptr<pktgen::Worker>>& ws, Role role) {
    Totals t;
    for (auto& w : ws)
        if (w->role == role) {
            t.packets += w->stats.packets.load(std::memory_order_relaxed);
            t.bytes += w->stats.bytes.load(std::memory_order_relaxed);
            t.syncs += w->stats.syncs.load(std::memory_order_relaxed);
            t.drops += w->port->counters(role == Role::sender ? upio::Direction::tx : upio::Direction::rx).drops;
        }
    return t;
}

const char* role_name(Role r) {
    switch (r) {
    case Role::sender: return "tx";
    case Role::receiver: return "rx";
    case Role::ping: return "ping";
    case Role::pong: return "pong";
    }
    return "?";
}

void report(Role role, double t, double secs, const Totals& now, const Totals& before, bool json) {
    const double pps = double(now.packets - before.packets) / secs;
    const double bps = double(now.bytes - before.bytes) * 8 / secs;
    const double batch =
        now.syncs > before.syncs ? double(now.packets - before.packets) / double(now.syncs - before.syncs) : 0;
    if (json)
        fmt::print("{{\"t\":{:.3f},\"dir\":\"{}\",\"pps\":{:.0f},\"bps\":{:.0f},\"packets\":{},\"avg_batch\":{:.1f}}}\n",
                   t, role_name(role), pps, bps, now.packets, batch);
    else
        fmt::print("{:8.3f} {:4} {:9.3f} Mpps {:8.3f} Gbit/s  {:6.1f} avg_batch\n", t, role_name(role), pps / 1e6,
                   bps / 1e9, batch);
}

void summary(Role role, const Totals& t, double secs, bool json) {
    if (json)
        fmt::print("{{\"summary\":\"{}\",\"packets\":{},\"bytes\":{},\"seconds\":{:.6f},\"pps\":{:.0f},\"bps\":{:.0f},"
                   "\"port_drops\":{}}}\n",
                   role_name(role), t.packets, t.bytes, secs, double(t.packets) / secs, double(t.bytes) * 8 / secs,
                   t.drops);
    else
        fmt::print("{} {} packets {} bytes in {:.3f} s: {:.3f} Mpps {:.3f} Gbit/s{}\n",
                   role == Role::sender ? "Sent" : role == Role::receiver ? "Received" : role == Role::ping ? "Pinged" : "Ponged",
                   t.packets, t.bytes, secs, double(t.packets) / secs / 1e6, double(t.bytes) * 8 / secs / 1e9,
                   t.drops ? fmt::format(" ({} dropped by the port)", t.drops) : std::string());
}

void seq_summary(const std::vector<std::unique_ptr<pktgen::Worker>>& ws, bool json) {
    for (auto& w : ws) {
        if (w->role != Role::receiver) continue;
        for (std::size_t id = 0; id < w->seq.size(); id++) {
            const auto& s = w->seq[id];
            if (w->seq.size() > 1 && s.received() == 0 && s.missing() == 0) continue;
            if (json)
                fmt::print("{{\"seq\":\"{}\",\"stream\":{},\"received\":{},\"missing\":{},\"duplicates\":{},"
                           "\"reordered\":{}}}\n",
                           w->port->name().full, id, s.received(), s.missing(), s.duplicates(), s.reordered());
            else
                fmt::print("Sequence on {} (stream {}): {} received, {} missing, {} duplicates, {} reordered\n",
                           w->port->name().full, id, s.received(), s.missing(), s.duplicates(), s.reordered());
        }
    }
}

// Counters of every VALE port this run used, from the switch itself.
void vale_summary(const std::vector<std::unique_ptr<pktgen::Worker>>& ws, bool json) {
    std::vector<std::string> done;
    for (auto& w : ws) {
        auto v = upio::vale::parse_port_name(w->port->name().full);
        if (!v || std::find(done.begin(), done.end(), v->sw) != done.end()) continue;
        done.push_back(v->sw);
        auto info = upio::vale::describe(v->sw);
        if (!info) continue;
        for (const auto& p : info->ports) {
            if (json) {
                fmt::print("{{\"vale_port\":\"{}\"", p.name);
                for (const auto& f : upio::vale::stat_fields) fmt::print(",\"{}\":{}", f.name, p.stats.*f.field);
                fmt::print("}}\n");
            } else {
                fmt::print("{}:", p.name);
                for (const auto& f : upio::vale::stat_fields) fmt::print(" {} {}", f.name, p.stats.*f.field);
                fmt::print("\n");
            }
        }
    }
}

// One line per model wire: frames each way and those it dropped.
void model_wire_summary(bool json) {
    for (const upio::models::WireCounters& w : upio::models::wire_counters()) {
        if (json)
            fmt::print("{{\"model_wire\":\"{}\",\"to_port\":{},\"from_port\":{},\"dropped\":{},\"refused_by_model\":{}}}\n",
                       w.port, w.to_port, w.from_port, w.dropped, w.refused);
        else
            fmt::print("Model wire {}: {} frames to the port ({} dropped: its ring stayed full), {} from the port ({} "
                       "refused by the model: filtered or no descriptor)\n",
                       w.port, w.to_port, w.dropped, w.from_port, w.refused);
    }
}

void rtt_summary(const std::vector<std::unique_ptr<pktgen::Worker>>& ws, bool json) {
    for (auto& w : ws) {
        if (w->role != Role::ping) continue;
        std::lock_guard lk(w->rtt_mu);
        const auto& h = w->rtt;
        auto us = [](double ns) { return ns / 1000.0; };
        if (json) {
            fmt::print("{{\"rtt\":\"{}\",\"replies\":{},\"lost\":{},\"min_ns\":{},\"avg_ns\":{:.0f},\"p50_ns\":{},"
                       "\"p90_ns\":{},\"p99_ns\":{},\"p999_ns\":{},\"max_ns\":{}}}\n",
                       w->port->name().full, h.count(), w->lost, h.min(), h.avg(), h.percentile(50), h.percentile(90),
                       h.percentile(99), h.percentile(99.9), h.max());
            continue;
        }
        fmt::print("RTT on {}: {} replies, {} lost; min {:.2f} avg {:.2f} p50 {:.2f} p90 {:.2f} p99 {:.2f} "
                   "p99.9 {:.2f} max {:.2f} us\n",
                   w->port->name().full, h.count(), w->lost, us(double(h.min())), us(h.avg()),
                   us(double(h.percentile(50))), us(double(h.percentile(90))), us(double(h.percentile(99))),
                   us(double(h.percentile(99.9))), us(double(h.max())));
        auto c = h.log2_counts();
        for (std::size_t i = 0; i < c.size(); i++)
            if (c[i])
                fmt::print("  [{:>9} ns, {:>9} ns) {:>10}\n", std::uint64_t(1) << i, std::uint64_t(2) << i, c[i]);
    }
}

// The calling thread's CPU affinity as a list: "0-3", "1", "0,2".
std::string allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return "?";
    std::string out;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &set)) continue;
        int e = c;
        while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &set)) e++;
        out += (out.empty() ? "" : ",") + (e == c ? std::to_string(c) : fmt::format("{}-{}", c, e));
        c = e;
    }
    return out;
}

// Where each worker ran: the CPU it finished on and the CPUs it was allowed
// (with -a/-c: the one it was pinned to). Text mode: only pinned workers.
double thread_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

double process_cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// What the run (workers and reporter, without start-up and exit) cost in CPU.
void cpu_summary(double cpu, double secs, bool json) {
    if (json)
        fmt::print("{{\"summary\":\"cpu\",\"cpu_seconds\":{:.6f},\"seconds\":{:.6f}}}\n", cpu, secs);
    else
        fmt::print("CPU: {:.3f} s in {:.3f} s ({:.0f}% of one CPU)\n", cpu, secs, secs > 0 ? cpu / secs * 100 : 0.0);
}

void worker_summary(const std::vector<std::unique_ptr<pktgen::Worker>>& ws, bool json) {
    for (std::size_t i = 0; i < ws.size(); i++) {
        const auto& w = *ws[i];
        if (w.allowed_cpus.empty()) continue; // never ran
        if (json)
            fmt::print("{{\"worker\":{},\"role\":\"{}\",\"port\":\"{}\",\"pinned\":{},\"cpu\":{},"
                       "\"allowed_cpus\":\"{}\",\"cpu_seconds\":{:.6f}}}\n",
                       i, role_name(w.role), w.port->name().full, w.cpu, w.ran_on, w.allowed_cpus, w.cpu_seconds);
        else if (w.cpu >= 0)
            fmt::print("Worker {} ({} on {}): pinned to CPU {}, ran on CPU {}\n", i, role_name(w.role),
                       w.port->name().full, w.cpu, w.ran_on);
    }
}

bool parse_size(const std::string& s, pktgen::Range& r) {
    auto dash = s.find('-');
    auto num = [](std::string_view v, std::uint32_t& out) {
        auto res = std::from_chars(v.data(), v.data() + v.size(), out);
        return res.ec == std::errc() && res.ptr == v.data() + v.size();
    };
    std::string_view sv = s;
    if (!num(sv.substr(0, dash), r.lo)) return false;
    r.hi = r.lo;
    if (dash != std::string::npos && !num(sv.substr(dash + 1), r.hi)) return false;
    return r.lo >= pktgen::min_frame && r.hi <= pktgen::max_frame && r.lo <= r.hi;
}

} // namespace

int main(int argc, char** argv) {
    pktgen::Config cfg;
    CLI::App app{"pkt-gen: send, receive, check and time packets on upio ports (pipes, VALE, NICs, interfaces)"};
    app.set_version_flag("--version", std::string("pkt-gen (upio) ") + upio::version());
    std::string src_mac, dst_mac, src_ip, dst_ip, size = "60", replay;
    bool rand_src = false, rand_dst = false, no_huge = false, ixgbe_model = false;
    std::string model_wire;
    app.add_option("-f,--mode", cfg.mode, "tx rx txrx txseq rxseq txrxseq ping pong pingpong")
        ->check(CLI::IsMember({"tx", "rx", "txrx", "txseq", "rxseq", "txrxseq", "ping", "pong", "pingpong"}));
    app.add_option("-i,--port", cfg.ports, "port name (txrx, txrxseq, pingpong: two; the first sends/pings)");
    app.add_option("-n,--count", cfg.count, "packets to send, receive or ping (0: no limit)");
    app.add_option("-l,--size", size, "frame size without FCS, or a range LO-HI (walked in order, -z/-Z random)");
    app.add_option("-b,--batch", cfg.batch, "packets per sync")->check(CLI::Range(1, 65536));
    app.add_option("-R,--rate", cfg.rate, "packets per second per sender (0: as fast as possible)")
        ->check(upio::tools::at_least(0));
    app.add_option("-p,--threads", cfg.threads, "threads per port, one ring pair each")->check(CLI::Range(1, 64));
    app.add_option("-a,--cpu", cfg.cpus, "pin workers to these CPUs in order (with -c: the first CPU)");
    app.add_option("-c,--cores", cfg.cores, "spread workers round-robin over this many CPUs from -a")
        ->check(CLI::Range(1, 4096));
    app.add_option("-T,--interval", cfg.interval, "seconds between reports")->check(upio::tools::at_least(0, true));
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
    app.add_flag("--ixgbe-model", ixgbe_model,
                 "ixgbe: ports are software 82599s; functions 0 and 1 of a device are wired back to back");
    app.add_option("--ixgbe-model-wire", model_wire,
                   "with --ixgbe-model: function 0's wire is this upio port (e.g. vale0:nic) instead of function 1");
    CLI11_PARSE(app, argc, argv);

    auto bad = [](const std::string& msg) {
        fmt::print(stderr, "pkt-gen: {}\n", msg);
        return 2;
    };
    const bool embedded_default = cfg.ports.empty() && cfg.mode == "txrx"; // both ends of a pipe
    if (embedded_default) {
        cfg.ports = {"pipe:pktgen{0", "pipe:pktgen}0"};
        if (cfg.duration == 0 && cfg.count == 0) cfg.duration = 5;
    }
    if (no_huge) cfg.hugepages = upio::HugepagePolicy::never;
    if (!model_wire.empty() && !ixgbe_model) return bad("--ixgbe-model-wire needs --ixgbe-model");
    cfg.seq = cfg.mode.find("seq") != std::string::npos;
    if (!parse_size(size, cfg.vary.size)) return bad("bad -l: " + size + " (60..9018, or LO-HI)");
    cfg.frame.size = cfg.vary.size.hi == cfg.vary.size.lo ? cfg.vary.size.lo : cfg.vary.size.hi;
    cfg.vary.size.random = rand_src || rand_dst;
    if (!src_mac.empty() && !pktgen::parse_mac(src_mac, cfg.frame.src_mac)) return bad("bad -S MAC: " + src_mac);
    if (!dst_mac.empty() && !pktgen::parse_mac(dst_mac, cfg.frame.dst_mac)) return bad("bad -D MAC: " + dst_mac);
    cfg.vary.src_ip = {cfg.frame.src_ip, cfg.frame.src_ip, rand_src};
    cfg.vary.dst_ip = {cfg.frame.dst_ip, cfg.frame.dst_ip, rand_dst};
    cfg.vary.src_port = {cfg.frame.src_port, cfg.frame.src_port, rand_src};
    cfg.vary.dst_port = {cfg.frame.dst_port, cfg.frame.dst_port, rand_dst};
    if (!src_ip.empty() && !pktgen::parse_ip_range(src_ip, cfg.vary.src_ip, cfg.vary.src_port))
        return bad("bad -s: " + src_ip + " (A.B.C.D[-A.B.C.D][:PORT[-PORT]])");
    if (!dst_ip.empty() && !pktgen::parse_ip_range(dst_ip, cfg.vary.dst_ip, cfg.vary.dst_port))
        return bad("bad -d: " + dst_ip + " (A.B.C.D[-A.B.C.D][:PORT[-PORT]])");
    cfg.frame.src_ip = cfg.vary.src_ip.lo;
    cfg.frame.dst_ip = cfg.vary.dst_ip.lo;
    cfg.frame.src_port = std::uint16_t(cfg.vary.src_port.lo);
    cfg.frame.dst_port = std::uint16_t(cfg.vary.dst_port.lo);
    if (!replay.empty()) {
        std::string err;
        if (!pktgen::load_pcap(replay, cfg.replay, err)) return bad(err);
    }

    const bool two = cfg.mode == "txrx" || cfg.mode == "txrxseq" || cfg.mode == "pingpong";
    const bool many = two && cfg.mode != "pingpong"; // several senders into one receiver
    const std::size_t want = two ? 2 : 1;
    if (many ? cfg.ports.size() < want : cfg.ports.size() != want)
        return bad(fmt::format("-f {} needs {}{} -i port{} (got {})", cfg.mode, many ? "at least " : "", want,
                               want > 1 ? "s" : "", cfg.ports.size()));
    auto role_of = [&](std::size_t i) {
        const std::string& m = cfg.mode;
        if (m == "pingpong") return i == 0 ? Role::ping : Role::pong;
        if (m == "ping") return Role::ping;
        if (m == "pong") return Role::pong;
        if (m == "rx" || m == "rxseq") return Role::receiver;
        if (m == "tx" || m == "txseq") return Role::sender;
        return i + 1 < cfg.ports.size() ? Role::sender : Role::receiver;
    };
    std::uint32_t senders = 0;
    for (std::size_t i = 0; i < cfg.ports.size(); i++)
        if (role_of(i) == Role::sender) senders += cfg.threads;
    cfg.streams = std::max<std::uint32_t>(senders, 1);

    if (embedded_default) // announced once the options are known to be good
        fmt::print("pkt-gen: no ports given; running -f txrx -i 'pipe:pktgen{{0' -i 'pipe:pktgen}}0'{}\n",
                   cfg.duration > 0 ? fmt::format(" --duration {}", cfg.duration) : "");

    upio::PortOptions opts;
    opts.tx_slots = opts.rx_slots = cfg.slots;
    opts.rings = cfg.threads;
    opts.wait_spin = std::chrono::microseconds(std::int64_t(cfg.spin_us));
    opts.memory.hugepages = cfg.hugepages;
    std::vector<std::unique_ptr<pktgen::Worker>> workers;
    struct WireGuard { // the models' wires stop before the ports (and the models) close
        ~WireGuard() { upio::models::close_wires(); }
    } wire_guard;
    if (ixgbe_model) {
        upio::models::Options mo;
        mo.wire = model_wire;
        mo.wire_options = opts;
        if (auto st = upio::models::enable(upio::models::Family::ixgbe, mo); !st)
            return bad("--ixgbe-model-wire: " + st.error().message);
    }
    for (std::size_t i = 0; i < cfg.ports.size(); i++) {
        for (std::uint32_t t = 0; t < cfg.threads; t++) {
            auto w = std::make_unique<pktgen::Worker>();
            w->role = role_of(i);
            std::size_t idx = workers.size();
            w->stream = std::uint32_t(idx); // senders come first
            if (w->role == Role::receiver && cfg.seq) w->seq.resize(two ? cfg.streams : 64); // rxseq: any sender
            if (cfg.cores > 0)
                w->cpu = (cfg.cpus.empty() ? 0 : cfg.cpus[0]) + int(idx % std::size_t(cfg.cores));
            else if (idx < cfg.cpus.size())
                w->cpu = cfg.cpus[idx];
            std::string name = cfg.ports[i];
            if (cfg.threads > 1) {
                if (name.starts_with("pipe:"))
                    return bad(fmt::format("-p {}: a pipe end has one ring pair; use VALE or NIC ports", cfg.threads));
                name += ",ring=" + std::to_string(t); // every type takes it (a "-N" would be part of a VALE port's name)
            }
            auto p = upio::Port::open(name, opts);
            if (!p) return bad(p.error().message);
            w->port = std::move(p.value());
            if (w->role == Role::receiver && !cfg.pcap_out.empty()) {
                std::string err;
                std::string path = cfg.threads > 1 ? cfg.pcap_out + "." + std::to_string(t) : cfg.pcap_out;
                w->pcap = pktgen::open_pcap_writer(path, err);
                if (!w->pcap) return bad(err);
            }
            workers.push_back(std::move(w));
        }
    }

    if (cfg.wait_link > 0) { // -w: NIC ports may take seconds to get a link
        auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(cfg.wait_link);
        for (auto& w : workers)
            while (!w->port->link_up() && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
        for (auto& w : workers)
            if (!w->port->link_up())
                return bad(fmt::format("{}: link still down after {} s", w->port->name().full, cfg.wait_link));
    }

    pktgen::Shared sh;
    g_wake_fd.store(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), std::memory_order_relaxed);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const double cpu_at_start = process_cpu_seconds();
    std::vector<std::thread> threads;
    for (auto& w : workers) {
        threads.emplace_back([&, wp = w.get()] {
            if (!pktgen::pin_to_cpu(wp->cpu)) {
                wp->error = fmt::format("cannot pin to CPU {}: this process may run on CPUs {} (see -a, -c)", wp->cpu,
                                        allowed_cpus());
                sh.stop.store(true);
                wp->done.store(true);
                wake_main();
                return;
            }
            switch (wp->role) {
            case Role::sender: pktgen::run_sender(*wp, cfg, sh); break;
            case Role::receiver: pktgen::run_receiver(*wp, cfg, sh); break;
            case Role::ping: pktgen::run_ping(*wp, cfg, sh); break;
            case Role::pong: pktgen::run_pong(*wp, cfg, sh); break;
            }
            wp->ran_on = sched_getcpu();
            wp->allowed_cpus = allowed_cpus();
            wp->cpu_seconds = thread_cpu_seconds();
            if (!wp->error.empty()) sh.stop.store(true); // one worker failed: the run is over for all
            wake_main();
        });
    }

    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    auto last = start;
    const Role roles[] = {Role::sender, Role::receiver, Role::ping, Role::pong};
    Totals prev[4];
    auto present = [&](Role r) {
        for (auto& w : workers)
            if (w->role == r) return true;
        return false;
    };
    auto finished = [&](bool (*pick)(Role)) {
        bool any = false;
        for (auto& w : workers)
            if (pick(w->role)) {
                any = true;
                if (!w->done.load()) return false;
            }
        return any;
    };
    // the run ends when every active worker is done; pong and receivers
    // follow their in-process peers
    auto leaders_done = [&] {
        bool has_leader = present(Role::sender) || present(Role::ping);
        if (!has_leader) return finished([](Role) { return true; });
        return finished([](Role r) { return r == Role::sender || r == Role::ping; });
    };
    auto all_done = [&] { return finished([](Role) { return true; }); };
    // in-process senders and pings finished: receivers end once idle, pong at once
    auto follow_leaders = [&] {
        if (!two || !leaders_done()) return;
        sh.senders_done.store(true);
        if (cfg.mode == "pingpong") sh.stop.store(true); // pong has nothing left to answer
    };
    // After --duration, a run with both sides lets its receivers take what
    // is already on its way (they end once idle); at most this long.
    constexpr auto drain_limit = std::chrono::seconds(2);
    auto drain_until = clock::time_point::max();
    while (!all_done()) {
        auto next = last + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(cfg.interval));
        if (cfg.duration > 0 && !sh.leaders_stop.load() && !sh.stop.load()) // --duration ends between two reports
            next = std::min(next, start + std::chrono::duration_cast<clock::duration>(
                                              std::chrono::duration<double>(cfg.duration)));
        while (clock::now() < next && !all_done()) {
            if (g_signalled.load(std::memory_order_relaxed) || clock::now() > drain_until) sh.stop.store(true);
            follow_leaders();
            sleep_main(std::min(next, drain_until));
        }
        auto now = clock::now();
        double secs = std::chrono::duration<double>(now - last).count();
        double t = std::chrono::duration<double>(now - start).count();
        if (secs > 0.001)
            for (int r = 0; r < 4; r++)
                if (present(roles[r])) {
                    Totals cur = sum(workers, roles[r]);
                    report(roles[r], t, secs, cur, prev[r], cfg.json);
                    prev[r] = cur;
                }
        std::fflush(stdout); // reports reach a pipe or file as they happen
        last = now;
        if (cfg.duration > 0 && t >= cfg.duration && !sh.leaders_stop.load()) {
            if (two) {
                sh.leaders_stop.store(true);
                drain_until = clock::now() + drain_limit;
            } else {
                sh.stop.store(true);
            }
        }
        if (g_signalled.load(std::memory_order_relaxed)) sh.stop.store(true);
        follow_leaders();
    }
    for (auto& t : threads) t.join();
    upio::models::stop_wires();
    double secs = std::chrono::duration<double>(clock::now() - start).count();
    const double cpu_used = process_cpu_seconds() - cpu_at_start;
    int rc = 0;
    for (auto& w : workers) {
        pktgen::close_pcap_writer(w->pcap);
        if (!w->error.empty()) {
            fmt::print(stderr, "pkt-gen: {}: {}\n", w->port->name().full, w->error);
            rc = 1;
        }
    }
    for (Role r : roles)
        if (present(r)) summary(r, sum(workers, r), secs, cfg.json);
    if (cfg.seq) seq_summary(workers, cfg.json);
    vale_summary(workers, cfg.json);
    rtt_summary(workers, cfg.json);
    model_wire_summary(cfg.json);
    worker_summary(workers, cfg.json);
    cpu_summary(cpu_used, secs, cfg.json);
    return rc;
}
