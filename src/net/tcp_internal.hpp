#pragma once
// Internal to src/net: the libuv connection behind TcpConnection (UvTcpConnection) and what its
// two source files share. tcp.cpp holds the plain I/O paths, the listener and the public API;
// tcp_tls.cpp drives a TlsEngine for TLS connections. Nothing outside src/net includes this.

#include <uv.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "base/bytes.hpp"
#include "base/check.hpp"
#include "base/log.hpp"
#include "net/address.hpp"
#include "net/loop.hpp"
#include "net/tcp.hpp"
#include "net/timer_wheel.hpp"
#include "net/tls.hpp"

namespace wsgate::net::tcp_detail {

inline thread_local std::size_t t_live_connections = 0;

class UvCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "libuv"; }
  std::string message(int ev) const override {
    char buf[128];
    return uv_strerror_r(ev, buf, sizeof buf);  // uv_strerror leaks for unknown codes
  }
  // On Unix libuv's codes are negated errno values, apart from its own (UV_EOF, UV_EAI_*, ...
  // all below -3000): map the former to std::errc so callers can test `ec == errc::...`.
  std::error_condition default_error_condition(int ev) const noexcept override {
    if (ev < 0 && ev > -3000) return {-ev, std::generic_category()};
    return {ev, *this};
  }
};

inline std::error_code uv_error(std::ptrdiff_t status) noexcept {
  return {static_cast<int>(status), uv_category()};
}

inline uv_buf_t make_buf(const std::byte* p, std::size_t n) noexcept {
  uv_buf_t b;
  b.base = const_cast<char*>(reinterpret_cast<const char*>(p));  // libuv only reads it
  b.len = n;
  return b;
}

inline SocketAddress name_of(const uv_tcp_t* tcp, bool peer) noexcept {
  sockaddr_storage ss{};
  int len = sizeof ss;
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  const int rc = peer ? uv_tcp_getpeername(tcp, sa, &len) : uv_tcp_getsockname(tcp, sa, &len);
  return rc == 0 ? SocketAddress::from_sockaddr(sa) : SocketAddress{};
}

// Plaintext decrypted from TLS records is delivered from here: one buffer per thread (a loop
// and its connections live on one thread), as the loop's read buffer holds the ciphertext.
constexpr std::size_t kPlainBufferSize = 64 * 1024;
inline thread_local Bytes t_plain;

inline MutableByteView plain_buffer() {
  if (t_plain.empty()) t_plain.resize(kPlainBufferSize);
  return t_plain;
}

// The TLS side of a connection; only TLS connections have one (a plain one pays a null test).
struct TlsStream {
  std::unique_ptr<TlsEngine> engine;
  uv_idle_t idle{};         // wakes the loop to deliver held input after resume_reading()
  Bytes rx_held;            // ciphertext received while the handler had paused reading
  bool rx_any = false;      // some ciphertext arrived (an EOF before any is a plain disconnect)
  bool rx_fin = false;      // the socket's EOF arrived; on_eof waits for held input
  Bytes tx_plain;           // written before the handshake completed
  bool tx_closing = false;  // shutdown() asked: close_notify + FIN once the handshake is done
};

// A connection's batch (tcp.hpp, "Writes"), and then, for what the kernel did not take, its
// libuv write request, which owns (or shares) the bytes until its callback (STYLE.md §5.4).
// Recycled through a small per-thread pool: a busy connection allocates none per message.
struct WriteReq {
  // One piece of the batch, in write order: `p` points at bytes the request owns or shares,
  // or (p == nullptr) at `copies` + `off`, where small copied writes lie back to back.
  struct Piece {
    const std::byte* p;
    std::size_t off;
    std::size_t n;
  };
  uv_write_t req{};
  std::vector<Piece> pieces;
  std::vector<Bytes> owned;
  std::vector<SharedBytes> shared;
  Bytes copies;
  std::size_t len = 0;  // bytes in `pieces` not yet written: what it adds to buffered_bytes()

