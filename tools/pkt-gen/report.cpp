// pkt-gen's reports: a rate line per role and interval, and the summaries
// at the end (totals, sequence checks, VALE counters, round-trip times, model
// wires, where each worker ran, the CPU time the run used).
#include "cli.hpp"

#include <upio/models.hpp>
#include <upio/vale.hpp>

#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <ctime>

namespace pktgen {
namespace {

const char* role_name(Role r) {
    switch (r) {
    case Role::sender: return "tx";
    case Role::receiver: return "rx";
    case Role::ping: return "ping";
    case Role::pong: return "pong";
    }
    return "?";
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

void seq_summary(const std::vector<std::unique_ptr<Worker>>& ws, bool json) {
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
void vale_summary(const std::vector<std::unique_ptr<Worker>>& ws, bool json) {
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

void rtt_summary(const std::vector<std::unique_ptr<Worker>>& ws, bool json) {
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

// What the run (workers and reporter, without start-up and exit) cost in CPU.
void cpu_summary(double cpu, double secs, bool json) {
    if (json)
        fmt::print("{{\"summary\":\"cpu\",\"cpu_seconds\":{:.6f},\"seconds\":{:.6f}}}\n", cpu, secs);
    else
        fmt::print("CPU: {:.3f} s in {:.3f} s ({:.0f}% of one CPU)\n", cpu, secs, secs > 0 ? cpu / secs * 100 : 0.0);
}

// Where each worker ran: the CPU it finished on and the CPUs it was allowed
// (with -a/-c: the one it was pinned to). Text mode: only pinned workers.
void worker_summary(const std::vector<std::unique_ptr<Worker>>& ws, bool json) {
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

} // namespace

Totals sum(const std::vector<std::unique_ptr<Worker>>& ws, Role role) {
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

void final_summary(const Config& cfg, const std::vector<std::unique_ptr<Worker>>& ws, double secs, double cpu_used) {
    for (Role r : {Role::sender, Role::receiver, Role::ping, Role::pong})
        if (std::any_of(ws.begin(), ws.end(), [r](const auto& w) { return w->role == r; }))
            summary(r, sum(ws, r), secs, cfg.json);
    if (cfg.seq) seq_summary(ws, cfg.json);
    vale_summary(ws, cfg.json);
    rtt_summary(ws, cfg.json);
    model_wire_summary(cfg.json);
    worker_summary(ws, cfg.json);
    cpu_summary(cpu_used, secs, cfg.json);
}

} // namespace pktgen
