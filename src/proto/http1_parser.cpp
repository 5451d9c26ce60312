#include "proto/http1_parser.hpp"

#include <llhttp.h>

#include <algorithm>
#include <string>

namespace wsgate::proto {

namespace {

// Fields a head has room for from its first one: typical heads fit without reallocating.
constexpr std::size_t kFieldsReserved = 8;

HttpErrc map_llhttp_error(llhttp_errno_t err) noexcept {
  switch (err) {
    case HPE_INVALID_METHOD: return HttpErrc::bad_method;
    case HPE_INVALID_URL: return HttpErrc::bad_target;
    case HPE_INVALID_VERSION: return HttpErrc::bad_version;
    case HPE_INVALID_STATUS: return HttpErrc::bad_status;
    case HPE_INVALID_HEADER_TOKEN: return HttpErrc::bad_header;
    case HPE_INVALID_CONTENT_LENGTH: return HttpErrc::bad_content_length;
    case HPE_UNEXPECTED_CONTENT_LENGTH: return HttpErrc::content_length_conflict;
    case HPE_INVALID_TRANSFER_ENCODING: return HttpErrc::bad_transfer_encoding;
    case HPE_INVALID_CHUNK_SIZE: return HttpErrc::bad_chunk;
    case HPE_PAUSED_H2_UPGRADE: return HttpErrc::unsupported_version;  // "PRI * HTTP/2.0"
    case HPE_INVALID_EOF_STATE: return HttpErrc::unexpected_eof;
    case HPE_CLOSED_CONNECTION: return HttpErrc::data_after_close;
    case HPE_STRICT:
    case HPE_CR_EXPECTED:
    case HPE_LF_EXPECTED:
    case HPE_UNEXPECTED_SPACE:
    case HPE_INVALID_CONSTANT: return HttpErrc::bad_syntax;
    default: return HttpErrc::internal;
  }
}

}  // namespace

namespace detail {

/// The direction-specific half of event delivery (adapters in the anonymous namespace below).
class CoreSink {
 public:
  virtual Http1Action head() = 0;
  virtual void body(ByteView chunk) = 0;
  virtual Http1Action complete() = 0;

 protected:
  ~CoreSink() = default;
};

class Http1Core {
 public:
  Http1Core(llhttp_type_t type, const Http1Limits& limits) : limits_(limits), type_(type) {
    reset();
  }
  Http1Core(const Http1Core&) = delete;
  Http1Core& operator=(const Http1Core&) = delete;

  Result<std::size_t> feed(ByteView in, CoreSink& sink);
  std::error_code finish(CoreSink& sink);
  void reset() noexcept;
  void resume_after_upgrade() noexcept;

  enum class Phase { head, body, upgraded, stopped, failed };
  bool done() const noexcept { return phase_ == Phase::upgraded || phase_ == Phase::stopped; }

  // Trampolines (llhttp's C callbacks). Never throw; allocation failure terminates (STYLE §4).
  static int on_message_begin(llhttp_t* p) noexcept;
  static int on_url(llhttp_t* p, const char* at, std::size_t n) noexcept;
  static int on_status(llhttp_t* p, const char* at, std::size_t n) noexcept;
  static int on_header_field(llhttp_t* p, const char* at, std::size_t n) noexcept;
  static int on_header_value(llhttp_t* p, const char* at, std::size_t n) noexcept;
  static int on_header_value_complete(llhttp_t* p) noexcept;
  static int on_headers_complete(llhttp_t* p) noexcept;
  static int on_chunk_header(llhttp_t* p) noexcept;
  static int on_body(llhttp_t* p, const char* at, std::size_t n) noexcept;
  static int on_message_complete(llhttp_t* p) noexcept;

  Http1Limits limits_;
  llhttp_type_t type_;
  llhttp_t parser_{};
  Phase phase_ = Phase::head;
  CoreSink* sink_ = nullptr;  // set during feed()/finish() only

  HttpRequestHead req_;    // head being assembled / last delivered (requests)
  HttpResponseHead resp_;  // same, responses
  std::string field_name_;
  std::string field_value_;

