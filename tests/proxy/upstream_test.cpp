#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/address.hpp"
#include "net/loop.hpp"
#include "proxy/config.hpp"
#include "proxy/upstream.hpp"

using namespace wsgate;
using namespace wsgate::proxy;

namespace {

UpstreamConfig pool_config(Balance balance, std::vector<unsigned> weights) {
  UpstreamConfig u;
  u.name = "app";
  u.balance = balance;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    UpstreamServerConfig s;
    s.host = "10.0.0." + std::to_string(i + 1);
    s.port = 80;
    s.address = s.host + ":80";
    s.weight = weights[i];
    u.servers.push_back(s);
  }
  return u;
}

std::vector<std::vector<net::SocketAddress>> addresses_of(const UpstreamConfig& u) {
  std::vector<std::vector<net::SocketAddress>> out;
  for (const auto& s : u.servers) out.push_back({*net::SocketAddress::parse(s.host, s.port)});
  return out;
}

net::SocketAddress client(const std::string& ip) {
  return *net::SocketAddress::parse(ip, 40000);
}

std::size_t index_of(UpstreamPool& pool, const UpstreamPeer* p) {
  return static_cast<std::size_t>(p - pool.peers().data());
}

}  // namespace

TEST_CASE("upstream round robin follows the weights, interleaved", "[proxy][upstream]") {
  auto loop = net::Loop::create();
  const auto cfg = pool_config(Balance::round_robin, {5, 1, 1});
  auto pool = std::make_shared<UpstreamPool>(*loop, cfg, addresses_of(cfg));
  std::string order;
  for (int i = 0; i < 14; ++i)
    order += static_cast<char>('a' + index_of(*pool, pool->pick(client("1.2.3.4"), {})));
  // Smooth weighted round robin: each period of 7 picks is a a b a c a a, not a a a a a b c.
  CHECK(order == "aabacaaaabacaa");
}

TEST_CASE("upstream least_conn takes the fewest active per weight", "[proxy][upstream]") {
  auto loop = net::Loop::create();
  const auto cfg = pool_config(Balance::least_conn, {1, 2});
  auto pool = std::make_shared<UpstreamPool>(*loop, cfg, addresses_of(cfg));
  auto& peers = pool->peers();
  peers[0].active = 1;
  peers[1].active = 1;
  CHECK(pool->pick(client("1.1.1.1"), {}) == &peers[1]);  // 1/2 < 1/1
  peers[1].active = 3;
  CHECK(pool->pick(client("1.1.1.1"), {}) == &peers[0]);  // 1/1 < 3/2
  peers[1].active = 2;                                    // 1/1 == 2/2: ties alternate
  const UpstreamPeer* a = pool->pick(client("1.1.1.1"), {});
  const UpstreamPeer* b = pool->pick(client("1.1.1.1"), {});
  CHECK(a != b);
}

TEST_CASE("upstream ip_hash keeps a client and moves only a dead server's clients",
          "[proxy][upstream]") {
  auto loop = net::Loop::create();
  const auto cfg = pool_config(Balance::ip_hash, {1, 1, 1, 1});
  auto pool = std::make_shared<UpstreamPool>(*loop, cfg, addresses_of(cfg));
  auto other = std::make_shared<UpstreamPool>(*loop, cfg, addresses_of(cfg));  // another worker
  std::map<std::string, const UpstreamPeer*> first;
  std::vector<int> per_server(4, 0);
  for (int i = 0; i < 200; ++i) {
    const std::string ip = "10." + std::to_string(i) + ".7.9";
    const UpstreamPeer* p = pool->pick(client(ip), {});
    first[ip] = p;
    ++per_server[index_of(*pool, p)];
    CHECK(pool->pick(client(ip), {}) == p);                                      // sticky
    CHECK(index_of(*other, other->pick(client(ip), {})) == index_of(*pool, p));  // same everywhere
    // The same /24 goes together.
    CHECK(pool->pick(client("10." + std::to_string(i) + ".7.200"), {}) == p);
  }
  for (int n : per_server) CHECK(n > 25);  // spread, roughly 50 each
  // Take server 2 out: its clients move, nobody else does.
  pool->peers()[2].down_until_ms = loop->now_ms() + 60000;
  for (const auto& [ip, p] : first) {
    const UpstreamPeer* now = pool->pick(client(ip), {});
    if (index_of(*pool, p) == 2) {
      CHECK(index_of(*pool, now) != 2);
    } else {
      CHECK(now == p);
    }
  }
}

TEST_CASE("upstream passive health takes a server out after max_fails", "[proxy][upstream]") {
  auto loop = net::Loop::create();
  auto cfg = pool_config(Balance::round_robin, {1, 1});
  cfg.max_fails = 2;
  auto pool = std::make_shared<UpstreamPool>(*loop, cfg, addresses_of(cfg));
  auto& peers = pool->peers();
  pool->report_failure(peers[0]);
  for (int i = 0; i < 4; ++i) CHECK(pool->pick(client("1.1.1.1"), {}) != nullptr);
  pool->report_failure(peers[0]);  // second failure within fail_timeout: out
  for (int i = 0; i < 4; ++i) CHECK(pool->pick(client("1.1.1.1"), {}) == &peers[1]);
  // Excluding what was tried; nothing left is null (the caller answers 502).
  CHECK(pool->pick(client("1.1.1.1"), {&peers[1]}) == nullptr);
  pool->report_failure(peers[1]);
  pool->report_failure(peers[1]);
  CHECK(pool->pick(client("1.1.1.1"), {}) == nullptr);
  pool->report_success(peers[0]);  // a success brings it back at once
  CHECK(pool->pick(client("1.1.1.1"), {}) == &peers[0]);
}

TEST_CASE("upstream max_fails = 0 never takes a server out", "[proxy][upstream]") {
  auto loop = net::Loop::create();
  auto cfg = pool_config(Balance::round_robin, {1});
  cfg.max_fails = 0;
  auto pool = std::make_shared<UpstreamPool>(*loop, cfg, addresses_of(cfg));
  for (int i = 0; i < 10; ++i) pool->report_failure(pool->peers()[0]);
  CHECK(pool->pick(client("1.1.1.1"), {}) == &pool->peers()[0]);
}
