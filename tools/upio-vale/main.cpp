// upio-vale: the VALE daemon. Hosts VALE switches that other programs
// join: a process opening valeX:Y while upio-vale serves valeX gets a port
// of this switch (its rings in a region of its own; this process copies
// frames between the ports). vale-ctl lists, attaches and detaches ports.
//
//   upio-vale                      serve vale0
//   upio-vale -s vale0 -s vale1    serve two switches
//
// Runs until SIGINT or SIGTERM; prints "ready" once clients may join.
#include <upio/vale_daemon.hpp>
#include <upio/version.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

namespace {

upio::vale::Daemon* g_daemon = nullptr;
void on_stop(int) {
    if (g_daemon) g_daemon->request_stop();
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"upio-vale: VALE switches that separate programs join (manage them with vale-ctl)"};
    app.set_version_flag("--version", std::string("upio-vale (upio) ") + upio::version());
    std::vector<std::string> switches;
    std::uint32_t slots = 1024;
    app.add_option("-s,--switch", switches, "a switch to serve (valeX; repeat for more; default vale0)");
    app.add_option("--slots", slots, "slots per ring of attached and persistent ports")->check(CLI::Range(64, 16384));
    CLI11_PARSE(app, argc, argv);

    upio::vale::DaemonConfig cfg;
    if (!switches.empty()) cfg.switches = switches;
    cfg.port_options.tx_slots = cfg.port_options.rx_slots = slots;
    cfg.port_options.memory.hugepages = upio::HugepagePolicy::never; // small regions: no reservation needed
    auto d = upio::vale::Daemon::start(cfg);
    if (!d) {
        fmt::print(stderr, "upio-vale: {}\n", d.error().message);
        return 1;
    }
    g_daemon = d.value().get();
    struct sigaction sa{};
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::string names;
    for (const auto& s : cfg.switches) names += (names.empty() ? "" : " ") + s;
    fmt::print("upio-vale: serving {} ready (pid {})\n", names, ::getpid());
    std::fflush(stdout);
    upio::Status s = d.value()->run();
    g_daemon = nullptr;
    if (!s) {
        fmt::print(stderr, "upio-vale: {}\n", s.error().message);
        return 1;
    }
    return 0;
}
