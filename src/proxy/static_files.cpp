#include "proxy/static_files.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/check.hpp"
#include "base/log.hpp"
#include "proto/http1_writer.hpp"
#include "proto/http_message.hpp"
#include "proxy/ws_session.hpp"  // service.hpp needs WsHandler complete (its inline new_ws_handler)

namespace wsgate::proxy {

namespace {

using static_detail::ByteRange;
using static_detail::RangeOutcome;

struct MimeEntry {
  std::string_view ext;
  std::string_view type;
};

// Lookups are linear: the table is small, and the cost is dwarfed by the open() beside it.
// JavaScript is text/javascript (RFC 9239); XML and SVG carry a charset because browsers honour it.
constexpr MimeEntry kMimeTypes[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json; charset=utf-8"},
    {"map", "application/json; charset=utf-8"},
    {"webmanifest", "application/manifest+json; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml; charset=utf-8"},
    {"svg", "image/svg+xml; charset=utf-8"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"bmp", "image/bmp"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"flac", "audio/flac"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"7z", "application/x-7z-compressed"},
    {"sh", "text/x-shellscript; charset=utf-8"},
};

constexpr std::string_view kOctetStream = "application/octet-stream";

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// Parses 1*DIGIT, saturating at UINT64_MAX instead of overflowing.
std::optional<std::uint64_t> parse_digits(std::string_view s) noexcept {
  if (s.empty()) return std::nullopt;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t v = 0;
  for (const char c : s) {
    if (!is_digit(c)) return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    v = (v > (kMax - d) / 10) ? kMax : v * 10 + d;
  }
  return v;
}

// One range-spec (RFC 9110 §14.1.1) against `size`; `ignore` for a syntax error.
static_detail::RangeDecision decide_one(std::string_view spec, std::uint64_t size) noexcept {
  const std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  const std::string_view a = spec.substr(0, dash);
  const std::string_view b = spec.substr(dash + 1);
  if (a.empty()) {  // suffix-range "-n": the last n bytes
    const auto n = parse_digits(b);
    if (!n) return {};
    if (*n == 0) return {RangeOutcome::unsatisfiable, {}};
    // §14.1.1 counts a non-zero suffix of an empty representation as satisfiable, yet there
    // is no byte to put in a 206: serve the (empty) whole instead.
    if (size == 0) return {};
    return {RangeOutcome::partial, {*n >= size ? 0 : size - *n, size - 1}};
  }
  const auto first = parse_digits(a);
  if (!first) return {};
  std::uint64_t last = std::numeric_limits<std::uint64_t>::max();
  if (!b.empty()) {
    const auto l = parse_digits(b);
    if (!l || *l < *first) return {};  // §14.1.1: last < first makes the spec invalid
    last = *l;
  }
  if (*first >= size) return {RangeOutcome::unsatisfiable, {}};
  return {RangeOutcome::partial, {*first, last >= size ? size - 1 : last}};
}

// Strips the weakness indicator of an entity tag (RFC 9110 §8.8.3: entity-tag = [ "W/" ]
// opaque-tag). The "W" is case-sensitive.
std::string_view opaque_tag(std::string_view tag) noexcept {
  if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') tag.remove_prefix(2);
  return tag;
}

bool is_unreserved_or_path_char(unsigned char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  constexpr std::string_view kAllowed = "-._~!$&'()*+,;=:@/";
  return kAllowed.find(static_cast<char>(c)) != std::string_view::npos;
}

std::string hex(std::uint64_t v) {
  char buf[17];
  int n = 0;
  do {
    buf[16 - n++] = "0123456789abcdef"[v & 0xf];
    v >>= 4;
  } while (v != 0);
  return std::string(buf + 17 - n, static_cast<std::size_t>(n));
}

// Owns one file descriptor and closes it exactly once.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

// What every handler of one route reads; immutable, shared with the Service (a reload may drop
// the Service while a transfer is still streaming, hence shared ownership).
struct StaticSettings {
  std::string route_name;     // for logs
  std::string route_path;     // the prefix to strip
  std::string root;           // canonical (realpath) root; empty if it could not be resolved
  std::string index;          // "" = no index file
  std::string cache_control;  // "" = none
};

// The result of opening a path below the root: an open file and its stat, or the status to
// answer with (already logged when it deserves a line).
struct Opened {
  Fd fd;
  struct stat st {};
  int status = 0;
};

// The canonical name of an open file. /proc/self/fd/N names the very inode we opened (the kernel
// resolved every symlink on the way), so the check below cannot be raced by swapping a symlink
// between the check and the read, as realpath(path)-then-open could. Without /proc (an unusual
// container), realpath(path) is the fallback, with that race.
std::optional<std::string> canonical_name(int fd, const std::string& path) {
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  std::string buf(PATH_MAX, '\0');
  const ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
  if (n > 0 && static_cast<std::size_t>(n) < buf.size()) {
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }
  char* real = ::realpath(path.c_str(), nullptr);
  if (real == nullptr) return std::nullopt;
  std::string out(real);
  std::free(real);
  return out;
}

int status_for_open_errno(int err, const StaticSettings& s, std::string_view req_path) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:  // the client chose the name: not worth an error line
      return 404;
    case EACCES:
    case EPERM: return 403;
    default:
      WSGATE_LOG(error,
                 "route " << s.route_name << ": open " << req_path << ": " << std::strerror(err));
      return 500;
  }
}

