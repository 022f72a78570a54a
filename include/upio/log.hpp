// upio/log.hpp -- where the library's messages go.
//
// The library prints little: a fallback it took (AF_XDP -> AF_PACKET, normal
// pages instead of hugepages), a control thread's news (a memif peer
// connected, a vhost-user front end sent something it refused), a software
// device model's fault. Each such line goes through one hook, so that an
// application can send them to its own logger instead of stderr.
//
//   upio::set_log_handler([](upio::LogLevel l, std::string_view msg) { my_log(l, msg); });
//   upio::set_log_level(upio::LogLevel::warn);   // drop info and debug
//
// The message carries no "upio: " prefix and no newline; the default handler
// writes "upio: MSG" (warnings "upio: warning: MSG", errors "upio: error: MSG")
// as one line on stderr. The threshold defaults to info; the environment
// variable UPIO_LOG_LEVEL (error, warn, info, debug) sets it at start-up.
//
// Only the control path logs (opening, closing, control threads): the data
// path (txsync, rxsync, forwarding) never does; it counts instead. A handler
// may be called from any of the library's threads, and from several at once.
#pragma once

#include <functional>
#include <string_view>

namespace upio {

enum class LogLevel { error = 0, warn = 1, info = 2, debug = 3 };

using LogHandler = std::function<void(LogLevel, std::string_view)>;

// Installs a handler for every later message; an empty one restores the
// default (stderr). Returns the previous handler (empty for the default).
LogHandler set_log_handler(LogHandler handler);

// Messages less severe than `threshold` are dropped before any handler runs.
void set_log_level(LogLevel threshold) noexcept;
LogLevel log_level() noexcept;
bool log_enabled(LogLevel level) noexcept;

// Sends one message (no trailing newline) to the handler if `level` passes
// the threshold. Never throws: a handler's exception is swallowed.
void log(LogLevel level, std::string_view message) noexcept;

const char* log_level_name(LogLevel level) noexcept; // "error", "warn", "info", "debug"

} // namespace upio
