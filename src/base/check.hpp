#pragma once
// Invariant checks. WSGATE_CHECK is always on; WSGATE_ASSERT only in debug builds.
// Never use either on anything the network or the config controls: those are errors, not bugs.

namespace wsgate::detail {
/// Prints "file:line: check failed: expr: message" to stderr and aborts. Never returns.
[[noreturn]] void check_failed(const char* file, int line, const char* expr,
                               const char* message) noexcept;
}  // namespace wsgate::detail

#define WSGATE_CHECK(cond, message)                                         \
  do {                                                                      \
    if (!(cond)) [[unlikely]]                                               \
      ::wsgate::detail::check_failed(__FILE__, __LINE__, #cond, (message)); \
  } while (false)

#ifdef NDEBUG
#define WSGATE_ASSERT(cond, message) \
  do {                               \
  } while (false)
#else
#define WSGATE_ASSERT(cond, message) WSGATE_CHECK(cond, message)
#endif
