// Helpers of the VALE daemon tests: upio-vale and vale-ctl as children
// whose output the test reads (tests/core/xpipe_util.hpp's Child).
#pragma once

#include "../core/xpipe_util.hpp"

#include "vale/daemon_client.hpp"

#include <upio/vale.hpp>

#include <fstream>
#include <sstream>

namespace upio::test {

using namespace xpipe;
namespace valed {

inline std::string switch_name() { return "vale" + unique_name("d"); }

struct DaemonProc {
    std::unique_ptr<Child> c;
    std::string sw;
};

// Starts upio-vale serving `sw` (and `more`), and waits for its "ready".
inline DaemonProc daemon(const std::string& sw, const std::vector<std::string>& more = {}) {
    std::vector<std::string> args{"-s", sw, "--slots", "256"};
    for (const auto& m : more) {
        args.push_back("-s");
        args.push_back(m);
    }
    DaemonProc d{spawn(UPIO_VALE_PATH, args), sw};
    EXPECT_TRUE(d.c->read_until("ready")) << d.c->text;
    return d;
}

// vale-ctl's output (stdout and stderr) and exit status.
inline std::pair<int, std::string> ctl(std::vector<std::string> args) {
    auto c = spawn(VALE_CTL_PATH, std::move(args));
    c->finish();
    return {WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1, c->text};
}

// Polls vale-ctl -l SW until `pred` holds for its listing, within a limit.
inline bool wait_listing(const std::string& sw, const std::function<bool(const std::string&)>& pred,
                  std::chrono::seconds limit = 60s) {
    for (auto until = clock_type::now() + limit; clock_type::now() < until; std::this_thread::yield())
        if (auto [rc, text] = ctl({"-l", sw}); rc == 0 && pred(text)) return true;
    return false;
}
inline bool has_port(const std::string& text, const std::string& port) {
    return text.find(" " + port + " ") != std::string::npos;
}

// utime + stime of process `pid`, in clock ticks.
inline long cpu_ticks(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(f)), {});
    std::istringstream in(all.substr(all.rfind(')') + 2));
    std::string field;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; i++) {
        if (i == 14) utime = std::stol(field);
        if (i == 15) stime = std::stol(field);
    }
    return utime + stime;
}

} // namespace valed
} // namespace upio::test
