#include "net/tcp.hpp"

#include "net/tcp_internal.hpp"

namespace wsgate::net {

namespace tcp_detail {

void UvTcpConnection::install(std::unique_ptr<ConnectionHandler> h) {
  if (detached_) {  // closing: keep it only to free it with the connection
    retired_.push_back(std::move(h));
    return;
  }
  if (handler_ != nullptr && depth_ > 0) retired_.push_back(std::move(handler_));
  handler_ = std::move(h);
  if (handler_ != nullptr) start_reading();
}

void UvTcpConnection::start_reading() noexcept {
  if (closing_ || rx_eof_ || rx_reading_ || tx_error_) return;
  if (tls_ != nullptr && tls_->rx_fin) {  // the socket is done: only held input is left
    rx_reading_ = true;
    tls_wake();
    return;
  }
  const int rc = uv_read_start(stream(), &on_alloc, &on_read);
  if (rc != 0) {
    defer_error(uv_error(rc));
    return;
  }
  rx_reading_ = true;
  if (tls_ != nullptr) tls_wake();
}

void UvTcpConnection::stop_reading() noexcept {
  if (!rx_reading_) return;
  uv_read_stop(stream());
  rx_reading_ = false;
}

void UvTcpConnection::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
  // Reads are delivered before the next alloc, so one loop-wide buffer serves everyone.
  const MutableByteView b = from(h->data)->loop_.read_buffer();
  buf->base = reinterpret_cast<char*>(b.data());
  buf->len = b.size();
}

void UvTcpConnection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
  UvTcpConnection* c = from(s->data);
  if (nread > 0) {
    const MutableByteView data(reinterpret_cast<std::byte*>(buf->base),
                               static_cast<std::size_t>(nread));
    if (c->tls_ != nullptr) {
      c->tls_receive(data);
      return;
    }
    c->notify([&](ConnectionHandler& h) { h.on_read(data); });  // discarded when detached
    return;
  }
  if (nread == 0) return;  // EAGAIN inside libuv: nothing to report
  if (nread == UV_EOF && c->tls_ != nullptr) {
    c->tls_socket_eof();
    return;
  }
  c->stop_reading();
  if (nread == UV_EOF) {
    c->rx_eof_ = true;
    if (c->graceful_) {
      c->finish_graceful_if_done();
    } else {
      c->notify([](ConnectionHandler& h) { h.on_eof(); });
    }
    return;
  }
  if (c->graceful_) {
    c->close_now();
  } else {
    c->fail(uv_error(nread));
  }
}

// --- writing ------------------------------------------------------------------------------

namespace {

// Recycled WriteReqs of this thread (a loop and its connections live on one thread).
struct WriteReqPool {
  std::vector<WriteReq*> free;
  WriteReqPool() = default;
  WriteReqPool(const WriteReqPool&) = delete;
  WriteReqPool& operator=(const WriteReqPool&) = delete;
  ~WriteReqPool() {
    for (WriteReq* r : free) delete r;
  }
};
thread_local WriteReqPool t_write_pool;
constexpr std::size_t kPoolMax = 64;               // requests kept per thread
constexpr std::size_t kKeepCopies = 64 * 1024;     // copy space a recycled request keeps
constexpr std::size_t kCopyMax = 512;              // owned or shared writes up to this are copied
constexpr std::size_t kDirectWriteMin = 8 * 1024;  // write_copy() from here on: no copy first
constexpr std::size_t kTryWriteMax = std::size_t{1} << 30;  // uv_try_write returns an int
constexpr std::size_t kBatchMax = 64 * 1024;  // a batch this full goes to the kernel at once

}  // namespace

WriteReq* WriteReq::make() {
  std::vector<WriteReq*>& free = t_write_pool.free;
  if (free.empty()) return new WriteReq;
  WriteReq* r = free.back();
  free.pop_back();
  return r;
}