  std::size_t head_bytes_ = 0;     // bytes of the current head consumed so far
  bool head_prev_lf_ = false;      // obs-fold scan: the last head byte was LF
  bool msg_started_ = false;       // on_message_begin seen, on_message_complete not delivered
  bool head_done_ = false;         // llhttp paused at the end of the head: deliver it
  bool msg_done_ = false;          // llhttp reported the end of the message: deliver it
  bool in_finish_ = false;         // inside llhttp_finish(): do not pause
  bool keep_alive_ = true;         // llhttp_should_keep_alive() of the current/last message
  bool upgrade_ = false;           // the current message switches protocols
  bool needs_eof_ = false;         // the current body ends at EOF
  bool expect_head_ = false;       // responses: the request was HEAD
  bool expect_connect_ = false;    // responses: the request was CONNECT
  std::uint64_t body_bytes_ = 0;   // body bytes delivered for this message
  std::uint64_t body_limit_ = 0;   // this message's cap (0 = unlimited)
  std::size_t trailer_count_ = 0;  // trailer fields of this message
  std::size_t trailer_bytes_ = 0;  // trailer name + value bytes of this message
  HttpErrc user_err_{};            // set by a trampoline before it fails the parse
  const char* user_reason_ = "";
  std::error_code error_;
  const char* reason_ = "";

