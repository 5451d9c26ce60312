#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "proxy/config.hpp"
#include "proxy/config_reader.hpp"

// The keys of the hosted kinds (chat, broker) and the rules across them.

namespace wsgate::proxy::config_detail {

namespace {

constexpr unsigned kJwtKinds = kHostedKinds;

// Room patterns: the room-name alphabet plus '*'.
bool is_room_pattern(std::string_view p) {
  return !p.empty() && p.size() <= 64 && std::all_of(p.begin(), p.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.' || ch == ':' || ch == '*';
  });
}

// Bearer tokens are sent in an Authorization header: token68 characters (RFC 9110 §11.2).
bool is_bearer_token(std::string_view t) {
  return !t.empty() && std::all_of(t.begin(), t.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '+' || ch == '/' || ch == '=';
  });
}

template <class Enum, std::size_t N>
void read_choice(Ctx& c, const toml::node& n, std::string_view k,
                 const std::pair<std::string_view, Enum> (&choices)[N], Enum& out) {
  std::string v;
  if (!read_string(c, n, k, v)) return;
  std::string names;
  for (const auto& [name, value] : choices) {
    if (v == name) {
      out = value;
      return;
    }
    names += (names.empty() ? "" : ", ") + quote(name);
  }
  c.error(n, quote(k) + " must be one of " + names + "; got " + quote(v));
}

const std::pair<std::string_view, DuplicateLogin> kDuplicateLogin[] = {
    {"kick_old", DuplicateLogin::kick_old},
    {"reject_new", DuplicateLogin::reject_new},
    {"multi_device", DuplicateLogin::multi_device}};
const std::pair<std::string_view, Presence> kPresence[] = {
    {"off", Presence::off}, {"rooms", Presence::rooms}, {"all", Presence::all}};
const std::pair<std::string_view, SlowPolicy> kSlowPolicy[] = {
    {"disconnect", SlowPolicy::disconnect}, {"drop_oldest", SlowPolicy::drop_oldest}};
const std::pair<std::string_view, bool> kFormat[] = {{"json", false}, {"raw", true}};