void WriteReq::recycle(WriteReq* r) noexcept {
  r->pieces.clear();
  r->owned.clear();
  r->shared.clear();
  r->len = 0;
  if (r->copies.capacity() > kKeepCopies) {
    r->copies = Bytes{};
  } else {
    r->copies.clear();
  }
  std::vector<WriteReq*>& free = t_write_pool.free;
  if (free.size() >= kPoolMax) {
    delete r;
    return;
  }
  free.push_back(r);
}

WriteReq& UvTcpConnection::batch() {
  if (tx_batch_ == nullptr) {
    tx_batch_ = WriteReq::make();
    if (tx_flush_slot_ == Loop::kNoFlushSlot) tx_flush_slot_ = loop_.defer_flush(*this);
  }
  return *tx_batch_;
}

void UvTcpConnection::drop_batch() noexcept {
  if (tx_flush_slot_ != Loop::kNoFlushSlot) {
    loop_.cancel_flush(tx_flush_slot_);
    tx_flush_slot_ = Loop::kNoFlushSlot;
  }
  if (tx_batch_ == nullptr) return;
  WriteReq::recycle(tx_batch_);
  tx_batch_ = nullptr;
}

// The one direct write: what the kernel takes of `bufs` now (counted in bytes_sent()), or
// nullopt after an error other than a full socket (reported from the loop, never from here).
std::optional<std::size_t> UvTcpConnection::try_write(const uv_buf_t* bufs,
                                                      std::size_t n) noexcept {
  const int rc = uv_try_write(stream(), bufs, static_cast<unsigned>(n));
  if (rc < 0 && rc != UV_EAGAIN) {
    defer_error(uv_error(rc));
    return std::nullopt;
  }
  const std::size_t done = rc > 0 ? static_cast<std::size_t>(rc) : 0;
  tx_sent_ += done;
  return done;
}

// Hands the batch to the kernel: one writev for all of it when nothing is queued (try_first),
// and whatever it did not take (or everything, behind queued requests) as one libuv request.
void UvTcpConnection::write_batch(bool try_first) noexcept {
  WriteReq* r = tx_batch_;
  tx_batch_ = nullptr;
  drop_batch();  // only forgets the deferred flush now
  if (r == nullptr) return;
  if (closing_ || tx_error_) {
    WriteReq::recycle(r);
    return;
  }
  thread_local std::vector<uv_buf_t> bufs;  // libuv copies the array it is given
  bufs.clear();
  for (const WriteReq::Piece& piece : r->pieces) {
    bufs.push_back(make_buf(piece.p != nullptr ? piece.p : r->copies.data() + piece.off, piece.n));
  }
  std::size_t first = 0;
  if (try_first && tx_bytes_ == 0 && r->len <= kTryWriteMax) {
    const std::optional<std::size_t> taken = try_write(bufs.data(), bufs.size());
    if (!taken) {
      WriteReq::recycle(r);
      return;
    }
    std::size_t done = *taken;
    r->len -= done;
    if (r->len == 0) {
      WriteReq::recycle(r);
      return;
    }
    while (done >= bufs[first].len) done -= bufs[first++].len;
    bufs[first].base += done;
    bufs[first].len -= done;
  }
  const int rc = uv_write(&r->req, stream(), bufs.data() + first,
                          static_cast<unsigned>(bufs.size() - first), &on_write);
  if (rc != 0) {
    WriteReq::recycle(r);
    defer_error(uv_error(rc));
    return;
  }
  tx_bytes_ += r->len;
  note_high();
}

void UvTcpConnection::flush() noexcept {
  tx_flush_slot_ = Loop::kNoFlushSlot;  // the loop is running it: nothing to cancel
  write_batch(true);
  check_drain();
}

void UvTcpConnection::check_drain() noexcept {
  if (!tx_above_ || closing_ || buffered() > tx_low_) return;
  tx_above_ = false;
  notify([](ConnectionHandler& h) { h.on_drain(); });
}

void UvTcpConnection::send(Bytes bytes) {
  if (!can_send(bytes.size())) return;
  WriteReq& r = batch();
  if (bytes.size() <= kCopyMax) {
    r.add_copy(bytes);  // one piece with its neighbours; the caller's buffer goes now
  } else {
    r.owned.push_back(std::move(bytes));  // no copy: the request keeps the caller's buffer
    r.add(r.owned.back().data(), r.owned.back().size());
  }
  gathered();
}

