#include "proto/http1_writer.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace wsgate::proto {

namespace {

// RFC 9110 §5.5 field-value / §4.3 reason-phrase: HTAB, SP, VCHAR, obs-text. Everything else is
// a control character, and CR / LF / NUL among them would let a value inject fields or a body.
bool is_field_text(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

bool is_target(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c > 0x20 && c < 0x7f;
  });
}

bool is_version(int major, int minor) noexcept {
  return major >= 0 && major <= 9 && minor >= 0 && minor <= 9;
}

std::error_code check_fields(const HttpHeaders& headers) noexcept {
  for (const auto& f : headers) {
    if (!is_token(f.name)) return HttpErrc::invalid_field_name;
    if (!is_field_text(f.value)) return HttpErrc::invalid_field_value;
  }
  return {};
}

// A head is sized first and written with one resize, then plain copies: no reallocation and no
// per-piece insert bookkeeping (heads are written for every proxied request and response).
std::size_t fields_size(const HttpHeaders& headers) noexcept {
  std::size_t n = 2;  // the blank line
  for (const auto& f : headers) n += f.name.size() + 2 + f.value.size() + 2;
  return n;
}

class HeadWriter {
 public:
  HeadWriter(Bytes& out, std::size_t n) : old_(out.size()) {
    out.resize(old_ + n);
    p_ = reinterpret_cast<char*>(out.data() + old_);
  }
  HeadWriter& put(std::string_view s) noexcept {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
    return *this;
  }
  HeadWriter& put(char c) noexcept {
    *p_++ = c;
    return *this;
  }
  void version(int major, int minor) noexcept {
    put("HTTP/").put(static_cast<char>('0' + major)).put('.').put(static_cast<char>('0' + minor));
  }
  void fields(const HttpHeaders& headers) noexcept {
    for (const auto& f : headers) put(f.name).put(": ").put(f.value).put("\r\n");
    put("\r\n");
  }

 private:
  std::size_t old_;
  char* p_ = nullptr;
};

constexpr std::size_t kVersionSize = 8;  // "HTTP/1.1"

// ---- civil calendar (proleptic Gregorian, years 1-9999) --------------------------------------

