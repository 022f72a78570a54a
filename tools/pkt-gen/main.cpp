// pkt-gen: generate and sink traffic on any upio port.
//
//   pkt-gen                                  sender and receiver on pipe:pktgen{0 / }0 for 5 s
//   pkt-gen -f tx -i pipe:a{0 -l 1514        send on one port
//   pkt-gen -f rx -i pipe:a}0                receive on one port
//   pkt-gen -f txrx -i vale0:a -i vale0:b    both, in one process
#include "pktgen.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <csignal>
#include <chrono>
#include <cstdio>
#include <thread>

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

struct Totals {
    std::uint64_t packets = 0, bytes = 0, syncs = 0;
};

Totals sum(const std::vector<std::unique_ptr<pktgen::Worker>>& ws, bool sender) {
    Totals t;
    for (auto& w : ws)
        if (w->sender == sender) {
            t.packets += w->stats.packets.load(std::memory_order_relaxed);
            t.bytes += w->stats.bytes.load(std::memory_order_relaxed);
            t.syncs += w->stats.syncs.load(std::memory_order_relaxed);
        }
    return t;
}

void report(const char* dir, double t, double secs, const Totals& now, const Totals& before, bool json) {
    const double pps = double(now.packets - before.packets) / secs;
    const double bps = double(now.bytes - before.bytes) * 8 / secs;
    const double batch = now.syncs > before.syncs ? double(now.packets - before.packets) / double(now.syncs - before.syncs) : 0;
    if (json)
        fmt::print("{{\"t\":{:.3f},\"dir\":\"{}\",\"pps\":{:.0f},\"bps\":{:.0f},\"packets\":{},\"avg_batch\":{:.1f}}}\n",
                   t, dir, pps, bps, now.packets, batch);
    else
        fmt::print("{:8.3f} {} {:9.3f} Mpps {:8.3f} Gbit/s  {:6.1f} avg_batch\n", t, dir, pps / 1e6, bps / 1e9, batch);
}

void summary(const char* dir, const Totals& t, double secs, bool json) {
    if (json)
        fmt::print("{{\"summary\":\"{}\",\"packets\":{},\"bytes\":{},\"seconds\":{:.6f},\"pps\":{:.0f},\"bps\":{:.0f}}}\n",
                   dir, t.packets, t.bytes, secs, double(t.packets) / secs, double(t.bytes) * 8 / secs);
    else
        fmt::print("{} {} packets {} bytes in {:.3f} s: {:.3f} Mpps {:.3f} Gbit/s\n",
                   std::string_view(dir) == "tx" ? "Sent" : "Received", t.packets, t.bytes, secs,
                   double(t.packets) / secs / 1e6, double(t.bytes) * 8 / secs / 1e9);
}

} // namespace

