#include "net/tcp_internal.hpp"

namespace wsgate::net::tcp_detail {

// --- TLS ------------------------------------------------------------------------------------
// Ciphertext from the socket goes through the engine into t_plain and on to the handler;
// plaintext writes become ciphertext for the raw send path above. Input the handler is not
// ready for (it paused reading mid-buffer) is kept in rx_held and delivered, after
// resume_reading(), from an idle callback: never from inside the handler's own call.

void UvTcpConnection::attach_tls(std::unique_ptr<TlsEngine> engine) {
  tls_ = std::make_unique<TlsStream>();
  tls_->engine = std::move(engine);
  WSGATE_CHECK(uv_idle_init(static_cast<uv_loop_t*>(loop_.native()), &tls_->idle) == 0,
               "uv_idle_init failed");
  tls_->idle.data = static_cast<detail::HandleOwner*>(this);
  ++open_handles_;
}

void UvTcpConnection::tls_wake() noexcept {
  TlsStream& t = *tls_;
  if (!t.rx_held.empty() || t.rx_fin || t.engine->has_pending()) {
    uv_idle_start(&t.idle, &on_idle);
  }
}

void UvTcpConnection::on_idle(uv_idle_t* h) noexcept {
  UvTcpConnection* c = from(h->data);
  uv_idle_stop(h);
  if (!c->closing_ && c->rx_reading_ && !c->rx_eof_) c->tls_drain();
}

void UvTcpConnection::tls_send(ByteView plain, Bytes* owned) {
  TlsStream& t = *tls_;
  if (closing_ || tx_shutdown_ || t.tx_closing || tx_error_ || plain.empty()) return;
  if (t.engine->handshake_done()) {
    tls_encrypt(plain);
    return;
  }
  if (t.tx_plain.empty() && owned != nullptr) {
    t.tx_plain = std::move(*owned);  // `plain` views it: no copy
  } else {
    append(t.tx_plain, plain);
  }
  note_high();
}

void UvTcpConnection::tls_encrypt(ByteView plain) {
  Bytes out;
  out.reserve(plain.size() + (plain.size() / 16384 + 1) * 64);  // record overhead
  const std::error_code ec = tls_->engine->write(plain, out);
  if (ec) {
    defer_error(ec);
    return;
  }
  send(std::move(out));
}

void UvTcpConnection::tls_receive(ByteView data) {
  TlsStream& t = *tls_;
  t.rx_any = true;
  if (rx_eof_) return;       // after the peer's close_notify
  if (!t.rx_held.empty()) {  // behind held input (resumed, the idle callback not yet run)
    append(t.rx_held, data);
    tls_drain();
    return;
  }
  ByteView in = data;
  tls_process(in);
  if (!closing_ && !rx_eof_ && !in.empty()) t.rx_held.assign(in.begin(), in.end());
}

void UvTcpConnection::tls_drain() {
  TlsStream& t = *tls_;
  Bytes held = std::move(t.rx_held);
  t.rx_held = Bytes{};
  ByteView in = held;
  tls_process(in);
  if (closing_ || rx_eof_) return;
  if (!in.empty()) {
    held.erase(held.begin(), held.end() - static_cast<std::ptrdiff_t>(in.size()));
    t.rx_held = std::move(held);
    return;
  }
  if (t.rx_fin && rx_reading_ && !t.engine->has_pending()) tls_eof();
}

void UvTcpConnection::tls_process(ByteView& in) {
  TlsEngine& e = *tls_->engine;
  while (!closing_) {
    Bytes out;
    if (!e.handshake_done()) {
      const TlsEngine::Status st = e.handshake(in, out);
      send(std::move(out));  // the handshake flight, or the alert of a failure
      if (st == TlsEngine::Status::error) {
        tls_handshake_failed(e.error());
        return;
      }
      if (st == TlsEngine::Status::want_more) return;
      tls_handshake_complete();
      continue;
    }
    if (!rx_reading_ || rx_eof_) return;  // paused: the caller keeps the rest of `in`
    const MutableByteView buf = plain_buffer();
    std::size_t filled = 0;
    TlsEngine::Status st = TlsEngine::Status::ok;
    while (filled < buf.size() && st == TlsEngine::Status::ok) {
      std::size_t n = 0;
      st = e.read(in, buf.subspan(filled), n, out);
      filled += n;
    }
    send(std::move(out));  // e.g. a KeyUpdate answer
    if (filled > 0 && !graceful_) {
      const MutableByteView data = buf.first(filled);
      notify([&](ConnectionHandler& h) { h.on_read(data); });
    }
    if (closing_) return;
    if (st == TlsEngine::Status::closed) {
      tls_eof();
      return;
    }
    if (st == TlsEngine::Status::error) {
      if (graceful_) {
        close_now();
      } else {
        fail(e.error());
      }
      return;
    }
    if (st == TlsEngine::Status::want_more) return;
  }
}

void UvTcpConnection::tls_socket_eof() {
  TlsStream& t = *tls_;
  uv_read_stop(stream());  // rx_reading_ stays: it is the handler's wish for held input
  t.rx_fin = true;
  if (t.engine->handshake_done()) {
    tls_drain();  // held input first, then on_eof
  } else if (!t.rx_any && connect_done_ == nullptr) {
    tls_eof();  // a client that connected and left without a byte: no handshake failure
  } else {
    tls_handshake_failed(TlsEngine::eof_error());
  }
}

void UvTcpConnection::tls_eof() {
  // The peer's close_notify, or the socket's EOF without one after all input: both are the
  // end of the stream for the handler (HTTP framing detects a truncated message).
  stop_reading();
  rx_eof_ = true;
  if (graceful_) {
    finish_graceful_if_done();
  } else {
    notify([](ConnectionHandler& h) { h.on_eof(); });
  }
}

void UvTcpConnection::tls_handshake_complete() {
  TlsStream& t = *tls_;
  if (!t.tx_plain.empty()) {
    const Bytes plain = std::move(t.tx_plain);
    t.tx_plain = Bytes{};
    tls_encrypt(plain);
  }
  if (t.tx_closing) {
    t.tx_closing = false;
    tls_shutdown();
  }
  if (!connect_done_) return;
  timer_.cancel();  // connect_tls(): the connection is ready now
  std::function<void(Result<TcpConnection*>)> done = std::move(connect_done_);
  connect_done_ = nullptr;
  done(static_cast<TcpConnection*>(this));
  if (!closing_ && handler_ == nullptr) close_now();  // nobody took it
}

void UvTcpConnection::tls_handshake_failed(std::error_code ec) {
  if (connect_done_) {  // connect_tls(): `done` reports it, from the close callback
    connect_error_ = ec;
    close_now();
    return;
  }
  WSGATE_LOG(info, "tls handshake with " << peer_.to_string() << " failed: " << ec.message());
  if (graceful_) {
    close_now();
  } else {
    fail(ec);
  }
}

void UvTcpConnection::tls_shutdown() noexcept {
  TlsStream& t = *tls_;
  if (closing_ || tx_shutdown_ || t.tx_closing) return;
  if (!t.engine->handshake_done()) {
    t.tx_closing = true;  // after the handshake, behind what was written before
    return;
  }
  Bytes out;
  t.engine->shutdown(out);
  send(std::move(out));
  raw_half_close();
}
}  // namespace wsgate::net::tcp_detail
