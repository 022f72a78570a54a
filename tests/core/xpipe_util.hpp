// Helpers of the cross-process pipe tests: the other process (pkt-gen or
// tests/core/xpipe_peer) as a child whose output the test reads.
#pragma once

#include "helpers.hpp"
#include "pipes/pipe.hpp"
#include "shm/rendezvous.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace upio::test::xpipe {


using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

struct Child {
    pid_t pid = -1;
    int out = -1; // its stdout and stderr
    std::string text;
    int status = -1;
    bool eof = false;

    // Reads until `what` appears in its output, it exits, or `limit` passes.
    bool read_until(const std::string& what, std::chrono::seconds limit = 60s) {
        const auto until = clock_type::now() + limit;
        while (text.find(what) == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
            if (left.count() <= 0) return false;
            pollfd p{out, POLLIN, 0};
            if (::poll(&p, 1, int(left.count())) <= 0) continue;
            char buf[4096];
            const ssize_t n = ::read(out, buf, sizeof buf);
            if (n <= 0) {
                eof = true;
                return text.find(what) != std::string::npos;
            }
            text.append(buf, std::size_t(n));
        }
        return true;
    }
    // Reads to the end of its output and reaps it; false if it runs past `limit`.
    bool finish(std::chrono::seconds limit = 120s) {
        if (!eof) read_until(std::string(1, '\0'), limit); // never printed: reads to EOF or the limit
        if (eof && ::waitpid(pid, &status, 0) == pid) return true; // it closed its output: it is ending
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return false;
    }
    bool exited(int code) const { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
    ~Child() {
        if (out >= 0) ::close(out);
        if (pid > 0 && status == -1 && ::waitpid(pid, &status, WNOHANG) == 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
        }
    }
};

// Starts `path args...` with its output on a pipe; `before_exec` runs in the child.
inline std::unique_ptr<Child> spawn(const char* path, std::vector<std::string> args,
                             const std::function<void()>& before_exec = {}) {
    int fds[2];
    // close-on-exec: another child started meanwhile must not hold the write end open
    if (::pipe2(fds, O_CLOEXEC) != 0) return nullptr;
    std::vector<char*> argv{const_cast<char*>(path)}; // built here: the child only execs
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(fds[1], 1);
        ::dup2(fds[1], 2);
        ::alarm(300); // a hung child cannot outlive the run for long
        if (before_exec) before_exec();
        ::execv(path, argv.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    auto c = std::make_unique<Child>();
    c->pid = pid;
    c->out = fds[0];
    return c;
}

inline std::unique_ptr<Child> peer(std::vector<std::string> args) { return spawn(XPIPE_PEER_PATH, std::move(args)); }
inline std::unique_ptr<Child> pktgen(std::vector<std::string> args) {
    args.push_back("--no-hugepages");
    return spawn(PKTGEN_PATH, std::move(args));
}

// Whether a process listens on pipe NAME{N / }N's rendezvous (it serves
// the pair): the abstract socket shows in /proc/net/unix.
inline bool served(const std::string& name, std::uint32_t id) {
    const std::string want = "@" + shm::rendezvous_name("pipe", name + "/" + std::to_string(id));
    std::ifstream f("/proc/net/unix");
    for (std::string line; std::getline(f, line);)
        if (line.size() >= want.size() && line.compare(line.size() - want.size(), want.size(), want) == 0) return true;
    return false;
}

// Polls until the pair is served (its first process is up), within a limit.
inline bool wait_served(const std::string& name, std::chrono::seconds limit = 60s) {
    for (auto until = clock_type::now() + limit; clock_type::now() < until; std::this_thread::yield())
        if (served(name, 0)) return true;
    return false;
}

inline std::string pid_name(const char* base) { return unique_name(base); }

} // namespace upio::test::xpipe