int main(int argc, char** argv) {
    pktgen::Config cfg;
    CLI::App app{"pkt-gen: send and receive packets on upio ports (pipes, VALE, NICs)"};
    app.set_version_flag("--version", "upio pkt-gen 0.1");
    std::string src_mac, dst_mac, src_ip, dst_ip;
    app.add_option("-f,--mode", cfg.mode, "tx | rx | txrx (sender on the first -i, receiver on the second)")
        ->check(CLI::IsMember({"tx", "rx", "txrx"}));
    app.add_option("-i,--port", cfg.ports, "port name, e.g. pipe:x{0, vale0:a, e1000:0000:01:00.0 (txrx: give two)");
    app.add_option("-n,--count", cfg.count, "packets to send or receive (0: no limit)");
    app.add_option("-l,--size", cfg.size, "frame size in bytes without FCS")->check(CLI::Range(60, 9018));
    app.add_option("-b,--batch", cfg.batch, "packets per sync")->check(CLI::Range(1, 65536));
    app.add_option("-R,--rate", cfg.rate, "packets per second (0: line rate)")->check(CLI::NonNegativeNumber);
    app.add_option("-a,--cpu", cfg.cpus, "pin workers to these CPUs, in order (sender first)");
    app.add_option("-T,--interval", cfg.interval, "seconds between reports")->check(CLI::PositiveNumber);
    app.add_option("--duration", cfg.duration, "stop after this many seconds (0: no limit)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--slots", cfg.slots, "slots per ring")->check(CLI::Range(64, 65536));
    app.add_flag("--busy", cfg.busy, "busy-wait instead of sleeping on the port's descriptor");
    app.add_flag("--json", cfg.json, "print JSON lines");
    app.add_option("-S,--src-mac", src_mac, "source MAC");
    app.add_option("-D,--dst-mac", dst_mac, "destination MAC");
    app.add_option("-s,--src-ip", src_ip, "source IPv4 address");
    app.add_option("-d,--dst-ip", dst_ip, "destination IPv4 address");
    bool no_huge = false;
    app.add_flag("--no-hugepages", no_huge, "use normal pages even when hugepages are available");
    CLI11_PARSE(app, argc, argv);

    if (cfg.ports.empty() && cfg.mode == "txrx") { // the embedded default: both ends of a pipe
        cfg.ports = {"pipe:pktgen{0", "pipe:pktgen}0"};
        if (cfg.duration == 0 && cfg.count == 0) cfg.duration = 5;
        fmt::print("pkt-gen: no ports given; running -f txrx -i 'pipe:pktgen{{0' -i 'pipe:pktgen}}0'{}\n",
                   cfg.duration > 0 ? fmt::format(" --duration {}", cfg.duration) : "");
    }
    if (no_huge) cfg.hugepages = upio::HugepagePolicy::never;
    auto bad = [](const std::string& msg) {
        fmt::print(stderr, "pkt-gen: {}\n", msg);
        return 2;
    };
    if (!src_mac.empty() && !pktgen::parse_mac(src_mac, cfg.frame.src_mac)) return bad("bad -S MAC: " + src_mac);
    if (!dst_mac.empty() && !pktgen::parse_mac(dst_mac, cfg.frame.dst_mac)) return bad("bad -D MAC: " + dst_mac);
    if (!src_ip.empty() && !pktgen::parse_ipv4(src_ip, cfg.frame.src_ip)) return bad("bad -s address: " + src_ip);
    if (!dst_ip.empty() && !pktgen::parse_ipv4(dst_ip, cfg.frame.dst_ip)) return bad("bad -d address: " + dst_ip);
    cfg.frame.size = cfg.size;
    const std::size_t want = cfg.mode == "txrx" ? 2 : 1;
    if (cfg.ports.size() != want)
        return bad(fmt::format("-f {} needs {} -i port{} (got {})", cfg.mode, want, want > 1 ? "s" : "", cfg.ports.size()));

    upio::PortOptions opts;
    opts.tx_slots = opts.rx_slots = cfg.slots;
    opts.memory.hugepages = cfg.hugepages;
    std::vector<std::unique_ptr<pktgen::Worker>> workers;
    for (std::size_t i = 0; i < cfg.ports.size(); i++) {
        auto w = std::make_unique<pktgen::Worker>();
        w->sender = cfg.mode == "tx" || (cfg.mode == "txrx" && i == 0);
        w->cpu = i < cfg.cpus.size() ? cfg.cpus[i] : -1;
        auto p = upio::Port::open(cfg.ports[i], opts);
        if (!p) return bad(p.error().message);
        w->port = std::move(p.value());
        if (cfg.frame.size > w->port->memory().buf_size())
            return bad(fmt::format("-l {} is larger than the port's {}-byte buffers", cfg.size,
                                   w->port->memory().buf_size()));
        workers.push_back(std::move(w));
    }

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::atomic<bool> senders_done{false}; // only in-process senders can finish
    std::vector<std::thread> threads;
    for (auto& w : workers) {
        threads.emplace_back([&, wp = w.get()] {
            if (!pktgen::pin_to_cpu(wp->cpu)) wp->error = fmt::format("cannot pin to CPU {}", wp->cpu);
            if (wp->sender)
                pktgen::run_sender(*wp, cfg, g_stop);
            else
                pktgen::run_receiver(*wp, cfg, g_stop, senders_done);
        });
    }

    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    auto last = start;
    Totals prev_tx, prev_rx;
    auto all_done = [&] {
        for (auto& w : workers)
            if (!w->done.load()) return false;
        return true;
    };
    auto tick = std::chrono::duration<double>(cfg.interval);
    while (!all_done()) {
        auto next = last + std::chrono::duration_cast<clock::duration>(tick);
        while (clock::now() < next && !all_done()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        auto now = clock::now();
        double secs = std::chrono::duration<double>(now - last).count();
        double t = std::chrono::duration<double>(now - start).count();
        if (secs > 0.001) {
            Totals tx = sum(workers, true), rx = sum(workers, false);
            if (cfg.mode != "rx") report("tx", t, secs, tx, prev_tx, cfg.json);
            if (cfg.mode != "tx") report("rx", t, secs, rx, prev_rx, cfg.json);
            prev_tx = tx;
            prev_rx = rx;
        }
        last = now;
        if (cfg.duration > 0 && t >= cfg.duration) g_stop.store(true);
        bool s_done = cfg.mode == "txrx";
        for (auto& w : workers)
            if (w->sender && !w->done.load()) s_done = false;
        senders_done.store(s_done);
    }
    for (auto& t : threads) t.join();
    double secs = std::chrono::duration<double>(clock::now() - start).count();
    int rc = 0;
    for (auto& w : workers)
        if (!w->error.empty()) {
            fmt::print(stderr, "pkt-gen: {}: {}\n", w->port->name().full, w->error);
            rc = 1;
        }
    if (cfg.mode != "rx") summary("tx", sum(workers, true), secs, cfg.json);
    if (cfg.mode != "tx") summary("rx", sum(workers, false), secs, cfg.json);
    return rc;
}
