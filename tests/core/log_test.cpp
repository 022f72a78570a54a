// The log hook (upio/log.hpp): an application's handler receives what the
// library would print, the threshold drops the rest, and without a handler
// the line still goes to stderr. Each case runs in a child process of its
// own: the hook is global, and the hugepage fallback warns once per process
// (ctest runs each case in a process of its own, so none has warned yet).
#include "helpers.hpp"

#include <upio/log.hpp>
#include <upio/port.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

namespace upio {
namespace {

struct Child {
    int status = -1;
    std::string out; // what the child wrote to fd 1
    std::string err; // what the child wrote to fd 2
};

std::string drain(int fd) {
    std::string s;
    char buf[512];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) s.append(buf, std::size_t(n));
    ::close(fd);
    return s;
}

// Runs fn in a child with stdout and stderr captured; fn's return is the exit status.
Child in_child(const std::function<int()>& fn) {
    int out[2], err[2];
    EXPECT_EQ(::pipe(out), 0);
    EXPECT_EQ(::pipe(err), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        ::close(out[0]);
        ::close(err[0]);
        int rc = fn();
        std::fflush(stdout);
        std::fflush(stderr);
        ::_exit(rc);
    }
    ::close(out[1]);
    ::close(err[1]);
    Child c;
    // Small outputs: the pipes' buffers hold them, so one drain after the other is safe.
    c.err = drain(err[0]);
    c.out = drain(out[0]);
    ::waitpid(pid, &c.status, 0);
    return c;
}

// A pipe port whose buffers cannot fit in the free hugepages: its open asks
// for hugepages, fails to get them, and says so once.
bool open_without_hugepages() {
    long free_pages = 0;
    std::ifstream("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") >> free_pages;
    PortOptions o = test::small_opts();
    o.memory.hugepages = HugepagePolicy::prefer;
    o.memory.num_bufs = std::uint32_t((std::size_t(std::max(0L, free_pages)) * (2u << 20) + (64u << 20)) / 2048);
    return Port::open(test::unique_name("pipe:logtest") + "{0", o).ok();
}

TEST(Log, HandlerCapturesWhatAnOpenPrints) {
    Child c = in_child([] {
        set_log_handler([](LogLevel l, std::string_view msg) {
            std::printf("[%s] %.*s\n", log_level_name(l), int(msg.size()), msg.data());
        });
        return open_without_hugepages() ? 0 : 1;
    });
    ASSERT_TRUE(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0) << c.err;
    EXPECT_NE(c.out.find("[warn] "), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("using normal pages (run 'upio-setup hugepages N')"), std::string::npos) << c.out;
    EXPECT_EQ(c.out.find("upio: "), std::string::npos) << "the handler gets the message without the prefix: " << c.out;
    EXPECT_EQ(c.err, "") << "with a handler, nothing goes to stderr";
}

TEST(Log, DefaultGoesToStderr) {
    Child c = in_child([] { return open_without_hugepages() ? 0 : 1; });
    ASSERT_TRUE(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0) << c.err;
    EXPECT_NE(c.err.find("upio: warning: "), std::string::npos) << c.err;
    EXPECT_NE(c.err.find("using normal pages"), std::string::npos) << c.err;
    EXPECT_EQ(c.out, "");
}

TEST(Log, ThresholdDropsLessSevereMessages) {
    Child c = in_child([] {
        set_log_handler([](LogLevel l, std::string_view msg) {
            std::printf("[%s] %.*s\n", log_level_name(l), int(msg.size()), msg.data());
        });
        set_log_level(LogLevel::error);
        bool opened = open_without_hugepages();
        log(LogLevel::info, "an info line");
        log(LogLevel::error, "an error line");
        set_log_level(LogLevel::debug);
        log(LogLevel::debug, "a debug line");
        return opened ? 0 : 1;
    });
    ASSERT_TRUE(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0) << c.err;
    EXPECT_EQ(c.out, "[error] an error line\n[debug] a debug line\n");
}

TEST(Log, EmptyHandlerRestoresTheDefault) {
    Child c = in_child([] {
        set_log_handler([](LogLevel, std::string_view) { std::printf("captured\n"); });
        LogHandler prev = set_log_handler({});
        log(LogLevel::error, "back on stderr");
        return prev ? 0 : 1;
    });
    ASSERT_TRUE(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0) << c.err;
    EXPECT_EQ(c.err, "upio: error: back on stderr\n");
    EXPECT_EQ(c.out, "");
}

} // namespace
} // namespace upio