 private:
  static Http1Core& self(llhttp_t* p) noexcept { return *static_cast<Http1Core*>(p->data); }
  int user_error(HttpErrc e, const char* reason) noexcept;
  std::error_code fail(HttpErrc e, const char* reason) noexcept;
  bool scan_fold(const char* p, std::size_t n) noexcept;
  bool in_trailers() const noexcept { return phase_ == Phase::body; }
  std::error_code validate_head() noexcept;
  std::error_code validate_transfer_encoding() noexcept;
  Result<Http1Action> deliver_head();
  Http1Action deliver_complete();
  Result<std::size_t> run(ByteView in);
};

namespace {

const llhttp_settings_t kSettings = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = &Http1Core::on_message_begin;
  s.on_url = &Http1Core::on_url;
  s.on_status = &Http1Core::on_status;
  s.on_header_field = &Http1Core::on_header_field;
  s.on_header_value = &Http1Core::on_header_value;
  s.on_header_value_complete = &Http1Core::on_header_value_complete;
  s.on_headers_complete = &Http1Core::on_headers_complete;
  s.on_chunk_header = &Http1Core::on_chunk_header;
  s.on_body = &Http1Core::on_body;
  s.on_message_complete = &Http1Core::on_message_complete;
  return s;
}();

}  // namespace

void Http1Core::reset() noexcept {
  // llhttp_init never allocates; the settings outlive every parser (a static).
  llhttp_init(&parser_, type_, &kSettings);
  parser_.data = this;
  phase_ = Phase::head;
  sink_ = nullptr;
  head_bytes_ = 0;
  head_prev_lf_ = false;
  msg_started_ = head_done_ = msg_done_ = in_finish_ = false;
  keep_alive_ = true;
  upgrade_ = needs_eof_ = expect_head_ = expect_connect_ = false;
  body_bytes_ = 0;
  body_limit_ = limits_.max_body_bytes;
  trailer_count_ = trailer_bytes_ = 0;
  user_err_ = {};
  user_reason_ = reason_ = "";
  error_.clear();
}

int Http1Core::user_error(HttpErrc e, const char* reason) noexcept {
  user_err_ = e;
  user_reason_ = reason;
  return HPE_USER;
}

std::error_code Http1Core::fail(HttpErrc e, const char* reason) noexcept {
  phase_ = Phase::failed;
  error_ = make_error_code(e);
  reason_ = reason;
  sink_ = nullptr;
  return error_;
}

// ---- trampolines ----------------------------------------------------------------------------

int Http1Core::on_message_begin(llhttp_t* p) noexcept {
  Http1Core& c = self(p);
  c.msg_started_ = true;
  c.req_.method.clear();
  c.req_.target.clear();
  c.req_.headers.clear();
  c.resp_.reason.clear();
  c.resp_.headers.clear();
  c.field_name_.clear();
  c.field_value_.clear();
  c.upgrade_ = c.needs_eof_ = false;
  c.body_bytes_ = 0;
  c.body_limit_ = c.limits_.max_body_bytes;
  c.trailer_count_ = c.trailer_bytes_ = 0;
  return 0;
}

int Http1Core::on_url(llhttp_t* p, const char* at, std::size_t n) noexcept {
  Http1Core& c = self(p);
  if (n > c.limits_.max_url_bytes - c.req_.target.size()) {
    return c.user_error(HttpErrc::url_too_long, "request-target exceeds the URL limit");
  }
  c.req_.target.append(at, n);
  return 0;
}

int Http1Core::on_status(llhttp_t* p, const char* at, std::size_t n) noexcept {
  self(p).resp_.reason.append(at, n);  // bounded by the head limit
  return 0;
}

int Http1Core::on_header_field(llhttp_t* p, const char* at, std::size_t n) noexcept {
  Http1Core& c = self(p);
  if (c.in_trailers()) {
    c.trailer_bytes_ += n;
    if (c.trailer_bytes_ > c.limits_.max_head_bytes) {
      return c.user_error(HttpErrc::head_too_large, "trailer section exceeds the head limit");
    }
    return 0;
  }
  c.field_name_.append(at, n);
  return 0;
}

int Http1Core::on_header_value(llhttp_t* p, const char* at, std::size_t n) noexcept {
  Http1Core& c = self(p);
  if (c.in_trailers()) return on_header_field(p, at, n);  // same accounting, nothing kept
  c.field_value_.append(at, n);
  return 0;
}

int Http1Core::on_header_value_complete(llhttp_t* p) noexcept {
  Http1Core& c = self(p);
  if (c.in_trailers()) {
    if (++c.trailer_count_ > c.limits_.max_header_count) {
      return c.user_error(HttpErrc::too_many_headers, "too many trailer fields");
    }
    return 0;
  }
  HttpHeaders& h = c.type_ == HTTP_REQUEST ? c.req_.headers : c.resp_.headers;
  if (h.empty()) h.reserve(kFieldsReserved);
  if (h.size() >= c.limits_.max_header_count) {
    return c.user_error(HttpErrc::too_many_headers, "too many header fields");
  }
  // llhttp lets "Name :" (space before the colon) and ":" (empty name) through; RFC 9112 §5.1
  // requires rejecting the first, and the second is not a token.
  if (!is_token(c.field_name_)) {
    return c.user_error(HttpErrc::bad_header, "field name is not a token");
  }
  // RFC 9110 §5.5: OWS around the value is not part of it; llhttp keeps trailing OWS.
  h.add(c.field_name_, std::string(trim_ows(c.field_value_)));
  c.field_name_.clear();
  c.field_value_.clear();
  return 0;
}

int Http1Core::on_headers_complete(llhttp_t* p) noexcept {
  Http1Core& c = self(p);
  if (c.type_ == HTTP_RESPONSE) {
    // Returning 1 or 2 from this callback would say "no body" / "tunnel", but we return
    // HPE_PAUSED to deliver the head outside llhttp, so we set the same state those return
    // values set (flags |= F_SKIPBODY; upgrade = 1) ourselves.
    const int status = p->status_code;
    if (status == 101 || (c.expect_connect_ && status / 100 == 2)) {
      p->upgrade = 1;
      p->flags |= F_SKIPBODY;
    } else if (c.expect_head_ || status / 100 == 1 || status == 204 || status == 304) {
      p->flags |= F_SKIPBODY;  // RFC 9112 §6.3 rule 1: these never have a body
    }
  }
  c.upgrade_ = p->upgrade != 0;
  c.keep_alive_ = llhttp_should_keep_alive(p) != 0;
  c.needs_eof_ = llhttp_message_needs_eof(p) != 0;
  c.head_done_ = true;
  return HPE_PAUSED;  // resumes at llhttp__after_headers_complete
}

int Http1Core::on_chunk_header(llhttp_t* p) noexcept {
  Http1Core& c = self(p);
  // p->content_length holds this chunk's size: refuse before any of its bytes arrive.
  if (c.body_limit_ != 0 && p->content_length > c.body_limit_ - c.body_bytes_) {
    return c.user_error(HttpErrc::body_too_large, "chunked body exceeds the body limit");
  }
  return 0;
}

int Http1Core::on_body(llhttp_t* p, const char* at, std::size_t n) noexcept {
  Http1Core& c = self(p);
  // Deliver exactly up to the limit before failing, so that what the handler sees does not
  // depend on how the bytes were split into reads.
  const bool over = c.body_limit_ != 0 && n > c.body_limit_ - c.body_bytes_;
  const std::size_t take = over ? static_cast<std::size_t>(c.body_limit_ - c.body_bytes_) : n;
  c.body_bytes_ += take;
  if (take > 0) c.sink_->body(as_bytes(std::string_view(at, take)));
  return over ? c.user_error(HttpErrc::body_too_large, "body exceeds the body limit") : 0;
}

int Http1Core::on_message_complete(llhttp_t* p) noexcept {
  Http1Core& c = self(p);
  c.keep_alive_ = llhttp_should_keep_alive(p) != 0;  // flags are cleared right after this
  c.msg_done_ = true;
  // An upgrade makes llhttp return HPE_PAUSED_UPGRADE at this very byte; finish() must not pause.
  return (c.upgrade_ || c.in_finish_) ? 0 : HPE_PAUSED;
}

// ---- feed ------------------------------------------------------------------------------------

// Finds obs-fold (a line of the head starting with SP or HTAB). llhttp 8.1 accepts it and hands
// the continuation to on_header_value as if it were more of the value; RFC 9112 §5.2 lets a
// server reject it with 400, and a proxy must not forward it, so we reject it.
bool Http1Core::scan_fold(const char* p, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    if (head_prev_lf_ && (p[i] == ' ' || p[i] == '\t')) return true;
    head_prev_lf_ = p[i] == '\n';
  }
  return false;
}

