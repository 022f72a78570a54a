// pkt-gen's reports: a rate line per role and interval, and the summaries
// at the end (totals, sequence checks, VALE counters, round-trip times, model
// wires, where each worker ran, the CPU time the run used).
#include "cli.hpp"
#include "json_line.hpp"

#include <upio/models.hpp>
#include <upio/vale.hpp>

#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <ctime>

namespace pktgen {
namespace {

Json line(const char* kind, Json value) { return json_line(kind, std::move(value)); }
void emit(Json j) { fmt::print("{}\n", json_text(std::move(j))); }

// Bits on the wire, netmap's -B: each frame also takes 24 bytes there
// (preamble and start delimiter 8, FCS 4, the inter-frame gap 12).
constexpr std::uint64_t l1_overhead = 24;
double l1_bits(const Totals& t) { return double(t.bytes + l1_overhead * t.packets) * 8; }

// Rates and averages as whole numbers, as the text output has them.
std::int64_t whole(double v) { return std::isfinite(v) ? std::llround(v) : 0; }

// Fixed decimals, as the text output has them.
double fixed(double v, int decimals) {
    const double s = std::pow(10.0, decimals);
    return std::isfinite(v) ? std::round(v * s) / s : 0.0;
}

Json buckets(const Histogram& h) {
    Json b = Json::array();
    h.for_each_bucket([&](std::uint64_t lo, std::uint64_t hi, std::uint64_t n) {
        b.push_back(Json{{"lo_ns", lo}, {"hi_ns", hi}, {"count", n}});
    });
    return b;
}

// min, avg, percentiles, max and the buckets of a latency histogram.
void latency_fields(Json& j, const Histogram& h) {
    j["min_ns"] = h.min();
    j["avg_ns"] = whole(h.avg());
    j["p50_ns"] = h.percentile(50);
    j["p90_ns"] = h.percentile(90);
    j["p99_ns"] = h.percentile(99);
    j["p999_ns"] = h.percentile(99.9);
    j["max_ns"] = h.max();
    j["buckets"] = buckets(h);
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

void summary(Role role, const Totals& t, double secs, bool json) {
    if (json) {
        Json j = line("summary", role_name(role));
        j["packets"] = t.packets;
        j["bytes"] = t.bytes;
        j["seconds"] = fixed(secs, 6);
        j["pps"] = whole(double(t.packets) / secs);
        j["bps"] = whole(double(t.bytes) * 8 / secs);
        j["l1_bps"] = whole(l1_bits(t) / secs);
        j["port_drops"] = t.drops;
        emit(j);
    } else
        fmt::print("{} {} packets {} bytes in {:.3f} s: {:.3f} Mpps {:.3f} Gbit/s, {:.3f} Gbit/s on the wire{}\n",
                   role == Role::sender ? "Sent" : role == Role::receiver ? "Received" : role == Role::ping ? "Pinged" : "Ponged",
                   t.packets, t.bytes, secs, double(t.packets) / secs / 1e6, double(t.bytes) * 8 / secs / 1e9,
                   l1_bits(t) / secs / 1e9,
                   t.drops ? fmt::format(" ({} dropped by the port)", t.drops) : std::string());
}

void seq_summary(const std::vector<std::unique_ptr<Worker>>& ws, bool json) {
    for (auto& w : ws) {
        if (w->role != Role::receiver) continue;
        for (std::size_t id = 0; id < w->seq.size(); id++) {
            const auto& s = w->seq[id];
            if (w->seq.size() > 1 && s.received() == 0 && s.missing() == 0) continue;
            if (json) {
                Json j = line("seq", w->port->name().full);
                j["stream"] = id;
                j["received"] = s.received();
                j["missing"] = s.missing();
                j["duplicates"] = s.duplicates();
                j["reordered"] = s.reordered();
                emit(j);
            } else
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
                Json j = line("vale_port", p.name);
                for (const auto& f : upio::vale::stat_fields) j[f.name] = p.stats.*f.field;
                emit(j);
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
            Json j = line("rtt", w->port->name().full);
            j["replies"] = h.count();
            j["lost"] = w->lost;
            latency_fields(j, h);
            emit(j);
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

// Receivers of sequenced frames: the time from the sender's stamp to the
// sync that delivered the frame, when both ran on this host's clock.
void one_way_summary(const std::vector<std::unique_ptr<Worker>>& ws, bool json) {
    for (auto& w : ws) {
        if (w->role != Role::receiver) continue;
        const Histogram& h = w->one_way;
        if (h.count() == 0 && w->other_clock == 0) continue;
        if (json) {
            Json j = line("one_way", w->port->name().full);
            j["frames"] = h.count();
            j["other_clock"] = w->other_clock;
            if (h.count()) latency_fields(j, h);
            emit(j);
            continue;
        }
        auto us = [](double ns) { return ns / 1000.0; };
        if (h.count() == 0) {
            fmt::print("One-way latency on {}: not measured ({} frames carried no stamp on this host's clock: sent "
                       "from another host, or not by pkt-gen -f txseq)\n",
                       w->port->name().full, w->other_clock);
            continue;
        }
        fmt::print("One-way latency on {}: {} frames{}; min {:.2f} avg {:.2f} p50 {:.2f} p90 {:.2f} p99 {:.2f} "
                   "p99.9 {:.2f} max {:.2f} us\n",
                   w->port->name().full, h.count(),
                   w->other_clock ? fmt::format(" ({} more on another clock, left out)", w->other_clock) : "",
                   us(double(h.min())), us(h.avg()), us(double(h.percentile(50))), us(double(h.percentile(90))),
                   us(double(h.percentile(99))), us(double(h.percentile(99.9))), us(double(h.max())));
    }
}

// What the run (workers and reporter, without start-up and exit) cost in CPU.
void cpu_summary(double cpu, double secs, bool json) {
    if (json) {
        Json j = line("summary", "cpu");
        j["cpu_seconds"] = fixed(cpu, 6);
        j["seconds"] = fixed(secs, 6);
        emit(j);
    } else
        fmt::print("CPU: {:.3f} s in {:.3f} s ({:.0f}% of one CPU)\n", cpu, secs, secs > 0 ? cpu / secs * 100 : 0.0);
}

// Where each worker ran: the CPU it finished on and the CPUs it was allowed
// (with -a/-c: the one it was pinned to). Text mode: only pinned workers.
void worker_summary(const std::vector<std::unique_ptr<Worker>>& ws, bool json) {
    for (std::size_t i = 0; i < ws.size(); i++) {
        const auto& w = *ws[i];
        if (w.allowed_cpus.empty()) continue; // never ran
        if (json) {
            Json j = line("worker", i);
            j["role"] = role_name(w.role);
            j["port"] = w.port->name().full;
            j["pinned"] = w.cpu;
            j["cpu"] = w.ran_on;
            j["allowed_cpus"] = w.allowed_cpus;
            j["cpu_seconds"] = fixed(w.cpu_seconds, 6);
            emit(j);
        } else if (w.cpu >= 0)
            fmt::print("Worker {} ({} on {}): pinned to CPU {}, ran on CPU {}\n", i, role_name(w.role),
                       w.port->name().full, w.cpu, w.ran_on);
    }
}

// One line per model wire: frames each way and those it dropped.
void model_wire_summary(bool json) {
    for (const upio::models::WireCounters& w : upio::models::wire_counters()) {
        if (json) {
            Json j = line("model_wire", w.port);
            j["to_port"] = w.to_port;
            j["from_port"] = w.from_port;
            j["dropped"] = w.dropped;
            j["refused_by_model"] = w.refused;
            emit(j);
        } else
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

Totals sum(const std::vector<std::unique_ptr<Worker>>& ws, std::size_t first, std::size_t n) {
    Totals t;
    for (std::size_t i = first; i < first + n && i < ws.size(); i++) {
        const Worker& w = *ws[i];
        t.packets += w.stats.packets.load(std::memory_order_relaxed);
        t.bytes += w.stats.bytes.load(std::memory_order_relaxed);
        t.syncs += w.stats.syncs.load(std::memory_order_relaxed);
        t.drops += w.port->counters(w.role == Role::sender ? upio::Direction::tx : upio::Direction::rx).drops;
    }
    return t;
}

void report(Role role, double t, double secs, const Totals& now, const Totals& before, bool json,
            const std::string* port) {
    const double pps = double(now.packets - before.packets) / secs;
    const double bps = double(now.bytes - before.bytes) * 8 / secs;
    const double batch =
        now.syncs > before.syncs ? double(now.packets - before.packets) / double(now.syncs - before.syncs) : 0;
    if (json) {
        Json j = line("t", fixed(t, 3));
        j["dir"] = role_name(role);
        if (port) j["port"] = *port;
        j["pps"] = whole(pps);
        j["bps"] = whole(bps);
        j["l1_bps"] = whole((l1_bits(now) - l1_bits(before)) / secs);
        j["packets"] = now.packets;
        j["avg_batch"] = fixed(batch, 1);
        emit(j);
    } else
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
    if (cfg.seq) one_way_summary(ws, cfg.json);
    vale_summary(ws, cfg.json);
    rtt_summary(ws, cfg.json);
    model_wire_summary(cfg.json);
    worker_summary(ws, cfg.json);
    cpu_summary(cpu_used, secs, cfg.json);
}

} // namespace pktgen
