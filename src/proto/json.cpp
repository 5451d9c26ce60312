// The JSON reader is one cursor (Reader) over the text with a function per token kind. Nesting is
// walked iteratively: an open container costs one bit (array or object) in NestingStack, so a
// 100 000-deep "[[[[" costs a few hundred bytes and never a stack frame per level, and the depth
// check happens before anything is pushed.
//
// UTF-8 is checked once per string, over the raw bytes between the quotes: escapes are ASCII and
// cannot change whether the bytes around them are valid, and '"', '\' and control characters are
// single bytes that never occur inside a multi-byte sequence, so the byte scan that finds the end
// of the string is correct even before the UTF-8 check.
//
// Numbers are validated by the grammar first; the double comes from std::from_chars (locale
// independent, correctly rounded). Integer exactness is decided on the decimal digits, never on
// the double: 9007199254740993 rounds to the double 2^53, which would look exact.

#include "proto/json.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <system_error>

#include "base/bytes.hpp"
#include "proto/utf8.hpp"

namespace wsgate::proto::json {

namespace {

constexpr bool is_ws(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// Exponents saturate here while being read: far beyond any double, far below int64 overflow
// even after subtracting a text length.
constexpr std::int64_t kExponentSaturation = 100'000'000'000'000'000;
// 2^53: the largest magnitude up to which every integer is a double.
constexpr std::uint64_t kMaxExactInteger = std::uint64_t{1} << 53;

// One bit per open container, 1 for an object. The first 256 levels live inline.
class NestingStack {
 public:
  std::size_t depth() const noexcept { return depth_; }
  bool empty() const noexcept { return depth_ == 0; }
  void push(bool is_object) {
    const std::size_t w = depth_ / 64;
    if (w >= small_.size() && w - small_.size() >= large_.size()) large_.push_back(0);
    const std::uint64_t bit = std::uint64_t{1} << (depth_ % 64);
    word(w) = is_object ? (word(w) | bit) : (word(w) & ~bit);
    ++depth_;
  }
  void pop() noexcept { --depth_; }
  bool top_is_object() noexcept {
    return (word((depth_ - 1) / 64) >> ((depth_ - 1) % 64) & 1) != 0;
  }

 private:
  std::uint64_t& word(std::size_t w) noexcept {
    return w < small_.size() ? small_[w] : large_[w - small_.size()];
  }
  std::array<std::uint64_t, 4> small_{};
  std::vector<std::uint64_t> large_;
  std::size_t depth_ = 0;
};

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
    return;
  }
  static constexpr unsigned kLead[] = {0, 0, 0xC0, 0xE0, 0xF0};
  const int n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;  // bytes in the sequence
  out.push_back(static_cast<char>(kLead[n] | (cp >> (6 * (n - 1)))));
  for (int i = n - 2; i >= 0; --i)
    out.push_back(static_cast<char>(0x80 | ((cp >> (6 * i)) & 0x3F)));
}

class Reader {
 public:
  explicit Reader(std::string_view text) noexcept : s_(text) {}

  std::size_t pos() const noexcept { return pos_; }
  std::string_view since(std::size_t start) const noexcept {
    return s_.substr(start, pos_ - start);
  }
  bool at_end() const noexcept { return pos_ == s_.size(); }
  // '\0' at the end: never the start of a token, so callers need no separate end check.
  char peek() const noexcept { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() noexcept {
    while (pos_ < s_.size() && is_ws(s_[pos_])) ++pos_;
  }
  bool consume(char c) noexcept {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  // RFC 8259 §7. At the opening quote; on success after the closing one. Appends the decoded
  // text to *decoded when given (which may then hold a partial decode on failure).
  bool string(std::string* decoded) {
    ++pos_;
    const std::size_t start = pos_;
    std::size_t run = pos_;  // start of the bytes not yet copied to *decoded
    bool non_ascii = false;
    for (;;) {
      if (at_end()) return false;
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') break;
      if (c < 0x20) return false;  // control characters must be escaped
      if (c >= 0x80) non_ascii = true;
      if (c != '\\') {
        ++pos_;
        continue;
      }
      if (decoded) decoded->append(s_, run, pos_ - run);
      ++pos_;
      if (!escape(decoded)) return false;
      run = pos_;
    }
    if (non_ascii && !is_valid_utf8(as_bytes(s_.substr(start, pos_ - start)))) return false;
    if (decoded) decoded->append(s_, run, pos_ - run);
    ++pos_;
    return true;
  }

  // RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
  bool number() noexcept {
    consume('-');
    if (peek() == '0') {
      ++pos_;
    } else if (!digits()) {
      return false;
    }
    if (consume('.') && !digits()) return false;
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digits()) return false;
    }
    return true;
  }

