// upio/iova.hpp -- kept for existing includes: the backend API's
// <upio/backend/iova.hpp>.
#pragma once

#include <upio/backend/iova.hpp>