constexpr std::int64_t kSecondsPerDay = 86400;
constexpr std::array<int, 12> kMonthStart{0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kDays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDays{"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                    "Thursday", "Friday", "Saturday"};

constexpr bool is_leap(std::int64_t y) noexcept {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

// Leap years in [1, y).
constexpr std::int64_t leaps_before(std::int64_t y) noexcept {
  --y;
  return y / 4 - y / 100 + y / 400;
}

constexpr int days_in_month(std::int64_t y, int m) noexcept {
  if (m == 2) return is_leap(y) ? 29 : 28;
  return (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
}

// Days from 1970-01-01 to y-m-d (m 1-12, d 1-31), for y >= 1.
constexpr std::int64_t days_from_civil(std::int64_t y, int m, int d) noexcept {
  const std::int64_t before_year = 365 * (y - 1970) + leaps_before(y) - leaps_before(1970);
  const int in_year = kMonthStart[static_cast<std::size_t>(m - 1)] + (m > 2 && is_leap(y)) + d - 1;
  return before_year + in_year;
}

struct Civil {
  std::int64_t year;
  int month;  // 1-12
  int day;    // 1-31
};

Civil civil_from_days(std::int64_t days) noexcept {
  std::int64_t y = 1970 + days / 365;  // close; the loops below correct it by a year or two
  while (days_from_civil(y, 1, 1) > days) --y;
  while (days_from_civil(y + 1, 1, 1) <= days) ++y;
  int m = 12;
  while (days_from_civil(y, m, 1) > days) --m;
  return {y, m, static_cast<int>(days - days_from_civil(y, m, 1)) + 1};
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

// ---- HTTP-date parsing -------------------------------------------------------------------------

// A cursor over the date text; every step must match exactly.
struct DateReader {
  std::string_view s;

  bool lit(std::string_view x) noexcept {
    if (s.substr(0, x.size()) != x) return false;
    s.remove_prefix(x.size());
    return true;
  }
  // `width` digits, or with pad_space a leading space instead of the first digit (asctime).
  bool num(int width, int& out, bool pad_space = false) noexcept {
    if (s.size() < static_cast<std::size_t>(width)) return false;
    out = 0;
    for (int i = 0; i < width; ++i) {
      const char c = s[static_cast<std::size_t>(i)];
      if (i == 0 && pad_space && c == ' ') continue;
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    s.remove_prefix(static_cast<std::size_t>(width));
    return true;
  }
  template <std::size_t N>
  bool name(const std::array<std::string_view, N>& names, int* index = nullptr) noexcept {
    for (std::size_t i = 0; i < N; ++i) {
      if (lit(names[i])) {
        if (index != nullptr) *index = static_cast<int>(i) + 1;
        return true;
      }
    }
    return false;
  }
  bool time(int& h, int& m, int& sec) noexcept {
    return num(2, h) && lit(":") && num(2, m) && lit(":") && num(2, sec);
  }
};

struct DateParts {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

bool parse_imf_fixdate(DateReader r, DateParts& p) noexcept {
  return r.name(kDays) && r.lit(", ") && r.num(2, p.day) && r.lit(" ") &&
         r.name(kMonths, &p.month) && r.lit(" ") && r.num(4, p.year) && r.lit(" ") &&
         r.time(p.hour, p.minute, p.second) && r.lit(" GMT") && r.s.empty();
}

bool parse_rfc850(DateReader r, DateParts& p) noexcept {
  if (!(r.name(kLongDays) && r.lit(", ") && r.num(2, p.day) && r.lit("-") &&
        r.name(kMonths, &p.month) && r.lit("-") && r.num(2, p.year) && r.lit(" ") &&
        r.time(p.hour, p.minute, p.second) && r.lit(" GMT") && r.s.empty())) {
    return false;
  }
  p.year += p.year >= 70 ? 1900 : 2000;
  return true;
}

bool parse_asctime(DateReader r, DateParts& p) noexcept {
  return r.name(kDays) && r.lit(" ") && r.name(kMonths, &p.month) && r.lit(" ") &&
         r.num(2, p.day, true) && r.lit(" ") && r.time(p.hour, p.minute, p.second) && r.lit(" ") &&
         r.num(4, p.year) && r.s.empty();
}

}  // namespace

std::error_code write_response_head(Bytes& out, const HttpResponseHead& head) {
  if (head.status < 100 || head.status > 599 || !is_field_text(head.reason) ||
      !is_version(head.version_major, head.version_minor)) {
    return HttpErrc::invalid_start_line;
  }
  if (std::error_code ec = check_fields(head.headers)) return ec;
  const std::string_view reason =
      head.reason.empty() ? reason_phrase(head.status) : std::string_view(head.reason);
  HeadWriter w(out, kVersionSize + 5 + reason.size() + 2 + fields_size(head.headers));
  w.version(head.version_major, head.version_minor);
  w.put(' ')
      .put(static_cast<char>('0' + head.status / 100))
      .put(static_cast<char>('0' + head.status / 10 % 10))
      .put(static_cast<char>('0' + head.status % 10))
      .put(' ')
      .put(reason)
      .put("\r\n");
  w.fields(head.headers);
  return {};
}

std::error_code write_request_head(Bytes& out, const HttpRequestHead& head) {
  if (!is_token(head.method) || !is_target(head.target) ||
      !is_version(head.version_major, head.version_minor)) {
    return HttpErrc::invalid_start_line;
  }
  if (std::error_code ec = check_fields(head.headers)) return ec;
  HeadWriter w(out, head.method.size() + 1 + head.target.size() + 1 + kVersionSize + 2 +
                        fields_size(head.headers));
  w.put(head.method).put(' ').put(head.target).put(' ');
  w.version(head.version_major, head.version_minor);
  w.put("\r\n");
  w.fields(head.headers);
  return {};
}

void append_chunk(Bytes& out, ByteView data) {
  if (data.empty()) return;
  std::array<char, 20> hex{};
  const int n = std::snprintf(hex.data(), hex.size(), "%zx\r\n", data.size());
  append(out, std::string_view(hex.data(), static_cast<std::size_t>(n)));
  append(out, data);
  append(out, "\r\n");
}

void append_last_chunk(Bytes& out) {
  append(out, "0\r\n\r\n");
}

std::string http_date(std::time_t t) {
  const std::int64_t lo = days_from_civil(1, 1, 1) * kSecondsPerDay;
  const std::int64_t hi = days_from_civil(10000, 1, 1) * kSecondsPerDay - 1;
  const std::int64_t secs = std::clamp(static_cast<std::int64_t>(t), lo, hi);
  const std::int64_t days = floor_div(secs, kSecondsPerDay);
  const auto in_day = static_cast<int>(secs - days * kSecondsPerDay);
  const Civil c = civil_from_days(days);
  // 1970-01-01 was a Thursday (index 4).
  const auto weekday = static_cast<std::size_t>(days + 4 - floor_div(days + 4, 7) * 7);
  std::array<char, 40> buf{};
  const int n = std::snprintf(
      buf.data(), buf.size(), "%s, %02d %s %04lld %02d:%02d:%02d GMT", kDays[weekday].data(), c.day,
      kMonths[static_cast<std::size_t>(c.month - 1)].data(), static_cast<long long>(c.year),
      in_day / 3600, in_day / 60 % 60, in_day % 60);
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

std::optional<std::time_t> parse_http_date(std::string_view s) {
  DateParts p;
  if (!parse_imf_fixdate({s}, p) && !parse_rfc850({s}, p) && !parse_asctime({s}, p)) {
    return std::nullopt;
  }
  if (p.year < 1 || p.month < 1 || p.day < 1 || p.day > days_in_month(p.year, p.month) ||
      p.hour > 23 || p.minute > 59 || p.second > 60) {
    return std::nullopt;
  }
  const std::int64_t secs = days_from_civil(p.year, p.month, p.day) * kSecondsPerDay +
                            p.hour * 3600 + p.minute * 60 + p.second;
  return static_cast<std::time_t>(secs);
}

}  // namespace wsgate::proto
