// The log hook (upio/log.hpp): one handler and one threshold for the process.
#include <upio/log.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <mutex>
#include <string>

namespace upio {
namespace {

int level_from_env() noexcept {
    const char* e = std::getenv("UPIO_LOG_LEVEL");
    if (!e) return int(LogLevel::info);
    for (int l = 0; l <= int(LogLevel::debug); l++)
        if (std::strcmp(e, log_level_name(LogLevel(l))) == 0) return l;
    if (std::strcmp(e, "warning") == 0) return int(LogLevel::warn);
    return int(LogLevel::info);
}

std::atomic<int>& threshold() noexcept {
    static std::atomic<int> t{level_from_env()};
    return t;
}

// The handler is copied out under the lock and called outside it, so a
// handler may log or replace itself without deadlocking.
std::mutex handler_mu;
std::shared_ptr<const LogHandler> handler; // null: the default

void to_stderr(LogLevel level, std::string_view msg) noexcept {
    const char* tag = level == LogLevel::error ? "error: " : level == LogLevel::warn ? "warning: " : "";
    // One write per line, so lines from several threads do not interleave.
    std::string line;
    try {
        line.reserve(msg.size() + 16);
        line.append("upio: ").append(tag).append(msg).push_back('\n');
    } catch (...) {
        return;
    }
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

} // namespace

const char* log_level_name(LogLevel level) noexcept {
    switch (level) {
    case LogLevel::error: return "error";
    case LogLevel::warn: return "warn";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
    }
    return "?";
}

LogHandler set_log_handler(LogHandler h) {
    auto next = h ? std::make_shared<const LogHandler>(std::move(h)) : nullptr;
    std::lock_guard lk(handler_mu);
    auto prev = std::exchange(handler, std::move(next));
    return prev ? *prev : LogHandler{};
}

void set_log_level(LogLevel t) noexcept { threshold().store(int(t), std::memory_order_relaxed); }
LogLevel log_level() noexcept { return LogLevel(threshold().load(std::memory_order_relaxed)); }
bool log_enabled(LogLevel level) noexcept { return int(level) <= threshold().load(std::memory_order_relaxed); }

void log(LogLevel level, std::string_view msg) noexcept {
    if (!log_enabled(level)) return;
    std::shared_ptr<const LogHandler> h;
    {
        std::lock_guard lk(handler_mu);
        h = handler;
    }
    if (!h) return to_stderr(level, msg);
    try {
        (*h)(level, msg);
    } catch (...) {
    }
}

} // namespace upio
