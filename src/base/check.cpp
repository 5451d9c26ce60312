#include "base/check.hpp"

#include <cstdio>
#include <cstdlib>

namespace wsgate::detail {

void check_failed(const char* file, int line, const char* expr, const char* message) noexcept {
  std::fprintf(stderr, "%s:%d: check failed: %s: %s\n", file, line, expr, message);
  std::fflush(stderr);
  std::abort();
}

}  // namespace wsgate::detail