void UvTcpConnection::send(SharedBytes bytes, std::size_t offset) {
  if (!bytes || offset >= bytes->size() || !can_send(bytes->size() - offset)) return;
  const ByteView view = ByteView(*bytes).subspan(offset);
  WriteReq& r = batch();
  if (view.size() <= kCopyMax) {
    r.add_copy(view);
  } else {
    r.shared.push_back(std::move(bytes));
    r.add(view.data(), view.size());
  }
  gathered();
}

void UvTcpConnection::send_copy(ByteView bytes) {
  if (!can_send(bytes.size())) return;
  if (tx_batch_ == nullptr && tx_bytes_ == 0 && bytes.size() >= kDirectWriteMin) {
    // Large, with nothing before it: straight from the caller's buffer; only what the kernel
    // leaves is copied, and queued at once (the socket is full).
    const uv_buf_t buf = make_buf(bytes.data(), std::min(bytes.size(), kTryWriteMax));
    const std::optional<std::size_t> taken = try_write(&buf, 1);
    if (!taken) return;
    const std::size_t done = *taken;
    if (done == bytes.size()) {
      drain_due();
      return;
    }
    batch().add_copy(bytes.subspan(done));
    write_batch(false);
    return;
  }
  batch().add_copy(bytes);
  gathered();
}

namespace {
// write_composed() output that does not go into a batch: TLS plaintext (encrypted at
// compose_end) or bytes for a connection that no longer sends. One per thread.
thread_local Bytes t_compose_scratch;
constexpr std::size_t kComposeCopyMax = 4096;            // composed writes up to this join `copies`
constexpr std::size_t kComposeScratchKeep = 256 * 1024;  // scratch kept between writes
}  // namespace

MutableByteView UvTcpConnection::compose_begin(std::size_t n) {
  WSGATE_ASSERT(compose_ == Compose::none, "write_composed() inside write_composed()");
  if (tls_ != nullptr || !can_send(n)) {
    compose_ = tls_ != nullptr ? Compose::tls : Compose::discard;
    t_compose_scratch.resize(n);
    return MutableByteView(t_compose_scratch);
  }
  compose_ = Compose::batch;
  WriteReq& r = batch();
  if (n <= kComposeCopyMax) return {r.add_space(n), n};
  r.owned.emplace_back(n);
  r.add(r.owned.back().data(), n);
  return MutableByteView(r.owned.back());
}

void UvTcpConnection::compose_end() {
  const Compose c = compose_;
  compose_ = Compose::none;
  if (c == Compose::batch) {
    gathered();
  } else if (c == Compose::tls) {
    tls_send(t_compose_scratch, nullptr);
  }
  // One huge message must not pin its size per worker for good.
  if (t_compose_scratch.capacity() > kComposeScratchKeep) Bytes{}.swap(t_compose_scratch);
}

// After a write joined the batch. The batch only gathers small writes: once it holds the low
// watermark (at most 64 KiB) it goes to the kernel at once, so bytes the peer could already
// have never count for long against a sender's limits (buffered_bytes(), max_backpressure).
void UvTcpConnection::gathered() noexcept {
  if (tx_batch_->len >= std::clamp<std::size_t>(tx_low_, 1, kBatchMax)) {
    write_batch(true);
    drain_due();
  }
  note_high();
}

// After bytes went to the kernel from inside a write: if that took a connection above its high
// watermark down to the low one (TLS plaintext held for the handshake, then sent at once), no
// write callback will report it, and on_drain must not run inside the caller's write: the
// loop's flush runs check_drain() instead.
void UvTcpConnection::drain_due() noexcept {
  if (tx_above_ && buffered() <= tx_low_ && tx_flush_slot_ == Loop::kNoFlushSlot) {
    tx_flush_slot_ = loop_.defer_flush(*this);
  }
}

