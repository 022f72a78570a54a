// upio/error.hpp -- errors as values on the control path.
//
// Opening ports, creating regions and binding devices can fail for reasons
// the user can fix (a wrong name, no permission, no hugepages). Those come
// back as an Error carrying an errno-style code and a message that says what
// to do. The data path (txsync/rxsync) never builds an Error: it returns a
// negative errno and leaves a fixed-size message in the port.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace upio {

struct Error {
    int code = EINVAL;   // an errno value
    std::string message; // what went wrong and what to do about it
};

// Result<T>: a T or an Error (std::expected is C++23).
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const T& value() const& { return std::get<0>(v_); }
    T* operator->() { return &std::get<0>(v_); }
    T& operator*() & { return std::get<0>(v_); }

    const Error& error() const& { return std::get<1>(v_); }
    Error&& error() && { return std::get<1>(std::move(v_)); }

private:
    std::variant<T, Error> v_;
};

// Status: success or an Error.
class [[nodiscard]] Status {
public:
    Status() = default;
    Status(Error error) : error_(std::move(error)), failed_(true) {}
    static Status success() { return {}; }

    bool ok() const noexcept { return !failed_; }
    explicit operator bool() const noexcept { return ok(); }
    const Error& error() const& { return error_; }
    Error&& error() && { return std::move(error_); }

private:
    Error error_;
    bool failed_ = false;
};

// Builds an Error; the message is formatted by the caller.
inline Error make_error(int code, std::string message) {
    return Error{code, std::move(message)};
}

} // namespace upio
