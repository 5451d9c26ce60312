#pragma once
// HTTP/1.1 push parsers for requests (server side) and responses (proxy/client side), built on
// llhttp 8.1 in its default (non-lenient) mode. This header and its .cpp are the only place in
// the project that knows llhttp exists. Pure: no I/O, no clock, no logging.
//
// Shape (STYLE.md §7): feed(bytes, events) -> bytes consumed. Events are delivered through a
// small abstract interface; heads are assembled from llhttp's split url/field/value spans, bodies
// are streamed as views (never buffered). The caller keeps unconsumed bytes and feeds them again
// later (pipelining, pauses) or hands them to another protocol (Upgrade / CONNECT).
//
// Policies beyond llhttp's own checks (each has a test in tests/proto/http1_parser_test.cpp):
//  - obs-fold (a field line starting with SP/HTAB) is rejected: 400 (RFC 9112 §5.2 allows it).
//  - whitespace between a field name and ':' is rejected: 400 (RFC 9112 §5.1 "MUST").
//  - field values are stored without leading/trailing OWS (RFC 9110 §5.5).
//  - Content-Length together with Transfer-Encoding, or two Content-Lengths: 400 (llhttp; the
//    lenient flags are never enabled: request smuggling defence, RFC 9112 §6.3).
//  - requests: Transfer-Encoding whose last coding is not chunked, or chunked twice: 400; any other
//    coding before chunked ("gzip, chunked"): 501 (we decode no codings, RFC 9112 §6.1); any
//    Transfer-Encoding in an HTTP/1.0 request: 400 (RFC 9112 §6.1 says its framing is faulty).
//  - requests: versions other than 1.0/1.1 (llhttp accepts 0.9 and 2.0): 505; the HTTP/2 preface
//    "PRI * HTTP/2.0": 505. Responses must be HTTP/1.x with a status in 100-599.
//  - responses: 1xx, 204 and 304, and any response to HEAD, have no body even if they carry
//    Content-Length (RFC 9112 §6.3; llhttp alone would read a body after a 204 with a length).
//  - trailer fields of chunked bodies are parsed, counted against the limits, and dropped.
//  - known llhttp 8.1 limitation: a chunk extension with an unquoted value followed by another
//    extension ("5;a=b;c=d") is rejected as bad_chunk; "5;a", "5;a;b", "5;a=b" and "5;a=\"v\""
//    parse. Chunk extensions are rare in practice.
//  - after a message that does not keep the connection alive, the parser stops; further bytes
//    are not HTTP it will parse (feed() then fails with data_after_close).
//
// Thread: none (a plain object; one per connection). Not copyable; movable.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <system_error>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "proto/http_error.hpp"
#include "proto/http_message.hpp"