std::error_code Http1Core::validate_transfer_encoding() noexcept {
  if ((parser_.flags & F_TRANSFER_ENCODING) == 0) return {};
  if (req_.version_minor == 0) {
    return fail(HttpErrc::bad_transfer_encoding, "Transfer-Encoding in an HTTP/1.0 request");
  }
  if ((parser_.flags & F_CHUNKED) == 0) {
    return fail(HttpErrc::bad_transfer_encoding, "chunked is not the final transfer coding");
  }
  // llhttp rejected "chunked" twice and "chunked" before another coding; what is left to refuse
  // is any coding before it, which we would have to decode (RFC 9112 §6.1: 501).
  bool other = false;
  for (const auto& f : req_.headers) {
    if (!iequals(f.name, "transfer-encoding")) continue;
    other = other || for_each_list_element(
                         f.value, [](std::string_view e) { return !iequals(e, "chunked"); });
  }
  if (other) {
    return fail(HttpErrc::unsupported_transfer_encoding, "transfer coding other than chunked");
  }
  return {};
}

std::error_code Http1Core::validate_head() noexcept {
  if (type_ == HTTP_REQUEST) {
    req_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
    req_.version_major = parser_.http_major;
    req_.version_minor = parser_.http_minor;
    // llhttp accepts HTTP/0.9 and HTTP/2.0 request lines; only 1.0 and 1.1 are HTTP/1.x here.
    if (req_.version_major != 1) {
      return fail(HttpErrc::unsupported_version, "request version is not HTTP/1.x");
    }
    return validate_transfer_encoding();
  }
  resp_.status = parser_.status_code;
  resp_.version_major = parser_.http_major;
  resp_.version_minor = parser_.http_minor;
  if (resp_.version_major != 1) {
    return fail(HttpErrc::bad_version, "response version is not HTTP/1.x");
  }
  if (resp_.status < 100 || resp_.status > 599) {  // RFC 9110 §15
    return fail(HttpErrc::bad_status, "status code outside 100-599");
  }
  return {};
}

Result<Http1Action> Http1Core::deliver_head() {
  head_done_ = false;
  if (std::error_code ec = validate_head()) return ec;
  phase_ = Phase::body;
  const Http1Action action = sink_->head();
  // Checked after delivery so that the handler's set_body_limit() (per route) applies.
  const bool has_body = (parser_.flags & F_SKIPBODY) == 0;
  if (has_body && (parser_.flags & F_CONTENT_LENGTH) != 0 && body_limit_ != 0 &&
      parser_.content_length > body_limit_) {
    return fail(HttpErrc::body_too_large, "Content-Length exceeds the body limit");
  }
  return action;
}

Http1Action Http1Core::deliver_complete() {
  msg_done_ = false;
  msg_started_ = false;
  head_bytes_ = 0;
  head_prev_lf_ = false;
  needs_eof_ = false;
  // llhttp (non-strict) would silently swallow everything after a message that closes the
  // connection; we stop instead, so the caller sees where the message ended.
  phase_ = upgrade_ ? Phase::upgraded : keep_alive_ ? Phase::head : Phase::stopped;
  return sink_->complete();
}

