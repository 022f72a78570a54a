// vale-ctl: netmap's control tool for the VALE daemon (upio-vale).
//
//   vale-ctl -l [valeX]              list the ports and their counters
//   vale-ctl -a valeX:[NAME=]PORT    attach a port of this machine (netif:eth1, tap:tap0, an ixgbe: NIC)
//   vale-ctl -d valeX:NAME           detach it
//   vale-ctl -n valeX:NAME           create a persistent port (the daemon holds it open)
//   vale-ctl -r valeX:NAME           remove it
//   vale-ctl -b valeX:NAME           back-pressure on the frames sent to port NAME (-B: off again)
//   vale-ctl -h ...                  netmap's host-stack attach: not supported (see below)
#include <upio/vale_daemon.hpp>
#include <upio/version.hpp>

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

int usage() {
    fmt::print(stderr,
               "usage: vale-ctl -l [valeX] | -a valeX:[NAME=]PORT | -d valeX:NAME | -n valeX:NAME | -r valeX:NAME | -b|-B valeX:NAME\n"
               "  talks to upio-vale, the VALE daemon of this user\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
        fmt::print("vale-ctl (upio) {}\n", upio::version());
        return 0;
    }
    if (argc < 2 || argc > 3 || argv[1][0] != '-' || std::strlen(argv[1]) != 2) return usage();
    const char op = argv[1][1];
    const std::string arg = argc == 3 ? argv[2] : "";
    if (op == 'h') {
        fmt::print(stderr, "vale-ctl: -h is not supported: netmap's -h attaches a NIC's host stack, and upio's "
                           "ports have none; to reach the kernel, attach a tap device (vale-ctl -a valeX:tap:NAME)\n");
        return 2;
    }
    if (!std::strchr("ladnrbB", op) || (op != 'l' && arg.empty())) return usage();
    auto r = upio::vale::daemon_command(op, arg);
    if (!r) {
        fmt::print(stderr, "vale-ctl: {}\n", r.error().message);
        return 1;
    }
    fmt::print("{}", r.value());
    return 0;
}