namespace wsgate::proto {

/// Caps for one parser. Every cap is inclusive: a value exactly at the cap is accepted.
/// Defaults follow nginx's order of magnitude.
struct Http1Limits {
  /// Longest request-target, in bytes. Over it: url_too_long (414).
  std::size_t max_url_bytes = 8 * 1024;
  /// Longest head: every byte from the first byte after the previous message (so including any
  /// leading empty lines) through the CRLF that ends the header section. Over it: head_too_large
  /// (431). For chunked trailers, the sum of field name and value bytes is held to the same cap.
  /// Because the start line is part of the head, a URL limit above this one never triggers.
  std::size_t max_head_bytes = 16 * 1024;
  /// Most header fields in one head (and, separately, in one trailer section). Over it:
  /// too_many_headers (431).
  std::size_t max_header_count = 100;
  /// Largest body (after de-chunking) in bytes; 0 means unlimited (proxy streaming). A known
  /// Content-Length above it fails right after the head event, before any body byte (the head is
  /// delivered first so that a route can change the limit with set_body_limit()); chunked and
  /// until-close bodies fail when a chunk header announces, or the data reaches, more than the
  /// limit. body_too_large (413). The server default is 1 MiB.
  std::uint64_t max_body_bytes = 1024 * 1024;
};

/// What an event handler tells the parser to do next.
enum class Http1Action {
  proceed,  ///< keep parsing the bytes of this feed() call
  pause,    ///< stop right after this event; feed() returns the bytes consumed so far
};

/// Events of the request parser. Reentrancy: handlers may call the parser's const accessors and
/// set_body_limit() (from on_request_head only); they must not call feed(), finish(), reset() or
/// resume_after_upgrade(), and must not throw (the body event runs inside llhttp's C frames).
class HttpRequestEvents {
 public:
  virtual ~HttpRequestEvents() = default;
  /// A complete, validated request head. The handler may move from `head`; the parser clears it
  /// when the next message begins. Returning pause stops before any body byte is consumed.
  virtual Http1Action on_request_head(HttpRequestHead& head) = 0;
  /// Body bytes (Content-Length or de-chunked), in order, possibly in many pieces. The view points
  /// into the buffer given to feed() and is valid only during this call: copy to keep.
  virtual void on_body(ByteView chunk) = 0;
  /// The message (head and body) is complete. should_keep_alive() and upgraded() are final now.
  /// Returning pause stops right after this message: the usual way to answer pipelined requests
  /// one at a time.
  virtual Http1Action on_message_complete() = 0;
};

/// Events of the response parser; same rules as HttpRequestEvents. Interim 1xx responses (e.g.
/// 100 Continue) arrive as a head plus on_message_complete, then the final response follows.
class HttpResponseEvents {
 public:
  virtual ~HttpResponseEvents() = default;
  virtual Http1Action on_response_head(HttpResponseHead& head) = 0;
  virtual void on_body(ByteView chunk) = 0;
  virtual Http1Action on_message_complete() = 0;
};

namespace detail {
class Http1Core;  // the llhttp wrapper, shared by both directions (defined in http1_parser.cpp)
}  // namespace detail

/// Parses a stream of HTTP/1.x requests (server side), including pipelined ones.
///
/// feed() consumes bytes and returns how many it consumed. It consumes everything given unless:
///  - a handler returned Http1Action::pause: the rest starts right after that event;
///  - a message switched protocols (upgraded()): the rest starts at the first byte after the
///    Upgrade request message (its head and any body, RFC 9110 §7.8; a WebSocket upgrade has no
///    body) or after the head of a CONNECT request, e.g. the first WebSocket frame; it is not HTTP;
///  - a message ended the connection (!should_keep_alive()): the rest is ignored.
/// Resuming after a pause is just another feed() with the unconsumed bytes (plus any new ones).
///
/// Ownership: the parser keeps no pointer into `in` after feed() returns; views given to events
/// live only during the event. Errors: HttpErrc values. After an error the parser is dead: every
/// later feed()/finish() returns the same error until reset().
class HttpRequestParser {
 public:
  explicit HttpRequestParser(const Http1Limits& limits = {});
  ~HttpRequestParser();
  HttpRequestParser(HttpRequestParser&&) noexcept;
  HttpRequestParser& operator=(HttpRequestParser&&) noexcept;
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  /// Parses `in`, delivering events to `ev`. Returns bytes consumed, or the error.
  Result<std::size_t> feed(ByteView in, HttpRequestEvents& ev);

  /// The peer closed its sending side. Returns success between messages (or after the parser
  /// stopped), unexpected_eof inside a message, or the stored error.
  std::error_code finish(HttpRequestEvents& ev);

  /// True if the connection may carry another request after the current/last one: HTTP/1.1
  /// unless "Connection: close", HTTP/1.0 only with "Connection: keep-alive". Valid from
  /// on_request_head on.
  bool should_keep_alive() const noexcept;

