// The version compiled into the library (the header's macros may come from
// another installation; see upio/version.hpp).
#include <upio/version.hpp>

namespace upio {

const char* version() noexcept { return UPIO_VERSION_STRING; }
int version_number() noexcept { return UPIO_VERSION_NUMBER; }

} // namespace upio