Result<std::size_t> Http1Core::feed(ByteView in, CoreSink& sink) {
  if (phase_ == Phase::failed) return error_;
  if (phase_ == Phase::upgraded || phase_ == Phase::stopped) {
    if (in.empty()) return std::size_t{0};
    return fail(HttpErrc::data_after_close, "data after a connection-ending message");
  }
  sink_ = &sink;
  Result<std::size_t> r = run(in);
  sink_ = nullptr;
  return r;
}

// The loop around llhttp_execute. llhttp pauses (on our request) at the end of every head and
// every message, so heads are delivered outside llhttp's frames, the head limit is exact (while
// in a head, llhttp is given at most the bytes the head may still use), and pauses asked for by
// the handler fall on message boundaries. error_pos gives the exact offset of each pause.
Result<std::size_t> Http1Core::run(ByteView in) {
  // Never hand llhttp a null pointer (an empty span may have one): it does pointer arithmetic.
  const char* const base = in.empty() ? "" : reinterpret_cast<const char*>(in.data());
  std::size_t off = 0;
  for (;;) {
    const std::size_t avail = in.size() - off;
    std::size_t n = avail;
    if (phase_ == Phase::head) {
      if (avail == 0) break;
      const std::size_t budget = limits_.max_head_bytes - head_bytes_;
      if (budget == 0) return fail(HttpErrc::head_too_large, "header section exceeds the limit");
      n = std::min(avail, budget);
    }
    const char* const begin = base + off;
    const llhttp_errno_t err = llhttp_execute(&parser_, begin, n);
    const bool halted = err != HPE_OK;
    const std::size_t used =
        halted ? static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - begin) : n;
    if (phase_ == Phase::head) {
      head_bytes_ += used;
      if (scan_fold(begin, used)) return fail(HttpErrc::bad_header, "obs-fold in header section");
    }
    off += used;
    if (!halted) {
      if (off == in.size()) break;
      continue;  // the head used its whole budget: the check above now fails it
    }
    if (err == HPE_PAUSED) {
      llhttp_resume(&parser_);
      Http1Action action = Http1Action::proceed;
      if (head_done_) {
        Result<Http1Action> r = deliver_head();
        if (!r) return r.error();
        action = *r;
      } else if (msg_done_) {
        action = deliver_complete();
        if (phase_ == Phase::stopped) break;
      } else {
        return fail(HttpErrc::internal, "unexpected pause");
      }
      if (action == Http1Action::pause) break;
      continue;
    }
    if (err == HPE_PAUSED_UPGRADE) {
      if (msg_done_) deliver_complete();  // the handler's action is moot: we stop here anyway
      phase_ = Phase::upgraded;
      break;
    }
    if (user_err_ != HttpErrc{}) return fail(user_err_, user_reason_);
    return fail(map_llhttp_error(err), llhttp_get_error_reason(&parser_));
  }
  return off;
}

std::error_code Http1Core::finish(CoreSink& sink) {
  if (phase_ == Phase::failed) return error_;
  if (phase_ == Phase::upgraded || phase_ == Phase::stopped) return {};
  if (!msg_started_ && phase_ == Phase::head) return {};  // EOF between messages: clean
  if (phase_ != Phase::body || !needs_eof_) {
    return fail(HttpErrc::unexpected_eof, "connection closed inside a message");
  }
  // A body delimited by the connection closing (RFC 9112 §6.3 rule 8) ends here. If the handler
  // paused at the head, llhttp has not entered the until-EOF body state yet: an empty execute
  // takes it there (it consumes nothing and delivers nothing).
  sink_ = &sink;
  if (Result<std::size_t> r = run(ByteView{}); !r) return r.error();
  in_finish_ = true;
  const llhttp_errno_t err = llhttp_finish(&parser_);
  in_finish_ = false;
  if (err != HPE_OK || !msg_done_) return fail(HttpErrc::internal, "llhttp_finish failed");
  keep_alive_ = false;
  deliver_complete();
  phase_ = Phase::stopped;
  sink_ = nullptr;
  return {};
}

void Http1Core::resume_after_upgrade() noexcept {
  if (phase_ != Phase::upgraded) return;
  llhttp_resume_after_upgrade(&parser_);
  upgrade_ = false;
  phase_ = keep_alive_ ? Phase::head : Phase::stopped;
}

}  // namespace detail

// ---- public wrappers -------------------------------------------------------------------------

namespace {

class RequestSink final : public detail::CoreSink {
 public:
  RequestSink(HttpRequestEvents& ev, HttpRequestHead& head) : ev_(ev), head_(head) {}
  Http1Action head() override { return ev_.on_request_head(head_); }
  void body(ByteView chunk) override { ev_.on_body(chunk); }
  Http1Action complete() override { return ev_.on_message_complete(); }