const KeySpec<RouteConfig> kHostedKeys[] = {
    // --- JWT (chat logins, broker publishers) ---
    {"jwt_secret",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       if (read_string(c, n, k, r.jwt.secret) && r.jwt.secret.size() < 16) {
         c.error(n, quote(k) + " must be at least 16 bytes (a guessable secret signs anyone in)");
       }
     },
     kJwtKinds},
    {"jwt_secret_env",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::string name;
       if (!read_string(c, n, k, name)) return;
       const char* v = name.empty() ? nullptr : std::getenv(name.c_str());
       if (v == nullptr || *v == '\0') {
         return c.error(n, "environment variable " + quote(name) + " (" + std::string(k) +
                               ") is not set or empty");
       }
       r.jwt.secret = v;
       if (r.jwt.secret.size() < 16) {
         c.error(n, "the secret in " + quote(name) + " must be at least 16 bytes");
       }
     },
     kJwtKinds},
    {"jwt_public_key",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::string v;
       if (!read_string(c, n, k, v)) return;
       const std::string path = resolve(c, v);
       std::ifstream in(path, std::ios::binary);
       std::ostringstream text;
       text << in.rdbuf();
       if (!in || text.str().find("-----BEGIN PUBLIC KEY-----") == std::string::npos) {
         return c.error(n, quote(k) + " " + quote(path) +
                               " is not a readable PEM public key (BEGIN PUBLIC KEY)");
       }
       r.jwt.public_key_pem = text.str();
       r.jwt.public_key_file = path;
     },
     kJwtKinds},
    {"jwt_leeway",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_duration(c, n, k, false, r.jwt.leeway);
     },
     kJwtKinds},
    {"jwt_issuer",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_string(c, n, k, r.jwt.issuer);
     },
     kJwtKinds},
    {"jwt_audience",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_string(c, n, k, r.jwt.audience);
     },
     kJwtKinds},
    {"backpressure_policy",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_choice(c, n, k, kSlowPolicy, r.slow_policy);
     },
     kHostedKinds},
    // --- chat ---
    {"login_timeout",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_duration(c, n, k, true, r.chat.login_timeout);
     },
     kKindChat},
    {"duplicate_login",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_choice(c, n, k, kDuplicateLogin, r.chat.duplicate_login);
     },
     kKindChat},
    {"max_online",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 0, 100'000'000, v)) r.chat.max_online = static_cast<std::uint64_t>(v);
     },
     kKindChat},
    {"rooms",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::vector<const toml::node*> nodes;
       r.chat.rooms.clear();
       read_string_list(c, n, k, r.chat.rooms, nodes);
       for (std::size_t i = 0; i < nodes.size(); ++i) {
         if (!is_room_pattern(r.chat.rooms[i])) {
           c.error(*nodes[i], "room pattern " + quote(r.chat.rooms[i]) +
                                  " may hold only A-Z a-z 0-9 _ - . : and '*' (1..64 bytes)");
         }
       }
     },
     kKindChat},
    {"max_rooms",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 0, 10000, v)) r.chat.max_rooms = static_cast<unsigned>(v);
     },
     kKindChat},
    {"presence",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_choice(c, n, k, kPresence, r.chat.presence);
     },
     kKindChat},
    {"cooldown",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_duration(c, n, k, false, r.chat.cooldown);
     },
     kKindChat},
    {"rate",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       double v = 0;
       if (const auto i = n.value_exact<std::int64_t>()) {
         v = static_cast<double>(*i);
       } else if (const auto d = n.value_exact<double>()) {
         v = *d;
       } else {
         return type_error(c, n, k, "a number of messages per second");
       }
       if (!(v >= 0 && v <= 1e6)) return c.error(n, quote(k) + " must be within 0..1000000");
       r.chat.rate = v;
     },
     kKindChat},
    {"burst",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 1, 1'000'000, v)) r.chat.burst = static_cast<unsigned>(v);
     },
     kKindChat},
    {"max_text_length",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_size_as(c, n, k, 1, kMiB, r.chat.max_text_length);
     },
     kKindChat},
    {"history",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 0, 100000, v)) r.chat.history = static_cast<unsigned>(v);
     },
     kKindChat},
    {"close_on_error",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_bool(c, n, k, r.chat.close_on_error);
     },
     kKindChat},
    // --- broker ---
    {"max_event_size",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_size(c, n, k, 1, kGiB, r.broker.max_event_size);
     },
     kKindBroker},
    {"max_events",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 0, 100'000'000, v))
         r.broker.max_events = static_cast<std::uint64_t>(v);
     },
     kKindBroker},
    {"max_bytes",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_size(c, n, k, 0, 64 * kGiB, r.broker.max_bytes);
     },
     kKindBroker},
    {"max_age",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_duration(c, n, k, false, r.broker.max_age);
     },
     kKindBroker},
    {"max_topics",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::int64_t v = 0;
       if (read_int(c, n, k, 1, 10'000'000, v)) r.broker.max_topics = static_cast<std::uint64_t>(v);
     },
     kKindBroker},
    {"wildcard",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_bool(c, n, k, r.broker.wildcard);
     },
     kKindBroker},
    {"format",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_choice(c, n, k, kFormat, r.broker.raw);
     },
     kKindBroker},
    {"publish_tokens",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       std::vector<const toml::node*> nodes;
       read_string_list(c, n, k, r.broker.publish_tokens, nodes);
       for (std::size_t i = 0; i < nodes.size(); ++i) {
         if (!is_bearer_token(r.broker.publish_tokens[i])) {
           c.error(*nodes[i],
                   "publish token must be non-empty token68 text "
                   "(A-Z a-z 0-9 - . _ ~ + / =)");
         }
       }
     },
     kKindBroker},
    {"subscribe_auth",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_bool(c, n, k, r.broker.subscribe_auth);
     },
     kKindBroker},
    {"ws_publish",
     [](Ctx& c, const toml::node& n, std::string_view k, RouteConfig& r) {
       read_bool(c, n, k, r.broker.ws_publish);
     },
     kKindBroker},
};

}  // namespace

std::span<const KeySpec<RouteConfig>> hosted_route_keys() {
  return kHostedKeys;
}

void check_hosted(Ctx& c, const toml::table& t, RouteConfig& r, unsigned mask) {
  int sources = 0;
  for (const char* key : {"jwt_secret", "jwt_secret_env", "jwt_public_key"}) {
    if (t.contains(key)) ++sources;
  }
  if (sources > 1) {
    c.error(t, "use one of 'jwt_secret', 'jwt_secret_env' and 'jwt_public_key', not several");
  }
  if (mask == kKindChat && sources == 0) {
    c.error(t,
            "a chat route needs 'jwt_secret', 'jwt_secret_env' or 'jwt_public_key' to verify "
            "login tokens");
  }
  if (sources == 0) {
    for (const char* key : {"jwt_leeway", "jwt_issuer", "jwt_audience"}) {
      if (t.contains(key)) c.error(*t.get(key), quote(key) + " needs a JWT key (jwt_secret...)");
    }
  }
  if (mask == kKindBroker && r.broker.subscribe_auth && sources == 0 &&
      r.broker.publish_tokens.empty()) {
    c.error(*t.get("subscribe_auth"),
            "'subscribe_auth' needs 'publish_tokens' or a JWT key to check subscribers with");
  }
  if (mask == kKindChat && r.chat.max_text_length > r.ws.max_message_size) {
    c.error(t.contains("max_text_length") ? *t.get("max_text_length")
                                          : static_cast<const toml::node&>(t),
            "'max_text_length' must not exceed 'max_message_size'");
  }
}

}  // namespace wsgate::proxy::config_detail
