// upio/device.hpp -- kept for existing includes: the backend API's
// <upio/backend/device.hpp>.
#pragma once

#include <upio/backend/device.hpp>
