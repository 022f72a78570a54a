// The C library's own calls behind the ones this library intercepts.
#pragma once

#include <dlfcn.h>

namespace upio_netmap {

// The C library's call `name` (the next definition after this library's),
// of type F; nullptr if it has none. Each file keeps its calls in a table of
// Reals, named at compile time and looked up when the library is loaded (a
// constructor calls load()), before any thread of the program or of upio
// (its reactor waits in epoll_wait too) can call them: no lazy
// initialisation for two threads to race on. A call from another library's
// constructor, run before this one's, looks its call up itself.
template <typename F> class Real {
public:
    constexpr explicit Real(const char* name) noexcept : name_(name) {}

    void load() noexcept { at_load_ = look_up(name_); }
    F get() const noexcept { return at_load_ ? at_load_ : look_up(name_); }

private:
    static F look_up(const char* name) noexcept { return reinterpret_cast<F>(dlsym(RTLD_NEXT, name)); }

    const char* name_;
    F at_load_ = nullptr;
};

} // namespace upio_netmap