void UvTcpConnection::on_write(uv_write_t* req, int status) noexcept {
  auto* r = reinterpret_cast<WriteReq*>(req);  // req is WriteReq's first member
  UvTcpConnection* c = from(req->handle->data);
  c->tx_bytes_ -= r->len;
  if (status == 0) c->tx_sent_ += r->len;
  WriteReq::recycle(r);
  if (status == UV_ECANCELED || c->closing_) return;
  if (status < 0) {
    if (c->graceful_) {
      c->close_now();
    } else {
      c->fail(uv_error(status));
    }
    return;
  }
  c->check_drain();
}

void UvTcpConnection::half_close() noexcept {
  if (tls_ != nullptr) {
    tls_shutdown();
  } else {
    raw_half_close();
  }
}

void UvTcpConnection::raw_half_close() noexcept {
  if (closing_ || tx_shutdown_) return;
  write_batch(true);  // this iteration's writes go before the FIN
  tx_shutdown_ = true;
  // libuv sends the FIN only once every queued write has completed (uv_shutdown's contract).
  const int rc = uv_shutdown(&req_.shutdown, stream(), &on_shutdown);
  if (rc != 0) {
    if (graceful_) {
      close_now();
    } else {
      defer_error(uv_error(rc));
    }
  }
}

void UvTcpConnection::on_shutdown(uv_shutdown_t* req, int status) noexcept {
  UvTcpConnection* c = from(req->handle->data);
  if (status == UV_ECANCELED || c->closing_) return;
  if (status < 0) {
    if (c->graceful_) {
      c->close_now();
    } else {
      c->fail(uv_error(status));
    }
    return;
  }
  c->tx_shutdown_done_ = true;
  c->finish_graceful_if_done();
}

void UvTcpConnection::wind_down(std::uint64_t linger_ms) noexcept {
  if (closing_ || graceful_) return;
  graceful_ = true;
  detached_ = true;
  if (tx_error_) {
    close_now();
    return;
  }
  loop_.schedule(timer_, linger_ms);
  half_close();
  if (closing_) return;
  start_reading();  // discard what the peer still sends, so close() does not turn into a RST
  finish_graceful_if_done();
}

void UvTcpConnection::finish_graceful_if_done() noexcept {
  // Our FIN is out (queued data precedes it in the kernel) and the peer's has arrived: closing
  // now cannot reset data either way.
  if (graceful_ && tx_shutdown_done_ && rx_eof_) close_now();
}

void UvTcpConnection::defer_error(std::error_code ec) noexcept {
  if (closing_ || tx_error_) return;
  tx_error_ = ec;
  stop_reading();
  loop_.schedule(error_timer_, 0);
}

void UvTcpConnection::fail(std::error_code ec) noexcept {
  if (closing_) return;
  if (connect_done_ && !connect_error_) connect_error_ = ec;  // a TLS client's handshake
  notify([&](ConnectionHandler& h) { h.on_error(ec); });
  close_now();
}

void UvTcpConnection::on_timer(Timer& t) noexcept {
  if (&t == &error_timer_) {
    if (graceful_) {
      close_now();
    } else {
      fail(tx_error_);
    }
    return;
  }
  if (connect_done_) connect_error_ = std::make_error_code(std::errc::timed_out);
  close_now();  // connect timeout, or the linger of close_gracefully() ran out
}

void UvTcpConnection::close_now() noexcept {
  if (closing_) return;
  // What this iteration wrote is offered to the kernel (as it would have been without the
  // batching: "close after write" keeps the write when the socket has room); what it does not
  // take is dropped with the queue.
  if (tx_batch_ != nullptr) write_batch(true);
  closing_ = true;
  detached_ = true;
  stop_reading();
  timer_.cancel();
  error_timer_.cancel();
  drop_batch();
  uv_close(handle(), &on_closed);
  if (tls_ != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(&tls_->idle), &on_closed);
}