  bool literal(std::string_view word) noexcept {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // Any value, containers walked iteratively; at most `max_depth` levels open at once.
  bool value(std::size_t max_depth) {
    NestingStack stack;
    for (;;) {
      skip_ws();
      const char c = peek();
      if (c == '[' || c == '{') {
        if (stack.depth() >= max_depth) return false;
        stack.push(c == '{');
        ++pos_;
        skip_ws();
        if (!consume(c == '{' ? '}' : ']')) {
          if (c == '{' && !member_key()) return false;
          continue;  // the first element or member value
        }
        stack.pop();  // empty container: a complete value
      } else if (!scalar()) {
        return false;
      }
      // After a complete value: close containers until one continues with ','.
      for (;;) {
        if (stack.empty()) return true;
        skip_ws();
        if (consume(',')) {
          if (stack.top_is_object() && !member_key()) return false;
          break;
        }
        if (!consume(stack.top_is_object() ? '}' : ']')) return false;
        stack.pop();
      }
    }
  }

 private:
  bool digits() noexcept {
    if (!is_digit(peek())) return false;
    while (is_digit(peek())) ++pos_;
    return true;
  }

  bool scalar() {
    switch (peek()) {
      case '"': return string(nullptr);
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return (peek() == '-' || is_digit(peek())) && number();
    }
  }

  // `"key" :` inside an object, whitespace allowed around it.
  bool member_key() {
    skip_ws();
    if (peek() != '"' || !string(nullptr)) return false;
    skip_ws();
    return consume(':');
  }

  // Four hex digits; -1 if not.
  int hex4() noexcept {
    if (s_.size() - pos_ < 4) return -1;
    const char* p = s_.data() + pos_;
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(p, p + 4, v, 16);  // no sign or "0x" for unsigned
    pos_ += 4;
    return ec == std::errc() && end == p + 4 ? static_cast<int>(v) : -1;
  }

  // After a backslash.
  bool escape(std::string* decoded) {
    if (at_end()) return false;
    char out;
    switch (s_[pos_++]) {
      case '"': out = '"'; break;
      case '\\': out = '\\'; break;
      case '/': out = '/'; break;
      case 'b': out = '\b'; break;
      case 'f': out = '\f'; break;
      case 'n': out = '\n'; break;
      case 'r': out = '\r'; break;
      case 't': out = '\t'; break;
      case 'u': return unicode_escape(decoded);
      default: return false;
    }
    if (decoded) decoded->push_back(out);
    return true;
  }

  // After "\u". §7: characters beyond the BMP are a UTF-16 surrogate pair of escapes; a lone or
  // reversed surrogate names no character (and would not survive conversion to UTF-8).
  bool unicode_escape(std::string* decoded) {
    const int hi = hex4();
    if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF)) return false;
    auto cp = static_cast<std::uint32_t>(hi);
    if (hi >= 0xD800 && hi <= 0xDBFF) {
      if (!literal("\\u")) return false;
      const int lo = hex4();
      if (lo < 0xDC00 || lo > 0xDFFF) return false;
      cp = 0x10000 + ((cp - 0xD800) << 10) + static_cast<std::uint32_t>(lo - 0xDC00);
    }
    if (decoded) append_utf8(*decoded, cp);
    return true;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

// A grammatically valid number's parts: digits before and after the point, and the exponent.
struct Decimal {
  bool negative = false;
  std::string_view int_digits;
  std::string_view frac_digits;
  std::int64_t exponent = 0;  // saturated at +-kExponentSaturation
};

Decimal decompose(std::string_view n) noexcept {
  Decimal d;
  std::size_t i = 0;
  if (i < n.size() && n[i] == '-') {
    d.negative = true;
    ++i;
  }
  std::size_t start = i;
  while (i < n.size() && is_digit(n[i])) ++i;
  d.int_digits = n.substr(start, i - start);
  if (i < n.size() && n[i] == '.') {
    start = ++i;
    while (i < n.size() && is_digit(n[i])) ++i;
    d.frac_digits = n.substr(start, i - start);
  }
  if (i < n.size() && (n[i] == 'e' || n[i] == 'E')) {
    ++i;
    bool neg = false;
    if (i < n.size() && (n[i] == '+' || n[i] == '-')) neg = n[i++] == '-';
    for (; i < n.size(); ++i) {
      if (d.exponent < kExponentSaturation) d.exponent = d.exponent * 10 + (n[i] - '0');
    }
    d.exponent = std::min(d.exponent, kExponentSaturation);
    if (neg) d.exponent = -d.exponent;
  }
  return d;
}

// The double nearest to a valid number's text. from_chars reports values beyond the double's
// range without setting one; those become +-infinity or +-0 by the decimal magnitude.
double to_double(std::string_view text) noexcept {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc::result_out_of_range) return v;
  const Decimal d = decompose(text);
  // Position of the leading non-zero digit relative to the point: 1 for "5", 0 for "0.5", -1 for
  // "0.05". The value is at least 1 (so it overflowed) if that plus the exponent is positive.
  const std::size_t int_lead = d.int_digits.find_first_not_of('0');
  std::int64_t magnitude;
  if (int_lead != std::string_view::npos) {
    magnitude = static_cast<std::int64_t>(d.int_digits.size() - int_lead);
  } else {
    const std::size_t frac_lead =
        std::min(d.frac_digits.find_first_not_of('0'), d.frac_digits.size());
    magnitude = -static_cast<std::int64_t>(frac_lead);
  }
  const bool huge = magnitude + d.exponent > 0;
  const double m = huge ? std::numeric_limits<double>::infinity() : 0.0;
  return d.negative ? -m : m;
}

bool read_value(Reader& r, std::size_t max_depth, Value& v) {
  r.skip_ws();
  const std::size_t start = r.pos();
  switch (r.peek()) {
    case '"':
      v.type = Type::string;
      if (!r.string(&v.str)) return false;
      break;
    case '[':
    case '{':
      v.type = r.peek() == '[' ? Type::array : Type::object;
      if (!r.value(max_depth)) return false;
      break;
    case 't':
    case 'f':
      v.type = Type::boolean;
      v.boolean = r.peek() == 't';
      if (!r.literal(v.boolean ? "true" : "false")) return false;
      break;
    case 'n':
      v.type = Type::null;
      if (!r.literal("null")) return false;
      break;
    default:
      v.type = Type::number;
      if (!r.number()) return false;
      v.number = to_double(r.since(start));
  }
  v.raw = r.since(start);
  return true;
}

// The whole of `text` is one `open` ... `close` container; item(r) reads each member or element.
template <class ReadItem>
bool read_container(std::string_view text, char open, char close, ReadItem&& item) {
  Reader r(text);
  r.skip_ws();
  if (!r.consume(open)) return false;
  r.skip_ws();
  if (!r.consume(close)) {
    do {
      if (!item(r)) return false;
      r.skip_ws();
    } while (r.consume(','));
    if (!r.consume(close)) return false;
  }
  r.skip_ws();
  return r.at_end();
}

bool has_duplicate_keys(std::span<const std::pair<std::string, Value>> members) {
  constexpr std::size_t kPairwiseMax = 8;  // below this, sorting costs more than it saves
  if (members.size() <= kPairwiseMax) {
    for (std::size_t i = 0; i < members.size(); ++i) {
      for (std::size_t j = i + 1; j < members.size(); ++j) {
        if (members[i].first == members[j].first) return true;
      }
    }
    return false;
  }
  std::vector<std::string_view> keys;
  keys.reserve(members.size());
  for (const auto& m : members) keys.emplace_back(m.first);
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
}

}  // namespace

