#pragma once
// TCP connections and listeners on a Loop (libuv underneath; this header does not expose it).
//
// Ownership (STYLE.md §5): a TcpConnection lives on the heap and owns its handler (set with
// set_handler). Both are destroyed together by libuv's close callback after close(): never
// delete either directly. After close() returns no handler callback runs, but the handler object
// stays alive until the current callback returns, so code that called close() may still touch
// its own members (and must check its own "closing" state before doing more work). The close
// callback destroys the handler first, while the connection is still whole: a handler's
// destructor may call peer(), local(), loop() and buffered_bytes() (but not write or close).
//
// Reads: every connection of a loop reads into the loop's one shared buffer; on_read gets a view
// into it that is valid only during the call. A handler that cannot consume everything copies
// the rest into its own storage (and should pause_reading() if that storage is full).
//
// Writes: what a connection is asked to write during one loop iteration is gathered and handed
// to the kernel in one writev (uv_try_write) right after that iteration's I/O callbacks (or,
// for writes made from timers and close callbacks, just before the loop waits): a handler that
// answers eight frames of one read costs one syscall, not eight. A batch that reaches the low
// watermark (at most 64 KiB) is written at once, so bulk transfers are not held back and the
// batch never counts for long against a sender's limits. Small writes (up to 512 bytes)
// are copied side by side; larger ones are kept by reference (owned or shared); write_copy() of
// 8 KiB or more with nothing before it is written straight from the caller's view. Only what
// the kernel does not take is queued, in a write request that owns (or shares) the bytes.
// shutdown(), close_gracefully() and close() first hand the gathered bytes to the kernel (close
// drops only what the kernel does not take at once). buffered_bytes() is exact at all times: it
// counts gathered bytes too.
// Watermarks: when buffered_bytes() reaches `high`, above_high_watermark() turns true; when
// it then falls to `low` or below, on_drain() is called once. Relays stop reading their source
// above high and resume on drain.
//
// TLS (net/tls.hpp): a connection accepted by a listener with ListenOptions::tls, or opened by
// connect_tls(), runs TLS underneath and the handler sees nothing of it: on_read carries
// plaintext only (in a per-thread buffer, with the same validity rule as the loop's buffer),
// every write takes plaintext, and writes made before the handshake completes are kept and
// encrypted when it does. A failed handshake is on_error with a tls_category() code (logged
// once at info level on the server side). The peer's close_notify, and a TCP EOF without one,
// are on_eof (HTTP framing tells truncation). shutdown() and close_gracefully() send
// close_notify before the FIN. buffered_bytes() counts plaintext kept until the handshake plus
// ciphertext queued (records add ~22-29 bytes per 16 KiB). A plain connection pays one branch.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "net/address.hpp"
#include "net/loop.hpp"
#include "net/tls.hpp"

namespace wsgate::net {

/// Immutable bytes shared by several writes (a fan-out frame written to many connections).
using SharedBytes = std::shared_ptr<const Bytes>;

/// A connection's default send-queue watermarks (set_watermarks changes them).
inline constexpr std::size_t kDefaultHighWatermark = 256 * 1024;
inline constexpr std::size_t kDefaultLowWatermark = 64 * 1024;

class TcpConnection;

/// Events of one connection, on the loop thread. Callbacks must not throw.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  /// Bytes from the peer (never empty). `data` is in the loop's shared read buffer: valid only
  /// during this call; it may be modified in place (unmasking).
  virtual void on_read(MutableByteView data) = 0;
  /// The peer shut down its sending side (FIN). Reading has stopped; writing still works. The
  /// handler decides when to close().
  virtual void on_eof() = 0;
  /// A read or write failed (reset, broken pipe, timeout...). The connection closes itself right
  /// after this returns; the handler only records or logs.
  virtual void on_error(std::error_code ec) = 0;
  /// buffered_bytes() fell to the low watermark or below after having reached the high one.
  virtual void on_drain() {}
};

/// libuv errors as std::error_code (category "libuv", value = the negative uv error).
const std::error_category& uv_category() noexcept;

class TcpConnection {
 public:
  /// Installs the handler (takes ownership; replaces and destroys any previous one only when
  /// called outside that handler's callbacks) and starts reading. Called once by the accept
  /// callback's owner, or again to hand the connection to another protocol handler.
  void set_handler(std::unique_ptr<ConnectionHandler> handler);
  ConnectionHandler* handler() const noexcept;

  /// Queues bytes for sending (takes ownership). A no-op after close(), shutdown() or an error.
  /// Never calls the handler from inside: a write error is reported by on_error from the loop
  /// (within one timer tick, TimerWheel::kTickMs).
  void write(Bytes bytes);
  /// Same for bytes the caller keeps (a view into a read buffer): written straight from the
  /// view when the kernel takes them; only the rest is copied into the queue.
  void write_copy(ByteView bytes);
  /// Same, sharing immutable bytes (from `offset`): no copy per connection.
  void write(SharedBytes bytes, std::size_t offset = 0);
  /// Same for `n` bytes that `fill(MutableByteView out)` composes in place (it must fill all of
  /// `out` and make no call on this connection): a frame is encoded straight into the
  /// connection's outgoing batch, with no buffer of its own.
  template <class Fill>
  void write_composed(std::size_t n, Fill&& fill) {
    if (n == 0) return;
    fill(compose_begin(n));
    compose_end();
  }
  /// The two halves of write_composed(); call that instead.
  MutableByteView compose_begin(std::size_t n);
  void compose_end();
  /// Bytes queued and not yet confirmed written (TLS: plaintext kept until the handshake is
  /// done, plus queued ciphertext).
  std::size_t buffered_bytes() const noexcept;
  /// Bytes the kernel has taken from this connection so far (TLS: ciphertext); it only grows,
  /// so a send-progress check compares it over time.
  std::uint64_t bytes_sent() const noexcept;
  /// Default watermarks: kDefaultHighWatermark and kDefaultLowWatermark (a `low` above `high` is
  /// taken as `high`).
  void set_watermarks(std::size_t high, std::size_t low) noexcept;
  bool above_high_watermark() const noexcept;

