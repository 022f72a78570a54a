// pkt-gen: generate, sink, check and time traffic on any upio port.
//
//   pkt-gen                                  sender and receiver on pipe:pktgen{0 / }0 for 5 s
//   pkt-gen -f txrx -i 'pipe:a{0' -i 'pipe:a}0' -l 1514   both ends of a pipe, in one process
//   pkt-gen -f tx -i netif:veth0 -l 1514     send on one port (another process or host receives)
//   pkt-gen -f rx -i netif:veth1             receive on one port
//   pkt-gen -f txrx -i vale0:a -i vale0:b    sender and receiver on a VALE switch, in one process
//   pkt-gen -f pingpong -i 'pipe:p{0' -i 'pipe:p}0' -n 10000   round-trip times
// Pipes exist inside one process only: both ends go to one pkt-gen.
#include "cli.hpp"

#include <upio/models.hpp>

#include <fmt/format.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
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

// The workers' threads and the reporter: until every worker is done, a
// report line per interval; --duration, signals and finished peers stop them.
// Returns the run's length in seconds and the CPU time it used.
void run(const pktgen::Invocation& inv, std::vector<std::unique_ptr<pktgen::Worker>>& workers, double& secs,
         double& cpu_used) {
    const pktgen::Config& cfg = inv.cfg;
    const bool two = inv.two;
    pktgen::Shared sh;
    g_wake_fd.store(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), std::memory_order_relaxed);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const double cpu_at_start = pktgen::process_cpu_seconds();
    std::vector<std::thread> threads;
    for (auto& w : workers) {
        threads.emplace_back([&, wp = w.get()] {
            if (!pktgen::pin_to_cpu(wp->cpu)) {
                wp->error = fmt::format("cannot pin to CPU {}: this process may run on CPUs {} (see -a, -c)", wp->cpu,
                                        pktgen::allowed_cpus());
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
            wp->allowed_cpus = pktgen::allowed_cpus();
            wp->cpu_seconds = pktgen::thread_cpu_seconds();
            if (!wp->error.empty()) sh.stop.store(true); // one worker failed: the run is over for all
            wake_main();
        });
    }

    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    auto last = start;
    const Role roles[] = {Role::sender, Role::receiver, Role::ping, Role::pong};
    pktgen::Totals prev[4];
    // JSON: a rate line per -i port too, for roles that several ports share
    std::vector<pktgen::Totals> prev_port(cfg.ports.size());
    std::vector<bool> port_lines(cfg.ports.size(), false);
    for (std::size_t i = 0; i < cfg.ports.size() && cfg.json; i++)
        port_lines[i] = std::count(inv.roles.begin(), inv.roles.end(), inv.roles[i]) > 1;
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
                    pktgen::Totals cur = pktgen::sum(workers, roles[r]);
                    pktgen::report(roles[r], t, secs, cur, prev[r], cfg.json);
                    prev[r] = cur;
                    for (std::size_t i = 0; i < cfg.ports.size(); i++) {
                        if (!port_lines[i] || inv.roles[i] != roles[r]) continue;
                        pktgen::Totals p = pktgen::sum(workers, i * cfg.threads, cfg.threads);
                        pktgen::report(roles[r], t, secs, p, prev_port[i], true, &cfg.ports[i]);
                        prev_port[i] = p;
                    }
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
    secs = std::chrono::duration<double>(clock::now() - start).count();
    cpu_used = pktgen::process_cpu_seconds() - cpu_at_start;
}

} // namespace

int main(int argc, char** argv) {
    pktgen::Invocation inv;
    if (auto rc = pktgen::parse_options(argc, argv, inv)) return *rc;

    std::vector<std::unique_ptr<pktgen::Worker>> workers;
    struct WireGuard { // the models' wires stop before the ports (and the models) close
        ~WireGuard() { upio::models::close_wires(); }
    } wire_guard;
    std::string err;
    if (!pktgen::enable_models(inv, err) || !pktgen::open_workers(inv, workers, err)) return pktgen::bad_usage(err);

    double secs = 0, cpu_used = 0;
    run(inv, workers, secs, cpu_used);
    upio::models::stop_wires();
    int rc = 0;
    for (auto& w : workers) {
        pktgen::close_pcap_writer(w->pcap);
        if (!w->error.empty()) {
            fmt::print(stderr, "pkt-gen: {}: {}\n", w->port->name().full, w->error);
            rc = 1;
        }
    }
    pktgen::final_summary(inv.cfg, workers, secs, cpu_used);
    return rc;
}