// Opens `file` and checks that it is a regular file or a directory inside the canonical root.
// O_NONBLOCK: opening a FIFO for reading would otherwise block the loop until a writer appears;
// it changes nothing for regular files. No O_NOFOLLOW: symlinks inside the root are served.
Opened open_below_root(const std::string& file, const StaticSettings& s,
                       std::string_view req_path) {
  Opened r;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    r.status = status_for_open_errno(errno, s, req_path);
    return r;
  }
  r.fd = Fd(fd);
  if (::fstat(fd, &r.st) != 0) {
    WSGATE_LOG(error,
               "route " << s.route_name << ": fstat " << req_path << ": " << std::strerror(errno));
    r.status = 500;
    return r;
  }
  const std::optional<std::string> name = canonical_name(fd, file);
  if (!name) {
    WSGATE_LOG(error, "route " << s.route_name << ": cannot resolve " << req_path);
    r.status = 500;
  } else if (!static_detail::is_within(*name, s.root)) {
    WSGATE_LOG(warn, "route " << s.route_name << ": " << req_path << ": symlink escapes root (to "
                              << *name << ")");
    r.status = 403;
  } else if (!S_ISREG(r.st.st_mode) && !S_ISDIR(r.st.st_mode)) {
    r.status = 403;  // FIFO, socket, device: never served
  }
  return r;
}

// RFC 9110 §13.2.2 steps 1-4 for GET/HEAD: 412, 304 or 0 (go on).
int evaluate_preconditions(const proto::HttpHeaders& h, std::string_view etag, std::time_t mtime) {
  if (h.contains("If-Match")) {
    if (!static_detail::strong_match(h.combined("If-Match"), etag)) return 412;
  } else if (const auto ius = h.get("If-Unmodified-Since")) {
    const auto date = proto::parse_http_date(*ius);
    if (date && mtime > *date) return 412;  // unparsable: ignored (§13.1.4)
  }
  if (h.contains("If-None-Match")) {
    return static_detail::none_match(h.combined("If-None-Match"), etag) ? 304 : 0;
  }
  if (const auto ims = h.get("If-Modified-Since")) {  // only without If-None-Match (§13.1.3)
    const auto date = proto::parse_http_date(*ims);
    if (date && mtime <= *date) return 304;
  }
  return 0;
}

// RFC 9110 §13.1.5: If-Range lets the range apply only to the representation the client holds:
// a strong ETag equal to ours, or exactly our Last-Modified date. Anything else: whole file.
bool if_range_allows(const proto::HttpHeaders& h, std::string_view etag, std::time_t mtime) {
  const auto v = h.get("If-Range");
  if (!v) return true;
  if (v->starts_with('"') || v->starts_with("W/")) return *v == etag;  // weak never matches
  const auto date = proto::parse_http_date(*v);
  return date && *date == mtime;
}