void UvTcpConnection::on_closed(uv_handle_t* h) noexcept {
  UvTcpConnection* c = from(h->data);
  if (--c->open_handles_ > 0) return;  // freed with its last handle
  // A connect that never completed reports here, after libuv cancelled its request: exactly
  // once, whichever of timeout, error or force_close_all() ended it.
  std::function<void(Result<TcpConnection*>)> done = std::move(c->connect_done_);
  const std::error_code ec =
      c->connect_error_ ? c->connect_error_ : std::make_error_code(std::errc::operation_canceled);
  delete c;
  if (done) done(ec);
}

void UvTcpConnection::start_connect(const SocketAddress& addr, std::uint64_t timeout_ms) {
  req_.connect.data = this;
  const int rc = uv_tcp_connect(&req_.connect, &h_.tcp, addr.sockaddr_ptr(), &on_connect);
  if (rc != 0) {
    connect_error_ = uv_error(rc);
    close_now();  // reported from the close callback, never from inside connect()
    return;
  }
  loop_.schedule(timer_, timeout_ms);
}

void UvTcpConnection::start_connect_unix(const std::string& path, std::uint64_t timeout_ms) {
  req_.connect.data = this;
  // uv_pipe_connect reports every error (a missing socket file too) through on_connect.
  uv_pipe_connect(&req_.connect, &h_.pipe, path.c_str(), &on_connect);
  loop_.schedule(timer_, timeout_ms);
}

void UvTcpConnection::on_connect(uv_connect_t* req, int status) noexcept {
  auto* c = static_cast<UvTcpConnection*>(req->data);
  if (status == UV_ECANCELED || c->closing_) return;  // on_closed reports
  if (status < 0) {
    c->connect_error_ = uv_error(status);
    c->close_now();
    return;
  }
  c->established();
  if (c->tls_ != nullptr) {  // the timeout runs on through the handshake
    c->start_reading();
    ByteView none;
    c->tls_process(none);  // sends the ClientHello
    return;
  }
  c->timer_.cancel();
  std::function<void(Result<TcpConnection*>)> done = std::move(c->connect_done_);
  c->connect_done_ = nullptr;
  done(static_cast<TcpConnection*>(c));
  if (!c->closing_ && c->handler_ == nullptr) c->close_now();  // nobody took it
}

class UvListener final : public Listener, public detail::HandleOwner {
 public:
  UvListener(Loop& loop, AcceptHandler& handler) : loop_(loop), handler_(handler) {
    WSGATE_CHECK(uv_tcp_init(static_cast<uv_loop_t*>(loop.native()), &tcp_) == 0,
                 "uv_tcp_init failed");
    tcp_.data = static_cast<detail::HandleOwner*>(this);
  }

  static UvListener* from(void* handle_data) noexcept {
    return static_cast<UvListener*>(static_cast<detail::HandleOwner*>(handle_data));
  }
  uv_stream_t* stream() noexcept { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  void close_now() noexcept {
    if (closing_) return;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &on_closed);
  }
  void force_close() noexcept override { close_now(); }

  static void on_connection(uv_stream_t* server, int status) noexcept;

  uv_tcp_t tcp_{};
  Loop& loop_;
  AcceptHandler& handler_;
  SocketAddress address_;
  std::shared_ptr<const TlsServerContext> tls_;  // for connections accepted from now on
  bool closing_ = false;

 private:
  static void on_closed(uv_handle_t* h) noexcept { delete from(h->data); }
  void warn_accept(int status) noexcept;

  std::uint64_t warned_at_ms_ = 0;  // loop time of the last accept warning
  bool warned_ = false;
  std::size_t unreported_ = 0;  // accept errors swallowed since then
};

void UvListener::warn_accept(int status) noexcept {
  // Out of descriptors, an accept error repeats for every pending connection: once a second.
  const std::uint64_t now = loop_.now_ms();
  if (warned_ && now - warned_at_ms_ < 1000) {
    ++unreported_;
    return;
  }
  const std::size_t more = unreported_;
  warned_ = true;
  warned_at_ms_ = now;
  unreported_ = 0;
  WSGATE_LOG(warn, "listener " << address_.to_string()
                               << ": accept failed: " << uv_error(status).message() << " (" << more
                               << " more since the last report)");
}