  /// Stops/restarts on_read callbacks (read-side backpressure). resume_reading() does nothing
  /// after EOF, after close()/close_gracefully(), or before a handler is set.
  void pause_reading() noexcept;
  void resume_reading() noexcept;
  bool reading() const noexcept;

  /// Half-close: sends FIN after every queued byte has been written (TLS: close_notify first,
  /// and not before the handshake is done). Reading continues.
  void shutdown() noexcept;
  /// Ends the connection politely: no more handler callbacks; queued bytes are written, FIN is
  /// sent, and incoming bytes are read and discarded until the peer's FIN or `linger_ms`, then
  /// the socket closes. (Closing with unread input would send RST and could destroy the reply we
  /// just wrote before the peer read it.)
  void close_gracefully(std::uint64_t linger_ms = 2000) noexcept;
  /// Closes now: queued writes are dropped. Idempotent; no handler callback after it returns.
  void close() noexcept;
  /// True once close() or close_gracefully() has been called (the handler is detached).
  bool closing() const noexcept;

  const SocketAddress& peer() const noexcept;
  const SocketAddress& local() const noexcept;
  Loop& loop() const noexcept;

  /// True for a connection that runs TLS (accepted on a TLS listener, or from connect_tls).
  bool is_tls() const noexcept;
  /// What the handshake agreed; null for a plain connection. Before the handshake completes
  /// (server side, inside on_accept) the fields are empty. Valid as long as the connection.
  const TlsInfo* tls_info() const noexcept;

  /// Opens an outbound connection (TCP_NODELAY set). `done` runs exactly once on the loop thread:
  /// with the connection (no handler yet: call set_handler() in `done`), or with the error
  /// (refused, unreachable, or std::errc::timed_out after `timeout_ms`). No DNS: the upstream
  /// pools resolve names first.
  static void connect(Loop& loop, const SocketAddress& addr, std::uint64_t timeout_ms,
                      std::function<void(Result<TcpConnection*>)> done);
  /// Same, then the client TLS handshake: SNI = `server_name` (unless an IP literal) and, when
  /// `ctx` verifies, the certificate checked against `server_name` (a DNS name or an IP; must
  /// not be empty then: std::errc::invalid_argument). `done` runs once, after the handshake
  /// succeeded, or with the error: as for connect(), std::errc::timed_out when connect and
  /// handshake together took longer than `timeout_ms`, or a tls_category() code
  /// (TlsErrc::certificate_verify_failed with OpenSSL's reason, "certificate has expired",
  /// "hostname mismatch"; TlsErrc::handshake_failed). Sessions are resumed per
  /// (server_name, addr) through `ctx`'s cache.
  static void connect_tls(Loop& loop, const SocketAddress& addr, std::uint64_t timeout_ms,
                          std::shared_ptr<const TlsClientContext> ctx, std::string server_name,
                          std::function<void(Result<TcpConnection*>)> done);
  /// Same for a Unix domain stream socket at `path` (unix: upstreams). Everything else works as
  /// for TCP; peer() and local() are empty addresses.
  static void connect_unix(Loop& loop, const std::string& path, std::uint64_t timeout_ms,
                           std::function<void(Result<TcpConnection*>)> done);

  /// Connections alive on the calling thread's loops (for shutdown accounting and tests).
  static std::size_t live_count() noexcept;

 protected:
  TcpConnection() = default;
  ~TcpConnection() = default;
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;
};

/// Receives accepted connections. The connection has no handler yet: the callee must call
/// set_handler() (or close()) before returning.
class AcceptHandler {
 public:
  virtual ~AcceptHandler() = default;
  virtual void on_accept(TcpConnection& conn) = 0;
};

struct ListenOptions {
  int backlog = 511;
  bool reuse_port = true;  ///< SO_REUSEPORT: every worker binds its own socket to the address
  bool ipv6_only = true;   ///< for IPv6 addresses
  /// Non-null: every accepted connection runs the TLS server handshake with this context.
  std::shared_ptr<const TlsServerContext> tls;
};

/// A listening socket on a loop. Created with SO_REUSEADDR (+ SO_REUSEPORT), TCP_NODELAY on
/// accepted sockets, non-blocking; the socket is made by hand and given to uv_tcp_open so the
/// options are set before bind (libuv cannot set SO_REUSEPORT itself).
class Listener {
 public:
  /// Binds and listens. `handler` is borrowed and must outlive the listener's close.
  static Result<Listener*> open(Loop& loop, const SocketAddress& addr, const ListenOptions& opts,
                                AcceptHandler& handler);
  /// Stops accepting and closes the socket; the object frees itself in the close callback.
  void close() noexcept;
  /// The bound address (with the real port when bound to port 0).
  const SocketAddress& address() const noexcept;
  /// Connections accepted from now on use `ctx` (null: plain); open ones keep theirs. For
  /// certificate reload.
  void set_tls(std::shared_ptr<const TlsServerContext> ctx) noexcept;

 protected:
  Listener() = default;
  ~Listener() = default;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
};

}  // namespace wsgate::net