class StaticHandler final : public HttpHandler {
 public:
  explicit StaticHandler(std::shared_ptr<const StaticSettings> s) : s_(std::move(s)) {}
  void on_request(HttpExchange& ex) override;
  void on_drain(HttpExchange& ex) override { pump(ex); }
  void on_abort() override {
    aborted_ = true;
    fd_.reset();
  }

 private:
  void serve(HttpExchange& ex, Opened f, std::string_view file);
  void send_small(HttpExchange& ex, proto::HttpResponseHead head, const Fd& fd, std::uint64_t first,
                  std::uint64_t length);
  void pump(HttpExchange& ex);

  std::shared_ptr<const StaticSettings> s_;
  std::string req_path_;         // for log lines once streaming
  Fd fd_;                        // the file being streamed; closed at the end or on abort
  std::uint64_t tx_offset_ = 0;  // next file offset to read
  std::uint64_t tx_left_ = 0;    // body bytes still owed
  bool pumping_ = false;         // inside pump(): a nested on_drain returns at once
  bool aborted_ = false;         // on_abort ran: the exchange is gone
};

void StaticHandler::on_request(HttpExchange& ex) {
  const std::string_view path = ex.path();
  WSGATE_ASSERT(path.find('\0') == std::string_view::npos, "the router refuses NUL in paths");
  const auto below = static_detail::path_below_route(path, s_->route_path);
  if (!below || static_detail::has_hidden_segment(*below) || s_->root.empty()) {
    return ex.respond_error(404);
  }
  std::string file = s_->root == "/" ? std::string() : s_->root;
  file += *below;
  Opened f = open_below_root(file, *s_, path);
  if (f.status != 0) return ex.respond_error(f.status);
  if (S_ISDIR(f.st.st_mode)) {
    if (!below->ends_with('/')) {  // relative links inside the index need the trailing '/'
      proto::HttpResponseHead head;
      head.status = 301;
      head.headers.add("Location", static_detail::directory_location(path, ex.request().query()));
      return ex.respond(std::move(head), {});
    }
    if (s_->index.empty()) return ex.respond_error(404);  // no directory listings
    file += s_->index;
    f = open_below_root(file, *s_, path);
    if (f.status != 0) return ex.respond_error(f.status);
    if (!S_ISREG(f.st.st_mode)) return ex.respond_error(404);
  }
  serve(ex, std::move(f), file);
}

