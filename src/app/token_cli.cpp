// `wsgate token`. The payload is written with json::append_string/append_int, never pasted
// together, so a --name with quotes or control characters still makes a valid token; and every
// value is checked the way the chat route's verifier will check it (sub 1..128 bytes, UTF-8),
// so a token this prints is one the server accepts with the same secret.

#include "app/token_cli.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.hpp"
#include "proto/json.hpp"
#include "proto/jwt.hpp"
#include "proto/utf8.hpp"

namespace wsgate::app {

const char* const kTokenUsage =
    "usage: wsgate token (--secret S | --secret-env NAME) --sub ID [--name N] [--guild G]\n"
    "                    [--device D] [--ttl DURATION] [--iss X] [--aud Y]\n"
    "\n"
    "Prints an HS256 JWT for the chat and broker routes (docs/CHAT.md) and a newline.\n"
    "\n"
    "  --secret S          the HMAC secret (visible to other users in the process list;\n"
    "                      prefer --secret-env)\n"
    "  --secret-env NAME   read the secret from the environment variable NAME\n"
    "  --sub ID            the user id (1..128 bytes; required)\n"
    "  --name N            display name (\"name\")\n"
    "  --guild G           the user's guild (\"guild\")\n"
    "  --device D          device id (\"device\")\n"
    "  --ttl DURATION      lifetime: 30s, 15m, 24h, 7d or plain seconds; 0 = no \"exp\"\n"
    "                      (default 24h)\n"
    "  --iss X             issuer (\"iss\")\n"
    "  --aud Y             audience (\"aud\")\n"
    "  --help              print this help and exit\n"
    "\n"
    "\"iat\" is the current time and \"exp\" is \"iat\" + DURATION. Options also take the\n"
    "--option=VALUE form.\n";

namespace {

constexpr std::int64_t kDefaultTtl = 24 * 3600;
// Integers above 2^53 do not survive JavaScript's (or any double-based) JSON reader.
constexpr std::int64_t kMaxJsonInteger = std::int64_t{1} << 53;

struct TokenArgs {
  std::optional<std::string> secret, secret_env, sub, name, guild, device, ttl, iss, aud;
};

struct Option {
  std::string_view name;
  std::optional<std::string> TokenArgs::*field;
};

constexpr Option kOptions[] = {
    {"--secret", &TokenArgs::secret}, {"--secret-env", &TokenArgs::secret_env},
    {"--sub", &TokenArgs::sub},       {"--name", &TokenArgs::name},
    {"--guild", &TokenArgs::guild},   {"--device", &TokenArgs::device},
    {"--ttl", &TokenArgs::ttl},       {"--iss", &TokenArgs::iss},
    {"--aud", &TokenArgs::aud},
};

// Prints "wsgate token: <message>"; returns the exit status for a refused command line.
int fail(const std::string& message) {
  std::fprintf(stderr, "wsgate token: %s\n", message.c_str());
  return 2;
}

// "90", "30s", "15m", "24h", "7d" as seconds; nullopt if malformed or above kMaxJsonInteger.
std::optional<std::int64_t> parse_duration(std::string_view text) {
  std::int64_t unit = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: unit = 0;
    }
    if (unit != 0) {
      text.remove_suffix(1);
    } else {
      unit = 1;
    }
  }
  if (text.empty()) return std::nullopt;
  std::int64_t v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
    if (v > kMaxJsonInteger) return std::nullopt;
  }
  if (v > kMaxJsonInteger / unit) return std::nullopt;
  return v * unit;
}

