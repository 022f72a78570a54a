// Reading a fuzzer's input as a stream of small values (zero once used up).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace upio::fuzz {

class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
    bool empty() const noexcept { return n_ == 0; }
    template <class T>
    T get() noexcept {
        T v{};
        const std::size_t k = n_ < sizeof v ? n_ : sizeof v;
        std::memcpy(&v, p_, k);
        p_ += k, n_ -= k;
        return v;
    }
    std::uint8_t byte() noexcept { return get<std::uint8_t>(); }

private:
    const std::uint8_t* p_;
    std::size_t n_;
};

} // namespace upio::fuzz