bool valid(std::string_view text, std::size_t max_depth) noexcept {
  Reader r(text);
  if (!r.value(max_depth)) return false;
  r.skip_ws();
  return r.at_end();
}

std::optional<Object> parse_object(std::string_view text, std::size_t max_depth) {
  if (max_depth == 0) return std::nullopt;
  Object obj;
  const bool ok = read_container(text, '{', '}', [&](Reader& r) {
    r.skip_ws();
    std::string key;
    if (r.peek() != '"' || !r.string(&key)) return false;
    r.skip_ws();
    Value v;
    if (!r.consume(':') || !read_value(r, max_depth - 1, v)) return false;
    obj.members_.emplace_back(std::move(key), std::move(v));
    return true;
  });
  if (!ok || has_duplicate_keys(obj.members_)) return std::nullopt;
  return obj;
}

std::optional<std::vector<Value>> parse_array(std::string_view text, std::size_t max_depth) {
  if (max_depth == 0) return std::nullopt;
  std::vector<Value> out;
  const bool ok = read_container(text, '[', ']', [&](Reader& r) {
    Value v;
    if (!read_value(r, max_depth - 1, v)) return false;
    out.push_back(std::move(v));
    return true;
  });
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::int64_t> exact_integer(std::string_view number_text) noexcept {
  Reader r(number_text);
  if (!r.number() || !r.at_end()) return std::nullopt;
  const Decimal d = decompose(number_text);
  // The significand's digits are int_digits followed by frac_digits; its value is that digit
  // string times 10^(exponent - frac_digits.size()).
  const std::size_t n = d.int_digits.size() + d.frac_digits.size();
  const auto digit = [&](std::size_t i) {
    return i < d.int_digits.size() ? d.int_digits[i] : d.frac_digits[i - d.int_digits.size()];
  };
  std::size_t lead = 0;
  while (lead < n && digit(lead) == '0') ++lead;
  if (lead == n) return 0;  // 0, -0, 0.000, 0e99
  std::size_t end = n;      // one past the last non-zero digit
  while (digit(end - 1) == '0') --end;
  const std::int64_t scale = d.exponent - static_cast<std::int64_t>(d.frac_digits.size()) +
                             static_cast<std::int64_t>(n - end);
  if (scale < 0) return std::nullopt;      // a non-zero digit is left after the point
  constexpr std::int64_t kMaxDigits = 16;  // 2^53 has 16 decimal digits
  if (static_cast<std::int64_t>(end - lead) + scale > kMaxDigits) return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = lead; i < end; ++i) v = v * 10 + static_cast<std::uint64_t>(digit(i) - '0');
  for (std::int64_t i = 0; i < scale; ++i) v *= 10;
  if (v > kMaxExactInteger) return std::nullopt;
  const auto s = static_cast<std::int64_t>(v);
  return d.negative ? -s : s;
}