// Fills `args` from argv[1..]; returns an error message, or "" when the line parses.
// `help` is set for --help (which wins over everything else).
std::string parse(int argc, char** argv, TokenArgs& args, bool& help) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      help = true;
      continue;
    }
    std::optional<std::string_view> inline_value;
    if (const std::size_t eq = a.find('='); a.starts_with("--") && eq != std::string_view::npos) {
      inline_value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    const Option* opt = nullptr;
    for (const Option& o : kOptions) {
      if (o.name == a) opt = &o;
    }
    if (!opt) return "unknown argument '" + std::string(argv[i]) + "'";
    std::optional<std::string>& field = args.*(opt->field);
    if (field) return std::string(a) + " given twice";
    if (inline_value) {
      field = std::string(*inline_value);
    } else if (i + 1 < argc) {
      field = argv[++i];
    } else {
      return std::string(a) + " needs a value";
    }
  }
  return "";
}

// The secret from --secret or --secret-env; nullopt after printing why not.
std::optional<std::string> resolve_secret(const TokenArgs& args) {
  if (args.secret && args.secret_env) {
    fail("give --secret or --secret-env, not both");
    return std::nullopt;
  }
  if (!args.secret && !args.secret_env) {
    fail("a secret is needed: --secret S or --secret-env NAME");
    return std::nullopt;
  }
  if (args.secret_env) {
    const char* value = std::getenv(args.secret_env->c_str());
    if (!value) {
      fail("environment variable " + *args.secret_env + " is not set");
      return std::nullopt;
    }
    if (*value == '\0') {
      fail("environment variable " + *args.secret_env + " is empty");
      return std::nullopt;
    }
    return std::string(value);
  }
  if (args.secret->empty()) {
    fail("the secret must not be empty");
    return std::nullopt;
  }
  return *args.secret;
}

// A value that must be a non-empty UTF-8 string; "" if fine, else why not.
std::string check_text(std::string_view option, const std::optional<std::string>& value) {
  if (!value) return "";
  if (value->empty()) return std::string(option) + " must not be empty";
  if (!proto::is_valid_utf8(as_bytes(*value))) return std::string(option) + " is not UTF-8";
  return "";
}

}  // namespace

int run_token_command(int argc, char** argv) {
  TokenArgs args;
  bool help = false;
  if (const std::string error = parse(argc, argv, args, help); !error.empty()) {
    fail(error);
    std::fputs(kTokenUsage, stderr);
    return 2;
  }
  if (help) {
    std::fputs(kTokenUsage, stdout);
    return 0;
  }
  const std::optional<std::string> secret = resolve_secret(args);
  if (!secret) return 2;
  if (!args.sub) return fail("--sub ID is required");
  if (args.sub->size() > proto::jwt::kMaxSubject) {
    return fail("--sub is longer than " + std::to_string(proto::jwt::kMaxSubject) + " bytes");
  }
  for (const Option& o : kOptions) {
    if (o.field == &TokenArgs::secret || o.field == &TokenArgs::secret_env) continue;
    if (const std::string error = check_text(o.name, args.*(o.field)); !error.empty()) {
      return fail(error);
    }
  }
  const std::optional<std::int64_t> ttl = parse_duration(args.ttl.value_or("24h"));
  if (!ttl) {
    return fail("--ttl '" + args.ttl.value_or("") + "' is not a duration (30s, 15m, 24h, 7d, 0)");
  }

  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  if (*ttl > kMaxJsonInteger - now) return fail("--ttl is too long");

  std::string payload = "{";
  const auto add_string = [&](std::string_view key, const std::optional<std::string>& value) {
    if (!value) return;
    if (payload.size() > 1) payload.push_back(',');
    proto::json::append_string(payload, key);
    payload.push_back(':');
    proto::json::append_string(payload, *value);
  };
  add_string("sub", args.sub);
  add_string("name", args.name);
  add_string("guild", args.guild);
  add_string("device", args.device);
  add_string("iss", args.iss);
  add_string("aud", args.aud);
  payload += ",\"iat\":";
  proto::json::append_int(payload, now);
  if (*ttl > 0) {
    payload += ",\"exp\":";
    proto::json::append_int(payload, now + *ttl);
  }
  payload.push_back('}');

  const std::string token = proto::jwt::sign_hs256(payload, *secret) + "\n";
  std::fputs(token.c_str(), stdout);
  return 0;
}

}  // namespace wsgate::app
