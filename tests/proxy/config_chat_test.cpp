#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "proxy/chat.hpp"
#include "proxy/config.hpp"

using namespace wsgate;
using namespace wsgate::proxy;
using namespace std::chrono_literals;

namespace {

const std::string kHead = "[[listen]]\naddress = \"127.0.0.1:8080\"\n[[route]]\npath = \"/chat\"\n";

ConfigLoad parse_chat(const std::string& route_lines, const std::string& kind = "chat") {
  return parse_config(kHead + "kind = \"" + kind + "\"\n" + route_lines, "t.toml", "/tmp");
}

std::string dump(const ConfigLoad& load) {
  std::string s;
  for (const auto& p : load.problems) s += p.to_string() + "\n";
  return s;
}

// The one problem of a file whose route lines start at line 6.
void expect_problem(const std::string& lines, unsigned line, unsigned column,
                    const std::string& message, const std::string& kind = "chat") {
  const auto load = parse_chat(lines, kind);
  INFO(lines);
  INFO(dump(load));
  CHECK_FALSE(load.config);
  REQUIRE(load.problems.size() == 1);
  CHECK(load.problems[0].line == line);
  CHECK(load.problems[0].column == column);
  CHECK_THAT(load.problems[0].message, Catch::Matches(message));
}

const std::string kSecret = "jwt_secret = \"0123456789abcdef\"\n";

}  // namespace

TEST_CASE("config chat: defaults", "[proxy][config][chat]") {
  const auto load = parse_chat(kSecret);
  INFO(dump(load));
  REQUIRE(load.config);
  const RouteConfig& r = load.config->routes.at(0);
  CHECK(r.kind == RouteKind::chat);
  CHECK(r.jwt.secret == "0123456789abcdef");
  CHECK(r.jwt.public_key_pem.empty());
  CHECK(r.jwt.leeway == 0s);
  CHECK(r.jwt.issuer.empty());
  CHECK(r.jwt.audience.empty());
  const ChatRouteConfig& c = r.chat;
  CHECK(c.login_timeout == 10s);
  CHECK(c.duplicate_login == DuplicateLogin::kick_old);
  CHECK(c.max_online == 100000);
  CHECK(c.rooms == std::vector<std::string>{"*"});
  CHECK(c.max_rooms == 32);
  CHECK(c.presence == Presence::rooms);
  CHECK(c.cooldown == 0s);
  CHECK(c.rate == 20);
  CHECK(c.burst == 40);
  CHECK(c.max_text_length == 4096);
  CHECK(c.history == 100);
  CHECK_FALSE(c.close_on_error);
  CHECK(r.slow_policy == SlowPolicy::disconnect);
}

TEST_CASE("config chat: every key read", "[proxy][config][chat]") {
  const auto load =
      parse_chat(kSecret +
                 "jwt_leeway = \"30s\"\njwt_issuer = \"auth\"\njwt_audience = \"chat\"\n"
                 "login_timeout = \"2s\"\nduplicate_login = \"multi_device\"\n"
                 "max_online = 0\nrooms = [\"lobby\", \"team-*\"]\nmax_rooms = 3\n"
                 "presence = \"all\"\ncooldown = \"500ms\"\nrate = 2.5\nburst = 3\n"
                 "max_text_length = \"1k\"\nhistory = 7\nclose_on_error = true\n"
                 "backpressure_policy = \"drop_oldest\"\nmax_backpressure = \"64k\"\n");
  INFO(dump(load));
  REQUIRE(load.config);
  const RouteConfig& r = load.config->routes.at(0);
  CHECK(r.jwt.leeway == 30s);
  CHECK(r.jwt.issuer == "auth");
  CHECK(r.jwt.audience == "chat");
  CHECK(r.chat.login_timeout == 2s);
  CHECK(r.chat.duplicate_login == DuplicateLogin::multi_device);
  CHECK(r.chat.max_online == 0);
  CHECK(r.chat.rooms == std::vector<std::string>{"lobby", "team-*"});
  CHECK(r.chat.max_rooms == 3);
  CHECK(r.chat.presence == Presence::all);
  CHECK(r.chat.cooldown == 500ms);
  CHECK(r.chat.rate == 2.5);
  CHECK(r.chat.burst == 3);
  CHECK(r.chat.max_text_length == 1024);
  CHECK(r.chat.history == 7);
  CHECK(r.chat.close_on_error);
  CHECK(r.slow_policy == SlowPolicy::drop_oldest);
  CHECK(r.ws.max_backpressure == 64 * 1024);
}

TEST_CASE("config chat: the secret from the environment", "[proxy][config][chat]") {
  ::setenv("WSGATE_TEST_CHAT_SECRET", "from-the-environment-1234", 1);
  const auto load = parse_chat("jwt_secret_env = \"WSGATE_TEST_CHAT_SECRET\"\n");
  INFO(dump(load));
  REQUIRE(load.config);
  CHECK(load.config->routes.at(0).jwt.secret == "from-the-environment-1234");
  ::unsetenv("WSGATE_TEST_CHAT_SECRET");
  expect_problem("jwt_secret_env = \"WSGATE_TEST_CHAT_SECRET\"\n", 6, 18,
                 "environment variable 'WSGATE_TEST_CHAT_SECRET' \\(jwt_secret_env\\) is not set "
                 "or empty");
}

