#pragma once
// One client connection of the load generator, raw TCP or WebSocket: non-blocking connect
// (optionally from a chosen 127.0.0.x source address), the WebSocket opening handshake, frame
// decoding, and a send queue. The modes (stream.cpp, connect.cpp, fanout.cpp) derive from it and
// decide what to send and how to check what arrives.
//
// Deliberately not src/net: the measuring client shares no code path with the server it
// measures beyond the codec (src/proto). Thread: the one thread that owns the Poller.
// Memory: every connection of a process reads into one shared buffer (ConnShared::rx_buf), so
// an idle connection holds only its parser states and an empty send queue (a few hundred bytes
// plus what the mode adds): `connect` mode holds tens of thousands of them.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/bytes.hpp"
#include "poller.hpp"
#include "proto/http1_parser.hpp"
#include "proto/http_message.hpp"
#include "proto/ws_message.hpp"

namespace wsgate::bench {

/// Where connections go. For WebSocket, `host` is the Host header and `target` the request
/// target; both are unused for raw TCP.
struct Target {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string host;
  std::string target = "/";
};

/// What every connection of one process shares: the poller, the read buffer, and the counters.
struct ConnShared {
  Poller* poller = nullptr;
  Bytes rx_buf = Bytes(256 * 1024);  ///< every read lands here; views die with the callback
  std::uint64_t errors = 0;          ///< failures of any kind (whole run)
  std::size_t opened = 0;            ///< connections that ever reached the open state
  std::size_t failed = 0;            ///< connections that died
  std::size_t live = 0;              ///< connections open now
  bool stopping = false;             ///< the run is over: closes are not failures any more
};

/// Base class of every load connection. Created on the heap, owned by the mode's run function,
/// destroyed only after the loop has stopped (a dead connection stays allocated, so the poller
/// never sees a dangling handler during a dispatch batch).
class Conn : public PollHandler, private proto::HttpResponseEvents, private proto::MessageEvents {
 public:
  Conn(ConnShared& sh, const Target& target, bool websocket);
  ~Conn() override;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  /// Extra fields for the upgrade request (Authorization for the chat route). Before start().
  void set_extra_headers(proto::HttpHeaders h) { extra_ = std::move(h); }
  /// Starts the non-blocking connect, from `source` (port 0, the kernel picks at connect time
  /// thanks to IP_BIND_ADDRESS_NO_PORT) when given. False, counted as a failure, if it fails now.
  bool start(const sockaddr_in* source = nullptr);
  void on_poll(std::uint32_t events) final;

  bool is_open() const noexcept { return state_ == State::open; }
  bool is_dead() const noexcept { return state_ == State::dead; }
  std::uint64_t started_ns() const noexcept { return started_ns_; }
  /// Bytes written to the socket since start (headers and frames included).
  std::uint64_t bytes_written() const noexcept { return tx_total_; }

 protected:
  /// The connection is open (TCP connected, or the 101 verified). May send.
  virtual void on_open() = 0;
  /// Raw TCP: bytes received (a view into the shared buffer, valid during the call).
  virtual void on_bytes(ByteView) {}
  /// WebSocket: one complete text or binary message (a view, valid during the call).
  virtual void on_ws_message(proto::Opcode, ByteView) {}
  /// Everything queued has been written. A sink queues more here; return false to stop.
  virtual bool on_drained() { return false; }
  /// The connection has just died (after the counters were updated). Must not restart it.
  virtual void on_failed() {}

  /// Queues one masked frame. The caller flushes (or returns to the loop, which flushes).
  void queue_ws(proto::Opcode op, ByteView payload);
  /// Queues raw bytes.
  void queue_raw(ByteView bytes) { append(tx_, bytes); }
  std::size_t queued() const noexcept { return tx_.size() - tx_off_; }
  void flush();
  /// Kills the connection; counts an error unless the run is stopping. `sys`: errno says why.
  void fail(const char* why, bool sys = false);

  ConnShared& sh_;

 private:
  enum class State : std::uint8_t { idle, connecting, handshaking, open, dead };

  void on_connected();
  void on_readable();
  void handshake_bytes(MutableByteView in);
  void become_open();
  void update_interest();

  // HttpResponseEvents
  proto::Http1Action on_response_head(proto::HttpResponseHead& head) override;
  void on_body(ByteView) override {}
  proto::Http1Action on_message_complete() override { return proto::Http1Action::pause; }
  // MessageEvents
  void on_message(proto::Opcode op, ByteView payload, bool compressed) override;
  void on_ping(ByteView payload) override;
  void on_pong(ByteView) override {}
  void on_close(proto::CloseCode code, std::string_view reason) override;

  const Target& target_;
  const bool websocket_;
  int fd_ = -1;
  State state_ = State::idle;
  bool want_out_ = false;         ///< EPOLLOUT is registered
  std::uint64_t started_ns_ = 0;  ///< when start() ran

  Bytes tx_;                    ///< bytes queued for the socket
  std::size_t tx_off_ = 0;      ///< bytes of tx_ already written
  std::uint64_t tx_total_ = 0;  ///< bytes written, whole life

  proto::HttpHeaders extra_;             ///< extra upgrade request fields
  std::string ws_key_;                   ///< our Sec-WebSocket-Key (cleared once open)
  proto::HttpResponseParser hs_parser_;  ///< the 101 response
  bool hs_head_seen_ = false;            ///< the response head arrived
  bool hs_ok_ = false;                   ///< the response head verified
  proto::MessageAssembler rx_ws_;        ///< server -> client frames
};

}  // namespace wsgate::bench
