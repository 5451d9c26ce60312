#pragma once
// wsgate-bench-backend's connections: the far ends of a benchmark (raw TCP echo, sink and
// source; a minimal WebSocket echo server; a fixed-response HTTP server). Each runs on the load
// generator's own epoll loop (poller.hpp), level-triggered, one Registry per thread; nothing of
// wsgate but the codec (src/proto, for the WebSocket and HTTP servers).
//
// Backpressure: while more than kHighWater bytes wait to be written, a connection is not read.
// Lifetime: a connection is owned by its Registry slot (indexed by fd) and destroyed from inside
// its own on_poll() when it ends; epoll reports an fd once per batch, so no stale pointer to it
// is dispatched afterwards.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "poller.hpp"

namespace wsgate::bench {

inline constexpr std::size_t kHighWater = 1024 * 1024;

struct BackendOptions {
  std::string mode;         ///< tcp-echo, tcp-sink, tcp-source, ws-echo, http
  std::string listen;       ///< HOST:PORT
  std::size_t size = 0;     ///< tcp-sink: record size to validate (0: count only); tcp-source:
                            ///< record size (required); http: body bytes (default 100)
  std::size_t threads = 1;  ///< event loops, each with its own SO_REUSEPORT listener
};

/// Counters of one thread, summed and printed as JSON when the backend stops.
struct BackendStats {
  std::uint64_t connections = 0;  ///< accepted
  std::uint64_t bytes_in = 0;     ///< received
  std::uint64_t bytes_out = 0;    ///< written
  std::uint64_t records = 0;      ///< tcp-sink: validated records; ws-echo, http: messages
  std::uint64_t errors = 0;       ///< invalid input (tcp-sink validation, bad handshakes, ...)
};

class BackendConn;

/// One event loop's connections.
struct Registry {
  Poller* poller = nullptr;
  const BackendOptions* opt = nullptr;
  Bytes rx_buf = Bytes(64 * 1024);  ///< every read of this thread lands here
  BackendStats stats;
  std::vector<std::unique_ptr<BackendConn>> by_fd;
};

/// Base of every backend connection: a read loop into the shared buffer, a send queue that is
/// tried directly first, and read/write interest kept in step with backpressure.
class BackendConn : public PollHandler {
 public:
  BackendConn(Registry& reg, int fd) : reg_(reg), fd_(fd) {}
  ~BackendConn() override;
  BackendConn(const BackendConn&) = delete;
  BackendConn& operator=(const BackendConn&) = delete;

  void on_poll(std::uint32_t events) final;
  /// Registers with the poller (after the Registry owns it).
  void attach();

 protected:
  /// Bytes received (a view into the shared buffer, writable: a WebSocket server unmasks in
  /// place). False: close the connection now.
  virtual bool on_data(MutableByteView in) = 0;
  /// Always-writable connections (tcp-source): called whenever the socket may take more.
  virtual bool on_writable() { return true; }
  virtual bool wants_write() const { return false; }

  /// Sends what the socket takes now and queues the rest. False on a write error.
  bool send_or_queue(ByteView bytes);
  /// The send queue, to append to directly; then call flush().
  Bytes& tx() noexcept { return tx_; }
  std::size_t queued() const noexcept { return tx_.size() - tx_off_; }
  bool flush();
  /// Close once everything queued has been written.
  void close_after_flush() noexcept { closing_ = true; }

  Registry& reg_;
  const int fd_;

 private:
  bool read_some();
  void update_interest();

  Bytes tx_;                    ///< bytes not yet written
  std::size_t tx_off_ = 0;      ///< bytes of tx_ already written
  std::uint32_t interest_ = 0;  ///< what epoll watches now
  bool closing_ = false;        ///< close when tx_ is empty
};

std::unique_ptr<BackendConn> make_tcp_echo(Registry& reg, int fd);
std::unique_ptr<BackendConn> make_tcp_sink(Registry& reg, int fd);
std::unique_ptr<BackendConn> make_tcp_source(Registry& reg, int fd);
std::unique_ptr<BackendConn> make_ws_echo(Registry& reg, int fd);
std::unique_ptr<BackendConn> make_http(Registry& reg, int fd);

}  // namespace wsgate::bench