const Value* Object::find(std::string_view key) const noexcept {
  for (const auto& [k, v] : members_) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::optional<std::string_view> Object::string(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != Type::string) return std::nullopt;
  return std::string_view(v->str);
}

std::optional<std::int64_t> Object::integer(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != Type::number) return std::nullopt;
  return exact_integer(v->raw);
}

std::optional<bool> Object::boolean(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != Type::boolean) return std::nullopt;
  return v->boolean;
}

void append_string(std::string& out, std::string_view utf8) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0xE2) continue;
    // U+2028 and U+2029 are E2 80 A8 and E2 80 A9; other E2 sequences pass unchanged.
    const bool line_sep = c == 0xE2 && i + 2 < utf8.size() && utf8[i + 1] == '\x80' &&
                          (utf8[i + 2] == '\xA8' || utf8[i + 2] == '\xA9');
    if (c == 0xE2 && !line_sep) continue;
    out.append(utf8, run, i - run);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case 0xE2:
        out += utf8[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
        i += 2;
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
    run = i + 1;
  }
  out.append(utf8, run, utf8.size() - run);
  out.push_back('"');
}

void append_int(std::string& out, std::int64_t v) {
  std::array<char, 24> buf;  // 20 digits and a sign for any int64
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), static_cast<std::size_t>(end - buf.data()));
}

}  // namespace wsgate::proto::json
