// pkt-gen's program around the workers: options (options.cpp), ports and
// workers (ports.cpp), reports and summaries (report.cpp); main.cpp runs it.
#pragma once

#include "pktgen.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pktgen {

// What the command line asks for, checked.
struct Invocation {
    Config cfg;
    bool embedded_default = false; // no ports given: both ends of an in-process pipe
    bool two = false;              // senders/pings and their peers run in this process
    std::vector<Role> roles;       // per -i port
    bool ixgbe_model = false, e1000_model = false;
    bool lossless = false; // receiving VALE ports hold senders back (vale::set_back_pressure)
    std::string ixgbe_wire, e1000_wire; // --ixgbe-model-wire, --e1000-model-wire
};

// Parses and checks the command line. An exit status when the program is
// to end now (help, version, a bad option: message printed), else nullopt.
std::optional<int> parse_options(int argc, char** argv, Invocation& inv);

// "pkt-gen: MSG" on stderr; returns 2, the status of a bad command line.
int bad_usage(const std::string& msg);

// The device models the options ask for (upio/models.hpp). False, with
// `err`, when a wire cannot be opened.
bool enable_models(const Invocation& inv, std::string& err);

// Opens every -i port (one per thread with -p) and its worker; then with -w
// waits for the links. False, with `err`, when a port cannot be opened.
bool open_workers(const Invocation& inv, std::vector<std::unique_ptr<Worker>>& workers, std::string& err);

// -- reports (report.cpp)

struct Totals {
    std::uint64_t packets = 0, bytes = 0, syncs = 0;
    std::uint64_t drops = 0; // the ports' own count: frames the port (or its NIC) dropped
};

Totals sum(const std::vector<std::unique_ptr<Worker>>& ws, Role role);
// The workers [first, first + n): one -i port's (its -p threads).
Totals sum(const std::vector<std::unique_ptr<Worker>>& ws, std::size_t first, std::size_t n);
// One line: the rate of `role` over the last `secs` seconds; with `port`
// (JSON only), of that one -i port.
void report(Role role, double t, double secs, const Totals& now, const Totals& before, bool json,
            const std::string* port = nullptr);
// Everything printed once the run is over.
void final_summary(const Config& cfg, const std::vector<std::unique_ptr<Worker>>& ws, double secs, double cpu_used);

// The calling thread's CPU affinity as a list: "0-3", "1", "0,2".
std::string allowed_cpus();
double thread_cpu_seconds();
double process_cpu_seconds();

} // namespace pktgen
