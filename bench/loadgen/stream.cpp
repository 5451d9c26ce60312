// Modes echo, sink and source, over WebSocket and raw TCP (tcp-echo, tcp-sink, tcp-source).
//
// echo:   each connection keeps `window` messages in flight and sends one more per validated
//         echo; round-trip latency from the timestamp inside the message.
// sink:   each connection sends messages as fast as the socket takes them (the queue is refilled
//         whenever it empties); MB/s from the bytes the socket accepted. The far end validates.
// source: each connection only receives; every record is validated (in order from 0, content)
//         and timed one way from the timestamp the backend put in it (same machine, same clock).
// With --stream (a WebSocket bridged to a TCP backend) the payloads are checked as one byte
// stream of records instead of one record per message.

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "modes.hpp"
#include "payload.hpp"
#include "proto/ws_frame.hpp"
#include "record_stream.hpp"

namespace wsgate::bench {
namespace {

// A sink queues this much per refill (whole messages, at least one).
constexpr std::size_t kSinkBatchBytes = 256 * 1024;

struct StreamCtx {
  const Options* o = nullptr;
  bool measuring = false;      ///< inside the timed window: count and record
  std::uint64_t messages = 0;  ///< validated echoes or records while measuring
  LatencyHistogram latency;    ///< ns, while measuring
};

class StreamClient final : public Conn {
 public:
  StreamClient(ConnShared& sh, StreamCtx& ctx)
      : Conn(sh, ctx.o->target, ctx.o->websocket),
        ctx_(ctx),
        o_(*ctx.o),
        rx_records_(ctx.o->size),
        tx_msg_(ctx.o->size) {}

 private:
  void on_open() override {
    if (o_.kind == Kind::echo) {
      for (std::size_t i = 0; i < o_.window; ++i) send_one();
      flush();
    } else if (o_.kind == Kind::sink) {
      flush();  // empty: on_drained fills it
    }
  }

  bool on_drained() override {
    if (o_.kind != Kind::sink) return false;
    const std::size_t n = kSinkBatchBytes / o_.size + 1;
    for (std::size_t i = 0; i < n; ++i) send_one();
    return true;
  }

  void on_bytes(ByteView in) override { stream_bytes(in); }

  void on_ws_message(proto::Opcode op, ByteView payload) override {
    if (o_.kind == Kind::sink) {
      fail("a sink received a data message");
      return;
    }
    const auto want = o_.text ? proto::Opcode::text : proto::Opcode::binary;
    if (op != want) {
      fail("message has the wrong opcode");
      return;
    }
    if (o_.stream) {
      stream_bytes(payload);
      return;
    }
    std::uint64_t sent = 0;
    if (!check_payload(payload, o_.size, rx_seq_, o_.text, sent)) {
      fail("message does not match what was sent (length, order or content)");
      return;
    }
    ++rx_seq_;
    received(sent);
  }

  void stream_bytes(ByteView in) {
    if (o_.kind == Kind::sink) {
      fail("a sink received data");
      return;
    }
    const bool ok = rx_records_.feed(in, [this](std::uint64_t sent) { received(sent); });
    if (!ok) fail("stream record does not match (length, order or content)");
  }

  void received(std::uint64_t sent_ns) {
    if (is_dead()) return;
    if (ctx_.measuring) {
      ++ctx_.messages;
      ctx_.latency.record(now_ns() - sent_ns);
    }
    if (o_.kind == Kind::echo) send_one();
  }

  void send_one() {
    fill_payload(tx_msg_, tx_seq_++, now_ns(), o_.text);
    if (o_.websocket)
      queue_ws(o_.text ? proto::Opcode::text : proto::Opcode::binary, tx_msg_);
    else
      queue_raw(tx_msg_);
  }

  StreamCtx& ctx_;
  const Options& o_;
  RecordStream rx_records_;   ///< tcp and --stream: the received byte stream
  std::uint64_t rx_seq_ = 0;  ///< ws: sequence number the next message must carry
  Bytes tx_msg_;              ///< payload scratch (one message)
  std::uint64_t tx_seq_ = 0;  ///< sequence number of the next message sent
};

std::uint64_t total_written(const std::vector<std::unique_ptr<StreamClient>>& v) {
  std::uint64_t n = 0;
  for (const auto& c : v) n += c->bytes_written();
  return n;
}

}  // namespace

int run_stream(const Options& o) {
  raise_fd_limit(o.conns);
  Poller poller;
  ConnShared sh;
  sh.poller = &poller;
  StreamCtx ctx;
  ctx.o = &o;

  std::vector<std::unique_ptr<StreamClient>> clients;
  clients.reserve(o.conns);
  for (std::size_t i = 0; i < o.conns; ++i) {
    clients.push_back(std::make_unique<StreamClient>(sh, ctx));
    clients.back()->start();
  }
  if (!run_until(poller, kConnectTimeoutNs, [&] { return sh.opened + sh.failed >= o.conns; })) {
    const std::size_t pending = o.conns - sh.opened - sh.failed;
    std::fprintf(stderr, "wsgate-bench: %zu connections not open after the ramp-up\n", pending);
    sh.errors += pending;
  }

  const auto duration = static_cast<std::uint64_t>(o.seconds * 1e9);
  const std::uint64_t bytes0 = total_written(clients);
  const std::uint64_t t0 = now_ns();
  ctx.measuring = true;
  std::uint64_t now = t0;
  while (now - t0 < duration && sh.live > 0) {
    poller.run_once(1);
    now = now_ns();
  }
  ctx.measuring = false;
  sh.stopping = true;
  const double elapsed = static_cast<double>(now - t0) / 1e9;

  double messages = static_cast<double>(ctx.messages);
  if (o.kind == Kind::sink) {
    // Messages the socket accepted, from bytes (a frame is header + payload).
    const std::size_t frame =
        o.size + (o.websocket ? proto::header_size(o.size, true) : std::size_t{0});
    messages = static_cast<double>(total_written(clients) - bytes0) / static_cast<double>(frame);
  }
  const double mps = elapsed > 0 ? messages / elapsed : 0;
  std::printf(
      "{\"mode\":\"%s\",\"connections\":%zu,\"window\":%zu,\"size\":%zu,\"seconds\":%.3f,"
      "\"messages\":%.0f,\"messages_per_s\":%.1f,\"mb_per_s\":%.3f,%s,\"errors\":%llu}\n",
      o.mode.c_str(), o.conns, o.window, o.size, elapsed, messages, mps,
      mps * static_cast<double>(o.size) / 1e6, latency_json("latency_us", ctx.latency).c_str(),
      static_cast<unsigned long long>(sh.errors));
  std::fflush(stdout);
  return sh.errors == 0 ? 0 : 1;
}

}  // namespace wsgate::bench