void StaticHandler::serve(HttpExchange& ex, Opened f, std::string_view file) {
  const auto size = static_cast<std::uint64_t>(f.st.st_size);
  const std::time_t mtime = f.st.st_mtim.tv_sec;
  const std::string etag = static_detail::make_etag(
      static_cast<std::int64_t>(mtime) * 1'000'000'000 + f.st.st_mtim.tv_nsec, size);
  const proto::HttpHeaders& req = ex.request().headers;

  proto::HttpResponseHead head;
  head.headers.add("ETag", etag);
  head.headers.add("Last-Modified", proto::http_date(mtime));
  if (!s_->cache_control.empty()) head.headers.add("Cache-Control", s_->cache_control);
  const int pre = evaluate_preconditions(req, etag, mtime);
  if (pre == 412) return ex.respond_error(412);
  if (pre == 304) {
    head.status = 304;  // validators and Cache-Control only: no body, no Content-Length
    return ex.respond(std::move(head), {});
  }

  static_detail::RangeDecision rd;  // Range applies to GET only (RFC 9110 §14.2)
  const auto range_header = req.combined("Range");
  if (!ex.is_head() && !range_header.empty() && if_range_allows(req, etag, mtime)) {
    rd = static_detail::decide_range(range_header, size);
  }
  if (rd.outcome == RangeOutcome::unsatisfiable) {
    proto::HttpResponseHead bad;
    bad.status = 416;
    bad.headers.add("Content-Type", "text/plain; charset=utf-8");
    bad.headers.add("Content-Range", "bytes */" + std::to_string(size));
    bad.headers.add("Accept-Ranges", "bytes");
    return ex.respond(std::move(bad), "416 Range Not Satisfiable\n");
  }
  std::uint64_t first = 0;
  std::uint64_t length = size;
  if (rd.outcome == RangeOutcome::partial) {
    head.status = 206;
    first = rd.range.first;
    length = rd.range.length();
    head.headers.add("Content-Range", "bytes " + std::to_string(rd.range.first) + '-' +
                                          std::to_string(rd.range.last) + '/' +
                                          std::to_string(size));
  }
  head.headers.add("Content-Type", std::string(static_detail::content_type_for(file)));
  head.headers.add("Content-Length", std::to_string(length));
  head.headers.add("Accept-Ranges", "bytes");
  head.headers.add("X-Content-Type-Options", "nosniff");
  if (ex.is_head()) return ex.respond(std::move(head), {});
  if (length <= static_detail::kWholeFileMax) {
    return send_small(ex, std::move(head), f.fd, first, length);
  }
  req_path_ = std::string(ex.path());
  fd_ = std::move(f.fd);
  tx_offset_ = first;
  tx_left_ = length;
  ex.start_response(std::move(head));
  if (!aborted_) pump(ex);
}

// Reads the whole body before answering, so a file that shrank since fstat is still a clean 500.
void StaticHandler::send_small(HttpExchange& ex, proto::HttpResponseHead head, const Fd& fd,
                               std::uint64_t first, std::uint64_t length) {
  std::string body(length, '\0');
  std::size_t got = 0;
  while (got < body.size()) {
    const ssize_t n =
        ::pread(fd.get(), body.data() + got, body.size() - got, static_cast<off_t>(first + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      WSGATE_LOG(error, "route " << s_->route_name << ": read " << ex.path() << ": "
                                 << (n < 0 ? std::strerror(errno) : "file shrank while read"));
      return ex.respond_error(500);
    }
    got += static_cast<std::size_t>(n);
  }
  ex.respond(std::move(head), body);
}

// Produces while the connection's queue is short; on_drain calls back in. A file that shrinks
// (or fails to read) mid-body cannot be reported with a status any more: the handler logs, closes
// the file and ends the response short, and the server, seeing fewer body bytes than the
// Content-Length it sent, must close the connection (the client then sees a truncated body).
void StaticHandler::pump(HttpExchange& ex) {
  if (pumping_ || !fd_) return;
  pumping_ = true;
  bool failed = false;
  // The exchange's contract: produce below kProduceBelow; reaching it guarantees an on_drain.
  while (tx_left_ > 0 && ex.buffered_amount() < HttpExchange::kProduceBelow) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(static_detail::kChunkSize, tx_left_));
    Bytes chunk(want);
    const ssize_t n = ::pread(fd_.get(), chunk.data(), want, static_cast<off_t>(tx_offset_));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      WSGATE_LOG(error, "route " << s_->route_name << ": read " << req_path_ << " at " << tx_offset_
                                 << ": "
                                 << (n < 0 ? std::strerror(errno) : "file shrank while sent")
                                 << "; ending the response short");
      failed = true;
      break;
    }
    chunk.resize(static_cast<std::size_t>(n));
    tx_offset_ += static_cast<std::uint64_t>(n);
    tx_left_ -= static_cast<std::uint64_t>(n);
    ex.write_body(std::move(chunk));
    if (aborted_) return;  // the connection died inside write_body: the exchange is gone
  }
  pumping_ = false;
  if (tx_left_ > 0 && !failed) return;  // resumes from on_drain
  fd_.reset();
  ex.end_response();  // last touch: the server may destroy this handler inside
}

constexpr std::array<std::string_view, 2> kMethods{"GET", "HEAD"};

