// pkt-gen's ports: the device models asked for, one port and worker per -i
// port and thread, and the wait for the links.
#include "cli.hpp"

#include <upio/models.hpp>
#include <upio/vale.hpp>

#include <fmt/format.h>

#include <chrono>
#include <thread>

namespace pktgen {
namespace {

upio::PortOptions port_options(const Config& cfg) {
    upio::PortOptions opts;
    opts.tx_slots = opts.rx_slots = cfg.slots;
    opts.rings = cfg.threads;
    opts.wait_spin = std::chrono::microseconds(std::int64_t(cfg.spin_us));
    opts.memory.hugepages = cfg.hugepages;
    return opts;
}

} // namespace

bool enable_models(const Invocation& inv, std::string& err) {
    struct Ask {
        bool on;
        upio::models::Family family;
        const std::string& wire;
        const char* option;
    };
    for (const Ask& a : {Ask{inv.ixgbe_model, upio::models::Family::ixgbe, inv.ixgbe_wire, "--ixgbe-model-wire"},
                         Ask{inv.e1000_model, upio::models::Family::e1000, inv.e1000_wire, "--e1000-model-wire"}}) {
        if (!a.on) continue;
        upio::models::Options mo;
        mo.wire = a.wire;
        mo.wire_options = port_options(inv.cfg);
        if (auto st = upio::models::enable(a.family, mo); !st) {
            err = std::string(a.option) + ": " + st.error().message;
            return false;
        }
    }
    return true;
}

bool open_workers(const Invocation& inv, std::vector<std::unique_ptr<Worker>>& workers, std::string& err) {
    const Config& cfg = inv.cfg;
    const upio::PortOptions opts = port_options(cfg);
    for (std::size_t i = 0; i < cfg.ports.size(); i++) {
        for (std::uint32_t t = 0; t < cfg.threads; t++) {
            auto w = std::make_unique<Worker>();
            w->role = inv.roles[i];
            std::size_t idx = workers.size();
            w->stream = std::uint32_t(idx); // senders come first
            if (w->role == Role::receiver && cfg.seq) w->seq.resize(inv.two ? cfg.streams : 64); // rxseq: any sender
            if (cfg.cores > 0)
                w->cpu = (cfg.cpus.empty() ? 0 : cfg.cpus[0]) + int(idx % std::size_t(cfg.cores));
            else if (idx < cfg.cpus.size())
                w->cpu = cfg.cpus[idx];
            std::string name = cfg.ports[i];
            if (cfg.threads > 1) {
                if (name.starts_with("pipe:")) {
                    err = fmt::format("-p {}: a pipe end has one ring pair; use VALE or NIC ports", cfg.threads);
                    return false;
                }
                name += ",ring=" + std::to_string(t); // every type takes it (a "-N" would be part of a VALE port's name)
            }
            auto p = upio::Port::open(name, opts);
            if (!p) {
                err = p.error().message;
                return false;
            }
            w->port = std::move(p.value());
            if (inv.lossless && w->role != Role::sender && w->port->name().type_name() == "vale") {
                if (auto st = upio::vale::set_back_pressure(name, true); !st) {
                    err = st.error().message;
                    return false;
                }
            }
            if (w->role == Role::receiver && !cfg.pcap_out.empty()) {
                std::string path = cfg.threads > 1 ? cfg.pcap_out + "." + std::to_string(t) : cfg.pcap_out;
                w->pcap = open_pcap_writer(path, err);
                if (!w->pcap) return false;
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
            if (!w->port->link_up()) {
                err = fmt::format("{}: link still down after {} s", w->port->name().full, cfg.wait_link);
                return false;
            }
    }
    return true;
}

} // namespace pktgen