TEST_CASE("config chat: problems name their line and column", "[proxy][config][chat]") {
  expect_problem("", 3, 1,
                 "a chat route needs 'jwt_secret', 'jwt_secret_env' or 'jwt_public_key' to verify "
                 "login tokens");
  expect_problem("jwt_secret = \"short\"\n", 6, 14, "'jwt_secret' must be at least 16 bytes .*");
  expect_problem("jwt_public_key = \"/nonexistent.pem\"\n", 6, 18,
                 "'jwt_public_key' '/nonexistent.pem' is not a readable PEM public key.*");
  expect_problem(kSecret + "duplicate_login = \"kick\"\n", 7, 19,
                 "'duplicate_login' must be one of 'kick_old', 'reject_new', 'multi_device'; got "
                 "'kick'");
  expect_problem(kSecret + "presence = \"some\"\n", 7, 12, "'presence' must be one of .*");
  expect_problem(kSecret + "rooms = [\"ok\", \"bad room\"]\n", 7, 16,
                 "room pattern 'bad room' may hold only .*");
  expect_problem(kSecret + "rate = -1\n", 7, 8, "'rate' must be within 0..1000000");
  expect_problem(kSecret + "rate = \"fast\"\n", 7, 8, ".*a number of messages per second.*");
  expect_problem(kSecret + "burst = 0\n", 7, 9, ".*burst.*");
  expect_problem(kSecret + "max_rooms = 10001\n", 7, 13, ".*max_rooms.*");
  expect_problem(kSecret + "history = -1\n", 7, 11, ".*history.*");
  expect_problem(kSecret + "login_timeout = 0\n", 7, 17, ".*login_timeout.*");
  expect_problem(kSecret + "max_text_length = \"2m\"\n", 7, 19, ".*max_text_length.*");
  expect_problem(kSecret + "max_message_size = \"1k\"\n", 3, 1,
                 "'max_text_length' must not exceed 'max_message_size'");
  expect_problem(kSecret + "backpressure_policy = \"wait\"\n", 7, 23,
                 "'backpressure_policy' must be one of 'disconnect', 'drop_oldest'; got 'wait'");
  ::setenv("WSGATE_TEST_LONG_SECRET", "long-enough-secret-0123", 1);
  expect_problem(kSecret + "jwt_secret_env = \"WSGATE_TEST_LONG_SECRET\"\n", 3, 1,
                 "use one of 'jwt_secret', 'jwt_secret_env' and 'jwt_public_key', not several");
  expect_problem(kSecret + "subprotocols = [\"x\"]\n", 7, 1,
                 "key 'subprotocols' does not apply to a route of kind 'chat'");
  expect_problem(kSecret + "root = \"www\"\n", 7, 1,
                 "key 'root' does not apply to a route of kind 'chat'");
  expect_problem(kSecret + "max_events = 5\n", 7, 1,
                 "key 'max_events' does not apply to a route of kind 'chat'");
  expect_problem("rooms = []\n", 6, 1, "key 'rooms' does not apply to a route of kind 'echo'",
                 "echo");
  expect_problem(kSecret, 6, 1, "key 'jwt_secret' does not apply to a route of kind 'echo'",
                 "echo");
}

TEST_CASE("chat: room names and patterns", "[proxy][chat]") {
  const std::vector<std::string> any{"*"};
  CHECK(chat_room_allowed("lobby", any));
  CHECK(chat_room_allowed("a.b:c-d_e9", any));
  CHECK_FALSE(chat_room_allowed("", any));
  CHECK_FALSE(chat_room_allowed(std::string(65, 'a'), any));
  CHECK(chat_room_allowed(std::string(64, 'a'), any));
  CHECK_FALSE(chat_room_allowed("world", any));
  CHECK_FALSE(chat_room_allowed("guild", any));
  CHECK_FALSE(chat_room_allowed("dm", any));
  CHECK_FALSE(chat_room_allowed("has space", any));
  CHECK_FALSE(chat_room_allowed("caf\xc3\xa9", any));
  CHECK_FALSE(chat_room_allowed("lobby", {}));
  const std::vector<std::string> some{"lobby", "team-*", "*-ops", "a*b*c"};
  CHECK(chat_room_allowed("lobby", some));
  CHECK_FALSE(chat_room_allowed("lobby2", some));
  CHECK(chat_room_allowed("team-", some));
  CHECK(chat_room_allowed("team-red", some));
  CHECK_FALSE(chat_room_allowed("xteam-red", some));
  CHECK(chat_room_allowed("db-ops", some));
  CHECK(chat_room_allowed("abc", some));
  CHECK(chat_room_allowed("a-b-b-c", some));
  CHECK_FALSE(chat_room_allowed("a-b-b-d", some));
}
