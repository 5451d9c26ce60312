#include "proto/ws_extensions.hpp"

#include <algorithm>
#include <string>

#include "base/check.hpp"
#include "proto/http_message.hpp"

namespace wsgate::proto {

namespace {

// A forward-only reader over one header value. Every method leaves the cursor unchanged when
// it fails, but callers give up on the first failure anyway.
class Cursor {
 public:
  explicit Cursor(std::string_view s) noexcept : s_(s) {}

  bool done() const noexcept { return i_ == s_.size(); }
  bool consume(char c) noexcept {
    if (done() || s_[i_] != c) return false;
    ++i_;
    return true;
  }
  void skip_ows() noexcept {
    while (!done() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool at(char c) const noexcept { return !done() && s_[i_] == c; }

  bool token(std::string& out) {
    const std::size_t start = i_;
    while (!done() && is_tchar(s_[i_])) ++i_;
    out.assign(s_.substr(start, i_ - start));
    return i_ > start;
  }

  // RFC 9110 §5.6.4 quoted-string; quoted-pair escapes are removed.
  bool quoted_string(std::string& out) {
    if (!consume('"')) return false;
    out.clear();
    while (!done()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (done() || !is_qtext_or_pair(s_[i_], true)) return false;
        out.push_back(s_[i_++]);
      } else if (is_qtext_or_pair(c, false)) {
        out.push_back(c);
      } else {
        return false;
      }
    }
    return false;  // unterminated
  }

 private:
  // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text; a quoted-pair may also escape
  // '"' and '\'. obs-text (>= 0x80) can never be part of a token, so it is refused here.
  static bool is_qtext_or_pair(char c, bool escaped) noexcept {
    const auto u = static_cast<unsigned char>(c);
    if (u == '\t' || u == ' ') return true;
    if (u < 0x21 || u > 0x7e) return false;
    return escaped || (u != '"' && u != '\\');
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// One "; name[=value]" after the extension name. The cursor sits just after ';'.
bool parse_param(Cursor& c, ExtensionParam& p) {
  c.skip_ows();
  if (!c.token(p.name)) return false;
  c.skip_ows();
  if (!c.consume('=')) return true;
  c.skip_ows();
  std::string v;
  if (c.at('"')) {
    // RFC 6455 §9.1: once unescaped, a quoted value must still be a token.
    if (!c.quoted_string(v) || !is_token(v)) return false;
  } else if (!c.token(v)) {
    return false;
  }
  p.value = std::move(v);
  c.skip_ows();
  return true;
}

// RFC 7692 §7.1.2: "a decimal integer value without leading zeroes between 8 to 15".
std::optional<int> parse_window_bits(std::string_view v) noexcept {
  if (v.size() == 1 && v[0] >= '8' && v[0] <= '9') return v[0] - '0';
  if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
  return std::nullopt;
}

// The permessage-deflate parameters of one offer or response, validated for form only.
struct PmdParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::optional<int> server_max_window_bits;
  bool client_max_window_bits_present = false;
  std::optional<int> client_max_window_bits;  // an offer may carry it without a value
};

enum class Direction { offer, response };

// RFC 7692 §7: each parameter at most once (§7 "MUST NOT include more than one"), only the
// four defined names, no value on the *_no_context_takeover flags (§7.1.1), a valid value on
// server_max_window_bits (§7.1.2.1) and on client_max_window_bits except in an offer (§7.1.2.2).
Result<PmdParams> read_pmd_params(const Extension& ext, Direction dir) {
  PmdParams p;
  bool seen[4] = {false, false, false, false};
  for (const ExtensionParam& param : ext.params) {
    int index = -1;
    if (iequals(param.name, "server_no_context_takeover")) index = 0;
    if (iequals(param.name, "client_no_context_takeover")) index = 1;
    if (iequals(param.name, "server_max_window_bits")) index = 2;
    if (iequals(param.name, "client_max_window_bits")) index = 3;
    if (index < 0) return ExtensionErrc::unknown_param;
    if (seen[index]) return ExtensionErrc::duplicate_param;
    seen[index] = true;

    const std::optional<int> bits =
        param.value ? parse_window_bits(*param.value) : std::optional<int>{};
    switch (index) {
      case 0:
      case 1:
        if (param.value) return ExtensionErrc::invalid_param_value;
        (index == 0 ? p.server_no_context_takeover : p.client_no_context_takeover) = true;
        break;
      case 2:
        if (!bits) return ExtensionErrc::invalid_param_value;
        p.server_max_window_bits = bits;
        break;
      default:
        if (param.value ? !bits : dir == Direction::response) {
          return ExtensionErrc::invalid_param_value;
        }
        p.client_max_window_bits_present = true;
        p.client_max_window_bits = bits;
        break;
    }
  }
  return p;
}

void add_flag(Extension& ext, const char* name) {
  ext.params.push_back({name, std::nullopt});
}
void add_bits(Extension& ext, const char* name, int bits) {
  ext.params.push_back({name, std::to_string(bits)});
}

void check_config(const DeflateConfig& cfg) {
  WSGATE_CHECK(cfg.server_max_window_bits >= 8 && cfg.server_max_window_bits <= 15,
               "DeflateConfig.server_max_window_bits must be 8..15");
  WSGATE_CHECK(cfg.client_max_window_bits >= 8 && cfg.client_max_window_bits <= 15,
               "DeflateConfig.client_max_window_bits must be 8..15");
}

// Server side, one offer: nullopt means "decline this one" (RFC 7692 §5.1).
std::optional<DeflateAgreement> accept_offer(const Extension& offer, const DeflateConfig& cfg) {
  const Result<PmdParams> parsed = read_pmd_params(offer, Direction::offer);
  if (!parsed) return std::nullopt;  // §7: an invalid offer is declined, not fatal
  const PmdParams& p = *parsed;
  DeflateAgreement out;
  DeflateParams& a = out.params;
  Extension resp{std::string(kPermessageDeflate), {}};

  // §7.1.1.1: accepting an offer that asks for server_no_context_takeover means answering it.
  a.server_no_context_takeover = p.server_no_context_takeover || cfg.server_no_context_takeover;
  if (a.server_no_context_takeover) add_flag(resp, "server_no_context_takeover");
  // §7.1.1.2: the server may always answer it; when the client offers it, it resets anyway, so
  // answering costs nothing and lets our inflater drop its window between messages.
  a.client_no_context_takeover = p.client_no_context_takeover || cfg.client_no_context_takeover;
  if (a.client_no_context_takeover) add_flag(resp, "client_no_context_takeover");

  // §7.1.2.1: answer the same or a smaller value than offered, never larger. zlib cannot
  // compress within 8 bits, so 8 becomes 9 and an offer that insists on 8 is declined.
  const int ours = std::max(cfg.server_max_window_bits, 9);
  if (p.server_max_window_bits) {
    a.server_max_window_bits = std::min(ours, *p.server_max_window_bits);
    if (a.server_max_window_bits < 9) return std::nullopt;
    add_bits(resp, "server_max_window_bits", a.server_max_window_bits);
  } else if (ours < 15) {
    a.server_max_window_bits = ours;  // the server may restrict itself unasked
    add_bits(resp, "server_max_window_bits", ours);
  }

  // §7.1.2.2: only if offered; then no larger than the client's hint (if any) or our wish. A
  // hint of 8 is the client's own choice and is answered as is.
  if (p.client_max_window_bits_present) {
    const int bits =
        std::min(std::max(cfg.client_max_window_bits, 9), p.client_max_window_bits.value_or(15));
    if (bits < 15) {
      a.client_max_window_bits = bits;
      add_bits(resp, "client_max_window_bits", bits);
    }
  }
  out.response = format_extension(resp);
  return out;
}

// Client side: the checks of RFC 7692 §7.1 a response must pass against our offer.
std::error_code check_response(const PmdParams& r, const PmdParams& offer) {
  if (offer.server_no_context_takeover && !r.server_no_context_takeover) {
    return ExtensionErrc::server_context_takeover;
  }
  if (offer.server_max_window_bits &&
      (!r.server_max_window_bits || *r.server_max_window_bits > *offer.server_max_window_bits)) {
    return ExtensionErrc::server_window_too_large;
  }
  if (r.client_max_window_bits_present && !offer.client_max_window_bits_present) {
    return ExtensionErrc::param_not_offered;
  }
  if (r.client_max_window_bits && *r.client_max_window_bits < 9) {
    return ExtensionErrc::unsupported_window_bits;
  }
  return {};
}

class ExtensionCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ws-extensions"; }

  std::string message(int ev) const override {
    switch (static_cast<ExtensionErrc>(ev)) {
      case ExtensionErrc::syntax_error: return "malformed Sec-WebSocket-Extensions header";
      case ExtensionErrc::unexpected_extension: return "response names an extension not offered";
      case ExtensionErrc::unknown_param: return "unknown permessage-deflate parameter";
      case ExtensionErrc::duplicate_param: return "duplicate permessage-deflate parameter";
      case ExtensionErrc::invalid_param_value: return "invalid permessage-deflate parameter value";
      case ExtensionErrc::param_not_offered:
        return "client_max_window_bits in response but not offered";
      case ExtensionErrc::server_window_too_large:
        return "server_max_window_bits missing or larger than requested";
      case ExtensionErrc::server_context_takeover:
        return "server_no_context_takeover requested but not granted";
      case ExtensionErrc::unsupported_window_bits:
        return "client_max_window_bits=8 cannot be honoured by zlib";
    }
    return "unknown extension error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& extension_category() noexcept {
  static const ExtensionCategory category;
  return category;
}

Result<std::vector<Extension>> parse_extensions(std::string_view header) {
  std::vector<Extension> out;
  Cursor c(header);
  for (;;) {
    c.skip_ows();
    if (c.done()) break;
    if (c.consume(',')) continue;  // empty list element (RFC 9110 §5.6.1)
    Extension ext;
    if (!c.token(ext.name)) return ExtensionErrc::syntax_error;
    c.skip_ows();
    while (c.consume(';')) {
      ExtensionParam p;
      if (!parse_param(c, p)) return ExtensionErrc::syntax_error;
      ext.params.push_back(std::move(p));
    }
    out.push_back(std::move(ext));
    if (c.done()) break;
    if (!c.consume(',')) return ExtensionErrc::syntax_error;
  }
  return out;
}

std::string format_extension(const Extension& ext) {
  WSGATE_CHECK(is_token(ext.name), "extension name must be a token");
  std::string out = ext.name;
  for (const ExtensionParam& p : ext.params) {
    WSGATE_CHECK(is_token(p.name), "extension parameter name must be a token");
    out += "; ";
    out += p.name;
    if (p.value) {
      WSGATE_CHECK(is_token(*p.value), "extension parameter value must be a token");
      out += '=';
      out += *p.value;
    }
  }
  return out;
}

std::optional<DeflateAgreement> negotiate_deflate(std::span<const Extension> offers,
                                                  const DeflateConfig& cfg) {
  check_config(cfg);
  if (!cfg.enabled) return std::nullopt;
  for (const Extension& offer : offers) {
    if (!iequals(offer.name, kPermessageDeflate)) continue;
    if (auto agreement = accept_offer(offer, cfg)) return agreement;
  }
  return std::nullopt;
}

Result<std::optional<DeflateAgreement>> negotiate_deflate(std::string_view offers_header,
                                                          const DeflateConfig& cfg) {
  Result<std::vector<Extension>> offers = parse_extensions(offers_header);
  if (!offers) return offers.error();
  return negotiate_deflate(std::span<const Extension>(*offers), cfg);
}

std::string deflate_offer(const DeflateConfig& cfg) {
  check_config(cfg);
  Extension offer{std::string(kPermessageDeflate), {}};
  if (cfg.server_no_context_takeover) add_flag(offer, "server_no_context_takeover");
  if (cfg.client_no_context_takeover) add_flag(offer, "client_no_context_takeover");
  if (cfg.server_max_window_bits < 15) {
    add_bits(offer, "server_max_window_bits", std::max(cfg.server_max_window_bits, 9));
  }
  // Always offered, so a server that wants to limit our window can (most servers do ask).
  if (cfg.client_max_window_bits < 15) {
    add_bits(offer, "client_max_window_bits", std::max(cfg.client_max_window_bits, 9));
  } else {
    add_flag(offer, "client_max_window_bits");
  }
  return format_extension(offer);
}

Result<std::optional<DeflateParams>> accept_deflate_response(std::string_view response_header,
                                                             std::string_view our_offer) {
  const Result<std::vector<Extension>> offer_list = parse_extensions(our_offer);
  WSGATE_CHECK(offer_list && offer_list->size() == 1 &&
                   iequals(offer_list->front().name, kPermessageDeflate),
               "our_offer must be one permessage-deflate offer");
  const Result<PmdParams> offer = read_pmd_params(offer_list->front(), Direction::offer);
  WSGATE_CHECK(offer.ok(), "our_offer has invalid permessage-deflate parameters");

  const Result<std::vector<Extension>> exts = parse_extensions(response_header);
  if (!exts) return exts.error();
  // RFC 6455 §9.1: the server answers with extensions the client offered, each at most once.
  if (exts->empty()) return std::optional<DeflateParams>{};
  if (exts->size() > 1 || !iequals(exts->front().name, kPermessageDeflate)) {
    return ExtensionErrc::unexpected_extension;
  }
  const Result<PmdParams> r = read_pmd_params(exts->front(), Direction::response);
  if (!r) return r.error();
  if (const std::error_code ec = check_response(*r, *offer)) return ec;

  DeflateParams a;
  a.server_no_context_takeover = r->server_no_context_takeover;
  a.client_no_context_takeover = r->client_no_context_takeover;
  a.server_max_window_bits = r->server_max_window_bits.value_or(15);
  a.client_max_window_bits =
      std::min(r->client_max_window_bits.value_or(15), offer->client_max_window_bits.value_or(15));
  return std::optional<DeflateParams>{a};
}

}  // namespace wsgate::proto
