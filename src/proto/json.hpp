#pragma once
// A small strict JSON reader and writer (RFC 8259) for the chat and broker protocols and for JWT
// headers and claims. Not a DOM: the reader checks a whole text, or reads one object's members
// (one level: nested arrays and objects are checked and kept as raw text, to be parsed again by
// whoever needs them). Pure functions: no I/O, no shared state; safe on any thread. Besides the
// values they return they allocate only to track nesting deeper than 256 levels.
//
// Strictness (what RFC 8259 allows and nothing else): exactly one value, optionally surrounded by
// whitespace (space, tab, CR, LF); no comments, no trailing commas, no single quotes; numbers
// per §6 (no leading zeros, no '+', no ".5" or "5.", no NaN or Infinity); strings per §7 with
// valid UTF-8 (RFC 3629: no overlongs, no encoded surrogates), no unescaped control characters
// (U+0000..U+001F), only the escapes \" \\ \/ \b \f \n \r \t \uXXXX, and \u escapes that name
// scalar values (a high surrogate must be followed by a low one; lone or reversed surrogates are
// invalid). "\u0000" is valid and decodes to a NUL character.
//
// Limits: nesting depth (an array or object is one level; a scalar is zero) at most `max_depth`.
// Nesting is tracked with a bit per level, never by recursion, so input cannot grow the stack.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wsgate::proto::json {

/// Nesting depth the readers accept unless told otherwise.
inline constexpr std::size_t kDefaultMaxDepth = 64;

/// True if `text` is exactly one JSON value (leading and trailing whitespace allowed) whose
/// nesting depth is at most `max_depth`. `max_depth` 0 accepts scalars only.
bool valid(std::string_view text, std::size_t max_depth = kDefaultMaxDepth) noexcept;

enum class Type { null, boolean, number, string, array, object };

/// One member value of an object (or one element of an array) read by parse_object/parse_array.
/// Ownership: `raw` views the text that was parsed (see there); `str` is owned.
struct Value {
  Type type = Type::null;
  std::string_view raw;  ///< the value's exact source text: `"a\n"`, `1e3`, `[1, 2]`, ...
  std::string str;       ///< Type::string: the decoded text (valid UTF-8); else empty
  double number = 0;     ///< Type::number: the nearest double (+-inf / +-0 beyond its range)
  bool boolean = false;  ///< Type::boolean: the value
};

/// The members of one JSON object, in source order, with decoded keys (all distinct).
/// Ownership: each Value's `raw` views the text given to parse_object, so an Object is usable
/// only while that text is alive and unchanged; keys and decoded strings are owned.
/// Lookups are linear: objects on our protocols have a handful of members.
class Object {
 public:
  /// The member named `key` (compared after decoding: "\u0061" is "a"), or nullptr.
  const Value* find(std::string_view key) const noexcept;
  /// The decoded string member `key`; nullopt if absent or not a string.
  std::optional<std::string_view> string(std::string_view key) const;
  /// The number member `key` if its decimal value is an exact integer of magnitude <= 2^53
  /// (so every double-based reader agrees on it): 1, -5, 1e3, 2.50e1 and -0 qualify; 1.5, 1e-1,
  /// 9007199254740993 (2^53 + 1) do not. nullopt if absent, not a number, or not such an integer.
  std::optional<std::int64_t> integer(std::string_view key) const;
  /// The boolean member `key`; nullopt if absent or not true/false.
  std::optional<bool> boolean(std::string_view key) const;
  /// All members in source order.
  std::span<const std::pair<std::string, Value>> members() const noexcept { return members_; }
  bool empty() const noexcept { return members_.empty(); }
  std::size_t size() const noexcept { return members_.size(); }

 private:
  friend std::optional<Object> parse_object(std::string_view, std::size_t);
  std::vector<std::pair<std::string, Value>> members_;
};

/// Reads `text` (whitespace around it allowed) as exactly one object. The object itself is depth
/// 1; nested arrays and objects are validated to `max_depth` in total and returned raw.
/// nullopt if the text is not valid JSON, not an object, too deep, or repeats a key (RFC 8259
/// §4 leaves duplicates to the implementation; we refuse them so that no two readers of one
/// message can disagree on its meaning).
/// Ownership: the result's `raw` views point into `text`: valid while `text` is.
std::optional<Object> parse_object(std::string_view text, std::size_t max_depth = kDefaultMaxDepth);

/// Reads `text` (whitespace around it allowed) as exactly one array and returns its elements in
/// order, read as parse_object reads member values (the array is depth 1). nullopt if the text
/// is not valid JSON, not an array, or too deep. Ownership: as parse_object.
std::optional<std::vector<Value>> parse_array(std::string_view text,
                                              std::size_t max_depth = kDefaultMaxDepth);

/// The integer a number's source text denotes, by the rule of Object::integer; nullopt if it is
/// not such an integer. Precondition: `number_text` is a valid JSON number (as Value::raw of a
/// Type::number is); anything else gives nullopt.
std::optional<std::int64_t> exact_integer(std::string_view number_text) noexcept;

/// Appends `utf8` as a quoted JSON string: '"' and '\' escaped, \b \f \n \r \t as short escapes,
/// other U+0000..U+001F as \u00XX, and U+2028/U+2029 as \u2028/\u2029 (legal in JSON, but line
/// terminators in JavaScript before ES2019, so the output can be embedded in a script). Every
/// other character is copied as is. Precondition: `utf8` is valid UTF-8 (check untrusted input
/// with proto::is_valid_utf8 first); invalid bytes are copied through and make invalid JSON.
void append_string(std::string& out, std::string_view utf8);

/// Appends the decimal text of `v` (a JSON number). JavaScript readers lose precision above
/// 2^53 in magnitude; keep protocol integers below that.
void append_int(std::string& out, std::int64_t v);

}  // namespace wsgate::proto::json