  /// True after a request with "Connection: upgrade" + "Upgrade" (head and any body), or the
  /// head of a CONNECT, is complete: feed() stopped at the first byte that follows it. The bytes
  /// after belong to the new protocol; feeding more fails with data_after_close. If the server
  /// declines the upgrade and answers in HTTP (e.g. 426, 404), it calls resume_after_upgrade() and
  /// feeds the rest again.
  bool upgraded() const noexcept;
  /// Leaves the upgraded state and parses the following bytes as HTTP again (llhttp's
  /// llhttp_resume_after_upgrade). No effect unless upgraded(); if the declined request did not
  /// keep the connection alive, the parser stays stopped.
  void resume_after_upgrade() noexcept;

  /// True between a message's first byte and its on_message_complete (used for EOF and idle
  /// timeouts: a request is in progress).
  bool in_message() const noexcept;

  /// True when the parser takes no more bytes: a message that ends the connection is complete,
  /// or upgraded(). Check it after every feed(), even one that consumed everything: the head of
  /// an Upgrade request may end exactly at the end of a read.
  bool done() const noexcept;

  /// Overrides Http1Limits::max_body_bytes (0 = unlimited) for the request whose head was just
  /// delivered (e.g. a per-route limit). Call from on_request_head; reset at the next message.
  /// A Content-Length above the new limit then fails feed() with body_too_large after the head.
  void set_body_limit(std::uint64_t max_body_bytes) noexcept;

  /// The stored error (zero if none), and llhttp's or this wrapper's explanation for logs
  /// (a static string; empty if no error). Events and success never depend on how the input was
  /// split into feed() calls; but when a message is both over a limit and malformed, which of
  /// the two errors is reported can (e.g. url_too_long vs bad_target for a long target holding a
  /// bad byte: llhttp reports target bytes only at the end of each read or of the target).
  std::error_code error() const noexcept;
  std::string_view error_reason() const noexcept;

  /// Forgets all state to parse a new connection; keeps limits and allocated capacity.
  void reset() noexcept;
  const Http1Limits& limits() const noexcept;

 private:
  std::unique_ptr<detail::Http1Core> core_;
};

/// Parses a stream of HTTP/1.x responses (proxy side). Same contract as HttpRequestParser, plus:
///  - the parser must know the request's method, since a response to HEAD has no body and a 2xx
///    to CONNECT starts a tunnel: call set_request_method() before feeding each response (it
///    stays in force, including across 1xx interim responses, until changed; default "GET");
///  - a body without Content-Length or chunked framing runs until the connection closes: call
///    finish() at EOF to complete it (on_message_complete is delivered from finish());
///  - upgraded() is true after a 101 response (or a 2xx to CONNECT): the rest is the tunnel.
class HttpResponseParser {
 public:
  explicit HttpResponseParser(const Http1Limits& limits = {});
  ~HttpResponseParser();
  HttpResponseParser(HttpResponseParser&&) noexcept;
  HttpResponseParser& operator=(HttpResponseParser&&) noexcept;
  HttpResponseParser(const HttpResponseParser&) = delete;
  HttpResponseParser& operator=(const HttpResponseParser&) = delete;

  /// The method of the request the next response answers (case-sensitive, RFC 9110 §9.1).
  void set_request_method(std::string_view method) noexcept;

  Result<std::size_t> feed(ByteView in, HttpResponseEvents& ev);
  /// EOF from the server: completes an until-close body (delivering on_message_complete);
  /// unexpected_eof inside any other unfinished message; success between messages.
  std::error_code finish(HttpResponseEvents& ev);

  bool should_keep_alive() const noexcept;
  bool upgraded() const noexcept;
  bool in_message() const noexcept;
  bool done() const noexcept;
  /// True while the current body is delimited by the connection closing (see finish()).
  bool needs_eof() const noexcept;

  std::error_code error() const noexcept;
  std::string_view error_reason() const noexcept;
  void reset() noexcept;
  const Http1Limits& limits() const noexcept;

 private:
  std::unique_ptr<detail::Http1Core> core_;
};

}  // namespace wsgate::proto