 private:
  HttpRequestEvents& ev_;
  HttpRequestHead& head_;
};

class ResponseSink final : public detail::CoreSink {
 public:
  ResponseSink(HttpResponseEvents& ev, HttpResponseHead& head) : ev_(ev), head_(head) {}
  Http1Action head() override { return ev_.on_response_head(head_); }
  void body(ByteView chunk) override { ev_.on_body(chunk); }
  Http1Action complete() override { return ev_.on_message_complete(); }

 private:
  HttpResponseEvents& ev_;
  HttpResponseHead& head_;
};

}  // namespace

HttpRequestParser::HttpRequestParser(const Http1Limits& limits)
    : core_(std::make_unique<detail::Http1Core>(HTTP_REQUEST, limits)) {}
HttpRequestParser::~HttpRequestParser() = default;
HttpRequestParser::HttpRequestParser(HttpRequestParser&&) noexcept = default;
HttpRequestParser& HttpRequestParser::operator=(HttpRequestParser&&) noexcept = default;

Result<std::size_t> HttpRequestParser::feed(ByteView in, HttpRequestEvents& ev) {
  RequestSink sink(ev, core_->req_);
  return core_->feed(in, sink);
}
std::error_code HttpRequestParser::finish(HttpRequestEvents& ev) {
  RequestSink sink(ev, core_->req_);
  return core_->finish(sink);
}
bool HttpRequestParser::should_keep_alive() const noexcept {
  return core_->keep_alive_;
}
bool HttpRequestParser::upgraded() const noexcept {
  return core_->phase_ == detail::Http1Core::Phase::upgraded;
}
void HttpRequestParser::resume_after_upgrade() noexcept {
  core_->resume_after_upgrade();
}
bool HttpRequestParser::in_message() const noexcept {
  return core_->msg_started_;
}
bool HttpRequestParser::done() const noexcept {
  return core_->done();
}
void HttpRequestParser::set_body_limit(std::uint64_t max_body_bytes) noexcept {
  core_->body_limit_ = max_body_bytes;
}
std::error_code HttpRequestParser::error() const noexcept {
  return core_->error_;
}
std::string_view HttpRequestParser::error_reason() const noexcept {
  return core_->reason_;
}
void HttpRequestParser::reset() noexcept {
  core_->reset();
}
const Http1Limits& HttpRequestParser::limits() const noexcept {
  return core_->limits_;
}

HttpResponseParser::HttpResponseParser(const Http1Limits& limits)
    : core_(std::make_unique<detail::Http1Core>(HTTP_RESPONSE, limits)) {}
HttpResponseParser::~HttpResponseParser() = default;
HttpResponseParser::HttpResponseParser(HttpResponseParser&&) noexcept = default;
HttpResponseParser& HttpResponseParser::operator=(HttpResponseParser&&) noexcept = default;

void HttpResponseParser::set_request_method(std::string_view method) noexcept {
  core_->expect_head_ = method == "HEAD";
  core_->expect_connect_ = method == "CONNECT";
}
Result<std::size_t> HttpResponseParser::feed(ByteView in, HttpResponseEvents& ev) {
  ResponseSink sink(ev, core_->resp_);
  return core_->feed(in, sink);
}
std::error_code HttpResponseParser::finish(HttpResponseEvents& ev) {
  ResponseSink sink(ev, core_->resp_);
  return core_->finish(sink);
}
bool HttpResponseParser::should_keep_alive() const noexcept {
  return core_->keep_alive_;
}
bool HttpResponseParser::upgraded() const noexcept {
  return core_->phase_ == detail::Http1Core::Phase::upgraded;
}
bool HttpResponseParser::in_message() const noexcept {
  return core_->msg_started_;
}
bool HttpResponseParser::done() const noexcept {
  return core_->done();
}
bool HttpResponseParser::needs_eof() const noexcept {
  return core_->needs_eof_;
}
std::error_code HttpResponseParser::error() const noexcept {
  return core_->error_;
}
std::string_view HttpResponseParser::error_reason() const noexcept {
  return core_->reason_;
}
void HttpResponseParser::reset() noexcept {
  core_->reset();
}
const Http1Limits& HttpResponseParser::limits() const noexcept {
  return core_->limits_;
}

}  // namespace wsgate::proto
