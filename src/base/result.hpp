#pragma once
// Result<T>: a value or a std::error_code. The project's error-return vocabulary (no exceptions on
// the data path; see docs/ARCHITECTURE.md). GCC 12 has no std::expected, hence this small type.

#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "base/check.hpp"

namespace wsgate {

/// Holds either a T or a non-zero std::error_code.
/// Ownership: owns the T. Thread: none (a plain value). Errors: constructing from a zero
/// error_code is a programming error (checked).
template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<T, std::error_code>, "use std::error_code directly");

 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(std::error_code ec) : v_(ec) {      // NOLINT(google-explicit-constructor)
    WSGATE_CHECK(ec, "Result constructed from a success error_code");
  }
  template <class E, std::enable_if_t<std::is_error_code_enum_v<E>, int> = 0>
  Result(E e) : Result(std::error_code(make_error_code(e))) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  /// The error; a default (success) code when ok().
  std::error_code error() const noexcept { return ok() ? std::error_code{} : std::get<1>(v_); }

  /// The value. Calling these on an error is a programming error (checked, aborts).
  T& value() & {
    WSGATE_CHECK(ok(), "Result::value() on an error");
    return std::get<0>(v_);
  }
  const T& value() const& {
    WSGATE_CHECK(ok(), "Result::value() on an error");
    return std::get<0>(v_);
  }
  T&& value() && {
    WSGATE_CHECK(ok(), "Result::value() on an error");
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, std::error_code> v_;
};

}  // namespace wsgate