void UvListener::on_connection(uv_stream_t* server, int status) noexcept {
  UvListener* l = from(server->data);
  if (l->closing_) return;
  if (status < 0) {
    l->warn_accept(status);
    return;
  }
  auto* c = new UvTcpConnection(l->loop_);
  const int rc = uv_accept(server, c->stream());
  if (rc != 0) {
    l->warn_accept(rc);
    c->close_now();
    return;
  }
  c->established();
  if (l->tls_ != nullptr) c->attach_tls(TlsEngine::server(l->tls_));
  l->handler_.on_accept(*c);
  if (!c->closing_ && c->handler_ == nullptr) c->close_now();  // the callee took no handler
}

std::error_code errno_code(int err) noexcept {
  return {err, std::system_category()};
}

// socket() + options + bind(); the descriptor, or the failing call's errno.
Result<int> bound_socket(const SocketAddress& addr, const ListenOptions& opts) {
  const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_code(errno);
  const int one = 1;
  const int v6only = opts.ipv6_only ? 1 : 0;
  bool ok = ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0;
  if (ok && opts.reuse_port) ok = ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0;
  if (ok && addr.family() == AF_INET6) {
    ok = ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) == 0;
  }
  if (ok) ok = ::bind(fd, addr.sockaddr_ptr(), addr.length()) == 0;
  if (!ok) {
    const int err = errno;
    ::close(fd);
    return errno_code(err);
  }
  return fd;
}

UvTcpConnection* impl(TcpConnection* c) noexcept {
  return static_cast<UvTcpConnection*>(c);
}
const UvTcpConnection* impl(const TcpConnection* c) noexcept {
  return static_cast<const UvTcpConnection*>(c);
}

}  // namespace tcp_detail

using namespace tcp_detail;

const std::error_category& uv_category() noexcept {
  static const UvCategory category;
  return category;
}

void TcpConnection::set_handler(std::unique_ptr<ConnectionHandler> handler) {
  impl(this)->install(std::move(handler));
}

ConnectionHandler* TcpConnection::handler() const noexcept {
  return impl(this)->handler_.get();
}

void TcpConnection::write(Bytes bytes) {
  UvTcpConnection* c = impl(this);
  if (c->tls_ != nullptr) {
    c->tls_send(bytes, &bytes);
  } else {
    c->send(std::move(bytes));
  }
}

void TcpConnection::write_copy(ByteView bytes) {
  UvTcpConnection* c = impl(this);
  if (c->tls_ != nullptr) {
    c->tls_send(bytes, nullptr);
  } else {
    c->send_copy(bytes);
  }
}

void TcpConnection::write(SharedBytes bytes, std::size_t offset) {
  UvTcpConnection* c = impl(this);
  if (c->tls_ == nullptr) {
    c->send(std::move(bytes), offset);
  } else if (bytes && offset < bytes->size()) {
    c->tls_send(ByteView(*bytes).subspan(offset), nullptr);
  }
}

MutableByteView TcpConnection::compose_begin(std::size_t n) {
  return impl(this)->compose_begin(n);
}

void TcpConnection::compose_end() {
  impl(this)->compose_end();
}

std::uint64_t TcpConnection::bytes_sent() const noexcept {
  return impl(this)->tx_sent_;
}

std::size_t TcpConnection::buffered_bytes() const noexcept {
  return impl(this)->buffered();
}

void TcpConnection::set_watermarks(std::size_t high, std::size_t low) noexcept {
  UvTcpConnection* c = impl(this);
  c->tx_high_ = high;
  c->tx_low_ = std::min(low, high);
}

bool TcpConnection::above_high_watermark() const noexcept {
  return impl(this)->tx_above_;
}

void TcpConnection::pause_reading() noexcept {
  UvTcpConnection* c = impl(this);
  if (!c->graceful_) c->stop_reading();  // a graceful close keeps discarding input
}

