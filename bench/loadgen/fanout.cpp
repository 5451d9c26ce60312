// Mode fanout: one publisher, N subscribers, in one process (so N stays under
// kMaxConnsPerProcess), against a chat route (docs/CHAT.md) or a broker topic.
//
// chat:   every connection logs in with "Authorization: Bearer <HS256 JWT>" (minted here from
//         --secret, or read from --token-file), joins --room and waits for "joined"; the
//         publisher "say"s messages whose text is payload.hpp's text layout (sequence number,
//         send timestamp, filler), and subscribers find that text in each "message".
// broker: subscribers open URL/ROOM?format=raw (each event arrives as the bare body); the
//         publisher opens URL/ROOM and publishes each message as a text message (the route needs
//         ws_publish = true), acknowledged by {"type":"ack"}.
//
// Closed loop: at most -w messages are in flight, where a message stops being in flight when
// every live subscriber has it, so the run measures what the server sustains without dropping.
// Every subscriber must receive every message exactly once and in order (checked per message
// from the embedded sequence number, and by count at the end). Delivery latency is measured
// from the send timestamp in the text. Reports deliveries/s and its percentiles.

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "modes.hpp"
#include "payload.hpp"
#include "proto/base64.hpp"

namespace wsgate::bench {
namespace {

std::string base64url(std::string_view data) {
  std::string out;
  proto::base64_encode(ByteView(reinterpret_cast<const std::byte*>(data.data()), data.size()), out);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// An HS256 JWT (RFC 7519) for subject `sub`: what `wsgate token` mints, written here so that the
// client shares no code with the server it measures.
std::string mint_token(std::string_view secret, const std::string& sub) {
  const std::string head = base64url(R"({"alg":"HS256","typ":"JWT"})");
  const std::string body = base64url(R"({"sub":")" + sub + R"(","name":")" + sub + R"("})");
  const std::string signing_input = head + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
       &mac_len);
  return signing_input + "." +
         base64url(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

bool contains(ByteView text, std::string_view needle) {
  const std::string_view s(reinterpret_cast<const char*>(text.data()), text.size());
  return s.find(needle) != std::string_view::npos;
}

class Publisher;

struct FanCtx {
  const Options* o = nullptr;
  bool chat = true;
  std::size_t subscribers = 0;  ///< subscribers started
  std::size_t ready = 0;        ///< subscribers that joined (chat) or opened (broker)
  std::size_t dead = 0;         ///< subscribers that died
  bool measuring = false;
  bool publishing = false;
  std::uint64_t sent = 0;            ///< messages published
  std::uint64_t fully = 0;           ///< messages every live subscriber has (in order)
  std::vector<std::uint32_t> got;    ///< ring of size window: deliveries of message k at k % W
  std::uint64_t deliveries = 0;      ///< while measuring
  std::uint64_t deliveries_all = 0;  ///< whole run
  LatencyHistogram latency;          ///< ns, while measuring
  Publisher* pub = nullptr;

  void delivered(std::uint64_t seq, std::uint64_t sent_ns);
};

class Publisher final : public Conn {
 public:
  Publisher(ConnShared& sh, const Target& t, FanCtx& ctx)
      : Conn(sh, t, true), ctx_(ctx), msg_(ctx.o->size) {}

  bool ready() const noexcept { return ready_; }

  void try_send() {
    if (is_dead() || !ready_) return;
    const auto window = static_cast<std::uint64_t>(ctx_.o->window);
    while (ctx_.publishing && ctx_.sent - ctx_.fully < window) {
      fill_payload(msg_, ctx_.sent++, now_ns(), true);
      const std::string_view text(reinterpret_cast<const char*>(msg_.data()), msg_.size());
      if (ctx_.chat) {
        line_ = R"({"type":"say","channel":")" + ctx_.o->room + R"(","text":")";
        line_.append(text);
        line_ += "\"}";
        queue_ws(proto::Opcode::text, to_view(line_));
      } else {
        queue_ws(proto::Opcode::text, msg_);
      }
    }
    flush();
  }

 private:
  static ByteView to_view(const std::string& s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
  }
  void on_open() override {
    if (!ctx_.chat) {
      ready_ = true;
      return;
    }
    queue_ws(proto::Opcode::text,
             to_view(R"({"type":"join","channel":")" + ctx_.o->room + R"("})"));
    flush();
  }
  void on_ws_message(proto::Opcode, ByteView m) override {
    if (contains(m, R"("type":"error")") || contains(m, R"("type":"dropped")")) {
      std::fprintf(stderr, "wsgate-bench: publisher got %.*s\n", static_cast<int>(m.size()),
                   reinterpret_cast<const char*>(m.data()));
      fail("publisher refused");
    } else if (ctx_.chat && contains(m, R"("type":"joined")")) {
      ready_ = true;
    }
    // acks, and (broker) our own events: nothing to do
  }

  FanCtx& ctx_;
  Bytes msg_;         ///< payload scratch
  std::string line_;  ///< chat: the say message
  bool ready_ = false;
};

class Subscriber final : public Conn {
 public:
  Subscriber(ConnShared& sh, const Target& t, FanCtx& ctx) : Conn(sh, t, true), ctx_(ctx) {}
  std::uint64_t received() const noexcept { return rx_seq_; }

 private:
  void on_open() override {
    if (!ctx_.chat) {
      ++ctx_.ready;
      return;
    }
    const std::string join = R"({"type":"join","channel":")" + ctx_.o->room + R"("})";
    queue_ws(proto::Opcode::text,
             ByteView(reinterpret_cast<const std::byte*>(join.data()), join.size()));
    flush();
  }

  void on_ws_message(proto::Opcode op, ByteView m) override {
    if (op != proto::Opcode::text) {
      fail("binary message on a fan-out subscription");
      return;
    }
    if (!ctx_.chat) {
      deliver(m);
      return;
    }
    const std::string_view s(reinterpret_cast<const char*>(m.data()), m.size());
    if (s.find(R"("type":"message")") != std::string_view::npos) {
      constexpr std::string_view kText = R"("text":")";
      const auto at = s.find(kText);
      const auto end = at == std::string_view::npos ? at : s.find('"', at + kText.size());
      if (end == std::string_view::npos) {
        fail("chat message without text");
        return;
      }
      deliver(m.subspan(at + kText.size(), end - at - kText.size()));
    } else if (s.find(R"("type":"joined")") != std::string_view::npos) {
      if (!joined_) ++ctx_.ready;
      joined_ = true;
    } else if (s.find(R"("type":"dropped")") != std::string_view::npos ||
               s.find(R"("type":"error")") != std::string_view::npos) {
      std::fprintf(stderr, "wsgate-bench: subscriber got %.*s\n", static_cast<int>(s.size()),
                   s.data());
      fail("subscriber lost messages or was refused");
    }
    // welcome, presence, ...: not ours to count
  }

  void deliver(ByteView payload) {
    std::uint64_t sent = 0;
    if (!check_payload(payload, ctx_.o->size, rx_seq_, true, sent)) {
      fail("delivery out of order, duplicated or corrupted");
      return;
    }
    ctx_.delivered(rx_seq_++, sent);
  }

  void on_failed() override { ++ctx_.dead; }

  FanCtx& ctx_;
  std::uint64_t rx_seq_ = 0;  ///< sequence number the next delivery must carry
  bool joined_ = false;
};

void FanCtx::delivered(std::uint64_t seq, std::uint64_t sent_ns) {
  ++deliveries_all;
  if (measuring) {
    ++deliveries;
    latency.record(now_ns() - sent_ns);
  }
  const std::size_t w = got.size();
  ++got[seq % w];
  bool advanced = false;
  while (fully < sent && got[fully % w] + dead >= subscribers) {
    got[fully % w] = 0;
    ++fully;
    advanced = true;
  }
  if (advanced && pub != nullptr) pub->try_send();
}

std::vector<std::string> load_tokens(const Options& o, std::size_t n) {
  std::vector<std::string> tokens;
  if (!o.token_file.empty()) {
    std::ifstream in(o.token_file);
    for (std::string line; std::getline(in, line) && tokens.size() < n;)
      if (!line.empty()) tokens.push_back(line);
    return tokens;
  }
  if (o.secret.empty()) return tokens;
  tokens.push_back(mint_token(o.secret, o.user_prefix + "-pub"));
  for (std::size_t i = 1; i < n; ++i)
    tokens.push_back(mint_token(o.secret, o.user_prefix + "-" + std::to_string(i)));
  return tokens;
}

}  // namespace

int run_fanout(const Options& o) {
  raise_fd_limit(o.conns + 1);
  Poller poller;
  ConnShared sh;
  sh.poller = &poller;
  FanCtx ctx;
  ctx.o = &o;
  ctx.chat = o.fan_kind == "chat";
  ctx.got.assign(o.window, 0);

  Target sub_target = o.target;
  Target pub_target = o.target;
  std::vector<std::string> tokens;
  if (ctx.chat) {
    tokens = load_tokens(o, o.conns + 1);
    if (tokens.size() < o.conns + 1) {
      std::fprintf(stderr, "wsgate-bench: fanout chat needs --secret or %zu tokens\n", o.conns + 1);
      return 2;
    }
  } else {
    std::string base = o.target.target;
    if (base.empty() || base.back() != '/') base += '/';
    pub_target.target = base + o.room;
    sub_target.target = base + o.room + "?format=raw";
  }
  auto auth = [&](Conn& c, std::size_t i) {
    if (!ctx.chat) return;
    proto::HttpHeaders h;
    h.add("Authorization", "Bearer " + tokens[i]);
    c.set_extra_headers(std::move(h));
  };

  std::vector<std::unique_ptr<Subscriber>> subs;
  subs.reserve(o.conns);
  ctx.subscribers = o.conns;
  const bool all_ready = run_until(poller, kConnectTimeoutNs, [&] {
    while (subs.size() < o.conns && subs.size() - ctx.ready - ctx.dead < o.concurrency) {
      subs.push_back(std::make_unique<Subscriber>(sh, sub_target, ctx));
      auth(*subs.back(), subs.size());
      subs.back()->start();
    }
    return ctx.ready + ctx.dead >= o.conns;
  });
  Publisher pub(sh, pub_target, ctx);
  auth(pub, 0);
  pub.start();
  const bool pub_ready =
      run_until(poller, kConnectTimeoutNs, [&] { return pub.ready() || pub.is_dead(); });
  if (!all_ready || !pub_ready || pub.is_dead()) {
    std::fprintf(stderr,
                 "wsgate-bench: fan-out set-up incomplete: %zu of %zu subscribers ready%s\n",
                 ctx.ready, o.conns, pub.ready() ? "" : ", publisher not ready");
    ++sh.errors;
  }

  ctx.pub = &pub;
  const auto duration = static_cast<std::uint64_t>(o.seconds * 1e9);
  const std::uint64_t t0 = now_ns();
  ctx.measuring = ctx.publishing = true;
  pub.try_send();
  std::uint64_t now = t0;
  while (now - t0 < duration && !pub.is_dead() && ctx.dead < o.conns) {
    poller.run_once(1);
    now = now_ns();
  }
  ctx.measuring = ctx.publishing = false;
  const double elapsed = static_cast<double>(now - t0) / 1e9;
  // Let what is in flight arrive, then check that every live subscriber has every message.
  // Progress-based: give up only after 3 s without a single delivery.
  std::uint64_t seen = ctx.deliveries_all;
  std::uint64_t last = now_ns();
  run_until(poller, 60'000'000'000u, [&] {
    if (ctx.deliveries_all != seen) seen = ctx.deliveries_all, last = now_ns();
    return ctx.fully >= ctx.sent || pub.is_dead() || now_ns() - last > 3'000'000'000u;
  });
  sh.stopping = true;
  std::uint64_t missing = 0;
  for (const auto& s : subs) {
    if (s->is_dead()) continue;
    if (s->received() != ctx.sent) {
      missing += ctx.sent - s->received();
      ++sh.errors;
    }
  }
  if (missing != 0) {
    std::fprintf(
        stderr, "wsgate-bench: %llu messages never reached live subscribers (of %llu sent)\n",
        static_cast<unsigned long long>(missing), static_cast<unsigned long long>(ctx.sent));
  }
  const double dps = elapsed > 0 ? static_cast<double>(ctx.deliveries) / elapsed : 0;
  std::printf(
      "{\"mode\":\"fanout\",\"kind\":\"%s\",\"subscribers\":%zu,\"window\":%zu,\"size\":%zu,"
      "\"seconds\":%.3f,\"published\":%llu,\"deliveries\":%llu,\"deliveries_per_s\":%.1f,"
      "\"messages_per_s\":%.1f,%s,\"dead_subscribers\":%zu,\"missing\":%llu,\"errors\":%llu}\n",
      o.fan_kind.c_str(), o.conns, o.window, o.size, elapsed,
      static_cast<unsigned long long>(ctx.sent), static_cast<unsigned long long>(ctx.deliveries),
      dps, dps, latency_json("latency_us", ctx.latency).c_str(), ctx.dead,
      static_cast<unsigned long long>(missing), static_cast<unsigned long long>(sh.errors));
  std::fflush(stdout);
  return sh.errors == 0 ? 0 : 1;
}

}  // namespace wsgate::bench