class StaticService final : public Service {
 public:
  explicit StaticService(std::shared_ptr<const StaticSettings> s) : s_(std::move(s)) {}
  std::span<const std::string_view> http_methods() const noexcept override { return kMethods; }
  std::unique_ptr<HttpHandler> new_http_handler() const override {
    return std::make_unique<StaticHandler>(s_);
  }

 private:
  std::shared_ptr<const StaticSettings> s_;
};

}  // namespace

namespace static_detail {

std::string_view content_type_for(std::string_view file_name) noexcept {
  const std::size_t slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  const std::size_t dot = file_name.rfind('.');
  if (dot == std::string_view::npos) return kOctetStream;
  const std::string_view ext = file_name.substr(dot + 1);
  for (const MimeEntry& m : kMimeTypes) {
    if (proto::iequals(m.ext, ext)) return m.type;
  }
  return kOctetStream;
}

std::string make_etag(std::int64_t mtime_ns, std::uint64_t size) {
  return '"' + hex(static_cast<std::uint64_t>(mtime_ns)) + '-' + hex(size) + '"';
}

bool none_match(std::string_view if_none_match, std::string_view etag) noexcept {
  const std::string_view ours = opaque_tag(etag);
  return proto::for_each_list_element(
      if_none_match, [&](std::string_view tag) { return tag == "*" || opaque_tag(tag) == ours; });
}

bool strong_match(std::string_view if_match, std::string_view etag) noexcept {
  return proto::for_each_list_element(if_match, [&](std::string_view tag) {
    return tag == "*" || (!tag.starts_with("W/") && tag == etag);
  });
}

RangeDecision decide_range(std::string_view range_header, std::uint64_t size) noexcept {
  const std::size_t eq = range_header.find('=');
  if (eq == std::string_view::npos || !proto::iequals(range_header.substr(0, eq), "bytes")) {
    return {};
  }
  std::optional<std::string_view> only;
  bool several = false;
  proto::for_each_list_element(range_header.substr(eq + 1), [&](std::string_view spec) {
    several = only.has_value();
    only = spec;
    return several;
  });
  if (!only || several) return {};
  return decide_one(*only, size);
}

std::optional<std::string_view> path_below_route(std::string_view path,
                                                 std::string_view route_path) noexcept {
  // A prefix ending in '/' ("/" or "/assets/") keeps that '/' in the remainder.
  if (route_path.ends_with('/')) route_path.remove_suffix(1);
  if (!path.starts_with(route_path)) return std::nullopt;
  path.remove_prefix(route_path.size());
  if (!path.empty() && path.front() != '/') return std::nullopt;  // "/assetsX" under "/assets"
  return path;
}

bool has_hidden_segment(std::string_view path) noexcept {
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '.' && (i == 0 || path[i - 1] == '/')) return true;
  }
  return false;
}

bool is_within(std::string_view path, std::string_view root) noexcept {
  if (root == "/") return path.starts_with('/');
  if (!path.starts_with(root)) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

std::string directory_location(std::string_view path, std::string_view query) {
  std::string out;
  out.reserve(path.size() + query.size() + 2);
  for (const char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved_or_path_char(c)) {
      out += ch;
    } else {
      out += '%';
      out += "0123456789ABCDEF"[c >> 4];
      out += "0123456789ABCDEF"[c & 0xf];
    }
  }
  out += '/';
  if (!query.empty()) {
    out += '?';
    out += query;
  }
  return out;
}

}  // namespace static_detail

std::unique_ptr<Service> make_static_service(const RouteConfig& route) {
  auto s = std::make_shared<StaticSettings>();
  s->route_name = route.name();
  s->route_path = route.path;
  s->index = route.static_files.index;
  s->cache_control = route.static_files.cache_control;
  char* real = ::realpath(route.static_files.root.c_str(), nullptr);
  if (real != nullptr) {
    s->root = real;
    std::free(real);
  } else {
    WSGATE_LOG(warn, "route " << s->route_name << ": root " << route.static_files.root << ": "
                              << std::strerror(errno) << "; every request will get 404");
  }
  return std::make_unique<StaticService>(std::move(s));
}

}  // namespace wsgate::proxy