void TcpConnection::resume_reading() noexcept {
  UvTcpConnection* c = impl(this);
  if (!c->detached_ && c->handler_ != nullptr) c->start_reading();
}

bool TcpConnection::reading() const noexcept {
  return impl(this)->rx_reading_;
}

void TcpConnection::shutdown() noexcept {
  impl(this)->half_close();
}

void TcpConnection::close_gracefully(std::uint64_t linger_ms) noexcept {
  impl(this)->wind_down(linger_ms);
}

void TcpConnection::close() noexcept {
  impl(this)->close_now();
}

bool TcpConnection::closing() const noexcept {
  return impl(this)->detached_;
}

const SocketAddress& TcpConnection::peer() const noexcept {
  return impl(this)->peer_;
}

const SocketAddress& TcpConnection::local() const noexcept {
  return impl(this)->local_;
}

Loop& TcpConnection::loop() const noexcept {
  return impl(this)->loop_;
}

bool TcpConnection::is_tls() const noexcept {
  return impl(this)->tls_ != nullptr;
}

const TlsInfo* TcpConnection::tls_info() const noexcept {
  const UvTcpConnection* c = impl(this);
  return c->tls_ != nullptr ? &c->tls_->engine->info() : nullptr;
}

void TcpConnection::connect(Loop& loop, const SocketAddress& addr, std::uint64_t timeout_ms,
                            std::function<void(Result<TcpConnection*>)> done) {
  auto* c = new UvTcpConnection(loop);
  c->connect_done_ = std::move(done);
  c->start_connect(addr, timeout_ms);
}

void TcpConnection::connect_tls(Loop& loop, const SocketAddress& addr, std::uint64_t timeout_ms,
                                std::shared_ptr<const TlsClientContext> ctx,
                                std::string server_name,
                                std::function<void(Result<TcpConnection*>)> done) {
  auto* c = new UvTcpConnection(loop);
  c->connect_done_ = std::move(done);
  std::string cache_key = server_name + " " + addr.to_string();
  Result<std::unique_ptr<TlsEngine>> engine =
      TlsEngine::client(std::move(ctx), server_name, std::move(cache_key));
  if (!engine) {
    c->connect_error_ = engine.error();
    c->close_now();  // reported from the close callback, never from inside connect_tls()
    return;
  }
  c->attach_tls(std::move(*engine));
  c->start_connect(addr, timeout_ms);
}

void TcpConnection::connect_unix(Loop& loop, const std::string& path, std::uint64_t timeout_ms,
                                 std::function<void(Result<TcpConnection*>)> done) {
  auto* c = new UvTcpConnection(loop, true);
  c->connect_done_ = std::move(done);
  c->start_connect_unix(path, timeout_ms);
}

std::size_t TcpConnection::live_count() noexcept {
  return t_live_connections;
}

Result<Listener*> Listener::open(Loop& loop, const SocketAddress& addr, const ListenOptions& opts,
                                 AcceptHandler& handler) {
  Result<int> fd = bound_socket(addr, opts);
  if (!fd) return fd.error();
  auto* l = new UvListener(loop, handler);
  l->tls_ = opts.tls;
  int rc = uv_tcp_open(&l->tcp_, *fd);
  if (rc != 0) {
    ::close(*fd);  // not adopted by the handle
    l->close_now();
    return uv_error(rc);
  }
  rc = uv_listen(l->stream(), opts.backlog, &UvListener::on_connection);
  if (rc != 0) {
    l->close_now();  // closes the descriptor too
    return uv_error(rc);
  }
  l->address_ = name_of(&l->tcp_, false);
  return static_cast<Listener*>(l);
}

void Listener::close() noexcept {
  static_cast<UvListener*>(this)->close_now();
}

const SocketAddress& Listener::address() const noexcept {
  return static_cast<const UvListener*>(this)->address_;
}

void Listener::set_tls(std::shared_ptr<const TlsServerContext> ctx) noexcept {
  static_cast<UvListener*>(this)->tls_ = std::move(ctx);
}

}  // namespace wsgate::net