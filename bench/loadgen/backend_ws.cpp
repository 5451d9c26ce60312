// The minimal WebSocket echo server (ws-echo) that wsgate's built-in echo route is compared
// with, and the fixed-response HTTP server (http) behind the HTTP proxy scenario. Both use only
// the codec of src/proto (HTTP/1.1 parser and writer, handshake, frames, masking, UTF-8): no
// libuv, no wsgate net or proxy code. One thread per Registry; `--threads N` runs N of them.
//
// ws-echo: any path is an echo endpoint; each message goes back whole with its opcode (text is
// UTF-8-checked by the assembler), pings are answered, a close is answered and the connection
// closed. Frames answering one read are queued together and written with one send().
// http: every request gets "200 OK" with a fixed body of --size bytes (default 100), keep-alive
// unless the request says otherwise; requests may be pipelined.

#include <string>

#include "backend.hpp"
#include "proto/http1_parser.hpp"
#include "proto/http1_writer.hpp"
#include "proto/ws_close.hpp"
#include "proto/ws_error.hpp"
#include "proto/ws_handshake.hpp"
#include "proto/ws_message.hpp"

namespace wsgate::bench {
namespace {

proto::MessageConfig server_config() {
  proto::MessageConfig c;
  c.role = proto::Role::server;
  c.max_frame_size = std::uint64_t{64} << 20;
  c.max_message_size = std::uint64_t{64} << 20;
  return c;
}

class WsEcho final : public BackendConn,
                     private proto::HttpRequestEvents,
                     private proto::MessageEvents {
 public:
  WsEcho(Registry& reg, int fd) : BackendConn(reg, fd), rx_ws_(server_config()) {}

 private:
  bool on_data(MutableByteView in) override {
    if (!open_) {
      const auto r = hs_.feed(in, *this);
      if (!r.ok()) return refuse(r.error());
      if (!hs_.upgraded() || failed_) return !failed_;
      open_ = true;
      in = in.subspan(r.value());
    }
    if (!in.empty() && !closed_) {
      const auto r = rx_ws_.feed(in, *this);
      if (!r.ok()) {
        send_close(proto::close_code_for(r.error()));
        close_after_flush();
      }
    }
    return flush();
  }

  // HttpRequestEvents: the upgrade request.
  proto::Http1Action on_request_head(proto::HttpRequestHead& head) override {
    auto up = proto::validate_upgrade(head);
    if (!up.ok()) {
      refuse(up.error());
      return proto::Http1Action::pause;
    }
    const auto res = proto::make_upgrade_response(up.value(), std::nullopt, std::nullopt);
    if (proto::write_response_head(tx(), res)) refuse({});
    return proto::Http1Action::proceed;
  }
  void on_body(ByteView) override {}
  proto::Http1Action on_message_complete() override { return proto::Http1Action::pause; }

  bool refuse(std::error_code ec) {
    ++reg_.stats.errors;
    failed_ = true;
    const auto rej = proto::make_rejection(ec);
    if (!proto::write_response_head(tx(), rej.head)) append(tx(), std::string_view(rej.body));
    close_after_flush();
    return true;
  }

  // MessageEvents: the echo.
  void on_message(proto::Opcode op, ByteView payload, bool) override {
    ++reg_.stats.records;
    proto::append_frame(tx(), op, payload, true, std::nullopt);
  }
  void on_ping(ByteView payload) override {
    proto::append_frame(tx(), proto::Opcode::pong, payload, true, std::nullopt);
  }
  void on_pong(ByteView) override {}
  void on_close(proto::CloseCode code, std::string_view) override {
    closed_ = true;
    const auto answer = code == proto::CloseCode::no_status ? proto::CloseCode::normal : code;
    send_close(answer);
    close_after_flush();
  }

  void send_close(proto::CloseCode code) {
    proto::append_frame(tx(), proto::Opcode::close, proto::make_close_payload(code), true,
                        std::nullopt);
  }

  proto::HttpRequestParser hs_;    ///< the upgrade request
  proto::MessageAssembler rx_ws_;  ///< client -> server frames
  bool open_ = false;              ///< the 101 is queued
  bool failed_ = false;            ///< the handshake was refused
  bool closed_ = false;            ///< the client's close arrived
};

class HttpFixed final : public BackendConn, private proto::HttpRequestEvents {
 public:
  HttpFixed(Registry& reg, int fd) : BackendConn(reg, fd) {
    static const std::string response = [&] {
      const std::size_t n = reg.opt->size == 0 ? 100 : reg.opt->size;
      std::string r =
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(n) +
          "\r\n\r\n";
      for (std::size_t i = 0; i < n; ++i) r += static_cast<char>('a' + i % 26);
      return r;
    }();
    response_ = &response;
  }

 private:
  bool on_data(MutableByteView in) override {
    while (!in.empty() && !bad_) {
      const auto r = parser_.feed(in, *this);
      if (!r.ok()) {
        ++reg_.stats.errors;
        return false;
      }
      in = in.subspan(r.value());
      if (!parser_.should_keep_alive() && !parser_.in_message()) {
        close_after_flush();
        break;
      }
    }
    return flush();
  }
  proto::Http1Action on_request_head(proto::HttpRequestHead&) override {
    return proto::Http1Action::proceed;
  }
  void on_body(ByteView) override {}
  proto::Http1Action on_message_complete() override {
    ++reg_.stats.records;
    append(tx(), std::string_view(*response_));
    return proto::Http1Action::proceed;
  }

  proto::HttpRequestParser parser_;
  const std::string* response_ = nullptr;  ///< the one response (shared, immutable)
  bool bad_ = false;
};

}  // namespace

std::unique_ptr<BackendConn> make_ws_echo(Registry& reg, int fd) {
  return std::make_unique<WsEcho>(reg, fd);
}
std::unique_ptr<BackendConn> make_http(Registry& reg, int fd) {
  return std::make_unique<HttpFixed>(reg, fd);
}

}  // namespace wsgate::bench
