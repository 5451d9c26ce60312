#pragma once
// The load generator's connections and their event loop: a small level-triggered epoll loop of
// its own (deliberately not src/net, so that the measuring client shares no code path with the
// server it measures beyond the WebSocket codec), one process, one thread.
//
// A Client keeps `window` messages in flight: it sends `window` once open, then one more for each
// validated echo. Hot path (read, assemble, validate, send): no allocation once the buffers have
// reached their working size.

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/bytes.hpp"
#include "histogram.hpp"
#include "poller.hpp"
#include "proto/http1_parser.hpp"
#include "proto/ws_message.hpp"

namespace wsgate::bench {

enum class Mode : std::uint8_t { ws_echo, tcp_echo };

/// What every connection of one run shares: parameters and the counters it reports.
struct RunContext {
  Mode mode = Mode::ws_echo;
  std::size_t window = 1;
  std::size_t size = 64;
  bool text = false;
  std::string host;    ///< Host header value (ws mode)
  std::string target;  ///< request target (ws mode)
  sockaddr_storage addr{};
  socklen_t addr_len = 0;

  Poller* poller = nullptr;
  bool measuring = false;      ///< inside the timed window: count and record
  std::uint64_t messages = 0;  ///< echoes validated while measuring
  std::uint64_t errors = 0;    ///< failed connections and invalid echoes (whole run)
  std::size_t opened = 0;      ///< connections that reached the open state
  std::size_t failed = 0;      ///< connections that died
  LatencyHistogram latency;    ///< round trips in ns, while measuring
};

/// One load connection (WebSocket client or raw TCP).
class Client final : public PollHandler,
                     private proto::HttpResponseEvents,
                     private proto::MessageEvents {
 public:
  explicit Client(RunContext& ctx);
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Starts the non-blocking connect. False (and counted as an error) if the socket fails.
  bool start();
  void on_poll(std::uint32_t events) override;

 private:
  enum class State : std::uint8_t { connecting, handshaking, open, dead };

  void on_connected();
  void on_readable();
  void handshake_bytes(std::size_t n);
  void tcp_bytes(std::size_t n);
  void become_open();
  void echo_received(ByteView payload);
  void send_one();
  void flush();
  /// Kills the connection and counts an error; `sys`: the reason is in errno.
  void fail(const char* why, bool sys = false);

  // HttpResponseEvents
  proto::Http1Action on_response_head(proto::HttpResponseHead& head) override;
  void on_body(ByteView) override {}
  proto::Http1Action on_message_complete() override { return proto::Http1Action::pause; }
  // MessageEvents
  void on_message(proto::Opcode op, ByteView payload, bool compressed) override;
  void on_ping(ByteView payload) override;
  void on_pong(ByteView) override {}
  void on_close(proto::CloseCode code, std::string_view reason) override;

  RunContext& ctx_;
  int fd_ = -1;
  State state_ = State::connecting;
  bool want_out_ = false;  ///< EPOLLOUT is registered

  Bytes rx_buf_;              ///< read buffer (fixed size)
  std::size_t rx_have_ = 0;   ///< tcp mode: bytes of an unfinished record at the front
  std::uint64_t rx_seq_ = 0;  ///< sequence number the next echo must carry

  Bytes tx_;                  ///< bytes queued for the socket
  std::size_t tx_off_ = 0;    ///< bytes of tx_ already written
  Bytes tx_msg_;              ///< payload scratch (one message)
  std::uint64_t tx_seq_ = 0;  ///< sequence number of the next message sent

  std::string ws_key_;                   ///< our Sec-WebSocket-Key
  proto::HttpResponseParser hs_parser_;  ///< the 101 response
  bool hs_head_seen_ = false;            ///< the response head arrived
  bool hs_ok_ = false;                   ///< the response head verified
  proto::MessageAssembler rx_ws_;        ///< server -> client frames
};

}  // namespace wsgate::bench