  void add(const std::byte* p, std::size_t n) {
    pieces.push_back({p, 0, n});
    len += n;
  }
  // `n` bytes at the end of `copies`, for the caller to fill before `copies` next grows.
  std::byte* add_space(std::size_t n) {
    if (!pieces.empty() && pieces.back().p == nullptr) {
      pieces.back().n += n;  // right behind the previous copy: one piece
    } else {
      pieces.push_back({nullptr, copies.size(), n});
    }
    const std::size_t off = copies.size();
    copies.resize(off + n);
    len += n;
    return copies.data() + off;
  }
  void add_copy(ByteView b) {
    if (!b.empty()) std::memcpy(add_space(b.size()), b.data(), b.size());
  }

  static WriteReq* make();
  static void recycle(WriteReq* r) noexcept;
};

class UvTcpConnection final : public TcpConnection,
                              public detail::HandleOwner,
                              public detail::Flusher,
                              public TimerHandler {
 public:
  /// A TCP socket, or (`unix_socket`) a Unix domain stream socket for unix: upstreams.
  explicit UvTcpConnection(Loop& loop, bool unix_socket = false) : loop_(loop), unix_(unix_socket) {
    auto* uv = static_cast<uv_loop_t*>(loop.native());
    if (unix_) {
      WSGATE_CHECK(uv_pipe_init(uv, &h_.pipe, 0) == 0, "uv_pipe_init failed");
    } else {
      WSGATE_CHECK(uv_tcp_init(uv, &h_.tcp) == 0, "uv_tcp_init failed");
    }
    handle()->data = static_cast<detail::HandleOwner*>(this);
    ++t_live_connections;
  }
  ~UvTcpConnection() {
    drop_batch();
    --t_live_connections;
  }

  static UvTcpConnection* from(void* handle_data) noexcept {
    return static_cast<UvTcpConnection*>(static_cast<detail::HandleOwner*>(handle_data));
  }
  uv_stream_t* stream() noexcept { return reinterpret_cast<uv_stream_t*>(&h_); }
  uv_handle_t* handle() noexcept { return reinterpret_cast<uv_handle_t*>(&h_); }

  void established() noexcept {
    if (unix_) return;  // no Nagle, and no IP addresses: peer() and local() stay empty
    uv_tcp_nodelay(&h_.tcp, 1);
    peer_ = name_of(&h_.tcp, true);
    local_ = name_of(&h_.tcp, false);
  }

  void install(std::unique_ptr<ConnectionHandler> h);
  void send(Bytes bytes);
  void send(SharedBytes bytes, std::size_t offset);
  void send_copy(ByteView bytes);
  MutableByteView compose_begin(std::size_t n);
  void compose_end();
  void flush() noexcept override;
  void start_reading() noexcept;
  void stop_reading() noexcept;
  void half_close() noexcept;
  void wind_down(std::uint64_t linger_ms) noexcept;
  void close_now() noexcept;
  void force_close() noexcept override { close_now(); }
  void on_timer(Timer& t) noexcept override;
  void start_connect(const SocketAddress& addr, std::uint64_t timeout_ms);
  void start_connect_unix(const std::string& path, std::uint64_t timeout_ms);

  // TLS (tls_ != nullptr): ciphertext in from the socket, plaintext to the handler and back.
  void attach_tls(std::unique_ptr<TlsEngine> engine);
  void tls_send(ByteView plain, Bytes* owned);
  void tls_encrypt(ByteView plain);
  void tls_receive(ByteView data);
  void tls_drain();
  void tls_process(ByteView& in);
  void tls_socket_eof();
  void tls_eof();
  void tls_handshake_complete();
  void tls_handshake_failed(std::error_code ec);
  void tls_shutdown() noexcept;
  void tls_wake() noexcept;
  std::size_t buffered() const noexcept {
    const std::size_t n = tx_batch_ == nullptr ? tx_bytes_ : tx_bytes_ + tx_batch_->len;
    return tls_ == nullptr ? n : n + tls_->tx_plain.size();
  }

  Loop& loop_;
  union Handle {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h_{};
  bool unix_;
  // One request at a time: the connect completes before anyone can shut the connection down.
  union Req {
    uv_connect_t connect;
    uv_shutdown_t shutdown;
  } req_{};
  Timer timer_{*this};        // connect timeout, then the linger of close_gracefully()
  Timer error_timer_{*this};  // reports an error met inside write() from the loop instead

  std::unique_ptr<ConnectionHandler> handler_;
  std::vector<std::unique_ptr<ConnectionHandler>> retired_;  // replaced inside a callback
  int depth_ = 0;                                            // handler callbacks on the stack
  bool detached_ = false;  // close() or close_gracefully(): no more handler callbacks
  bool closing_ = false;   // uv_close called
  bool graceful_ = false;  // close_gracefully(): discarding input until EOF or linger

  bool rx_reading_ = false;  // uv_read_start in effect
  bool rx_eof_ = false;      // the peer's FIN arrived
  // Where the write_composed() in progress is being filled (between compose_begin and _end).
  enum class Compose : std::uint8_t { none, batch, tls, discard } compose_ = Compose::none;

  WriteReq* tx_batch_ = nullptr;  // this iteration's writes, until the loop's flush
  std::size_t tx_flush_slot_ = Loop::kNoFlushSlot;
  std::size_t tx_bytes_ = 0;   // bytes in queued write requests
  std::uint64_t tx_sent_ = 0;  // bytes the kernel has taken, ever (bytes_sent())
  std::size_t tx_high_ = kDefaultHighWatermark;
  std::size_t tx_low_ = kDefaultLowWatermark;
  bool tx_above_ = false;          // crossed high, not yet back to low
  bool tx_shutdown_ = false;       // shutdown requested: no more writes
  bool tx_shutdown_done_ = false;  // FIN handed to the kernel
  std::error_code tx_error_;       // met inside write(); reported by error_timer_

  std::function<void(Result<TcpConnection*>)> connect_done_;  // until delivered
  std::error_code connect_error_;
  SocketAddress peer_;
  SocketAddress local_;
  std::unique_ptr<TlsStream> tls_;  // null for a plain connection
  int open_handles_ = 1;            // the socket, + TlsStream::idle

 private:
  template <class F>
  void notify(F&& f) noexcept {
    if (detached_ || !handler_) return;
    ConnectionHandler& h = *handler_;
    ++depth_;
    f(h);
    --depth_;
    if (depth_ == 0) retired_.clear();
  }
  bool can_send(std::size_t n) const noexcept {
    return n != 0 && !closing_ && !tx_shutdown_ && !tx_error_;
  }
  WriteReq& batch();
  void write_batch(bool try_first) noexcept;
  std::optional<std::size_t> try_write(const uv_buf_t* bufs, std::size_t n) noexcept;
  void gathered() noexcept;
  void drain_due() noexcept;
  void note_high() noexcept {  // the queue reached the high watermark: on_drain will follow
    if (buffered() >= tx_high_) tx_above_ = true;
  }
  void drop_batch() noexcept;
  void check_drain() noexcept;
  void defer_error(std::error_code ec) noexcept;
  void fail(std::error_code ec) noexcept;
  void finish_graceful_if_done() noexcept;
  void raw_half_close() noexcept;

  static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept;
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void on_write(uv_write_t* req, int status) noexcept;
  static void on_shutdown(uv_shutdown_t* req, int status) noexcept;
  static void on_connect(uv_connect_t* req, int status) noexcept;
  static void on_closed(uv_handle_t* h) noexcept;
  static void on_idle(uv_idle_t* h) noexcept;
};

}  // namespace wsgate::net::tcp_detail
