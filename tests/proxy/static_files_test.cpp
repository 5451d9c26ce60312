#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "proxy/router.hpp"
#include "proxy/static_files.hpp"
#include "proxy/ws_session.hpp"  // service.hpp needs WsHandler complete

using namespace wsgate;
using namespace wsgate::proxy;
using namespace wsgate::proxy::static_detail;
namespace fs = std::filesystem;

namespace {

// Fixed file times, so validators are exact strings:
// 1700000000 s = "Tue, 14 Nov 2023 22:13:20 GMT"; 1700000000.123456789 s = 0x17979cfe3d85cd15 ns.
constexpr std::time_t kMtime = 1700000000;
constexpr long kMtimeNs = 123456789;
constexpr const char* kLastModified = "Tue, 14 Nov 2023 22:13:20 GMT";

// A directory tree under the system temp dir, removed when the test ends.
class TempTree {
 public:
  TempTree() {
    std::random_device rd;
    root_ = fs::temp_directory_path() /
            ("wsgate_static_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    fs::create_directories(root_ / "www");
    fs::create_directories(root_ / "outside");
  }
  ~TempTree() {
    std::error_code ec;
    fs::permissions(www() / "locked.txt", fs::perms::owner_all, ec);
    fs::remove_all(root_, ec);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  fs::path www() const { return root_ / "www"; }
  fs::path outside() const { return root_ / "outside"; }
  // Writes `content` to `rel` (below the tree root) and pins its mtime.
  void write(const std::string& rel, const std::string& content) const {
    const fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    {
      std::ofstream f(p, std::ios::binary | std::ios::trunc);
      f << content;
    }
    touch(p);
  }
  static void touch(const fs::path& p, std::time_t sec = kMtime, long nsec = kMtimeNs) {
    const timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    REQUIRE(::utimensat(AT_FDCWD, p.c_str(), ts, 0) == 0);
  }

 private:
  fs::path root_;
};

// An HttpExchange that records what the handler did. buffered_amount() is under the test's
// control: every write_body adds its size, and the test empties it before calling on_drain.
class FakeExchange final : public HttpExchange {
 public:
  FakeExchange(const RouteConfig& route, std::string target, bool head = false)
      : route_(route), is_head_(head) {
    req_.method = head ? "HEAD" : "GET";
    req_.target = std::move(target);
    const auto norm = normalize_path(req_.path());  // what the server hands a handler
    REQUIRE(norm);
    path_ = *norm;
  }

  proto::HttpRequestHead& req() { return req_; }

  const proto::HttpRequestHead& request() const noexcept override { return req_; }
  std::string_view path() const noexcept override { return path_; }
  const RouteConfig& route() const noexcept override { return route_; }
  const net::SocketAddress& peer() const noexcept override { std::abort(); }  // never asked
  bool is_head() const noexcept override { return is_head_; }
  std::int64_t now() const noexcept override { return kMtime + 3600; }
  std::string_view scheme() const noexcept override { return "http"; }
  net::Loop& loop() const noexcept override { std::abort(); }             // never asked
  WorkerUpstreams& upstreams() const noexcept override { std::abort(); }  // never asked
  void pause_request_body() override {}
  void resume_request_body() override {}
  void send_continue() override {}
  void note_upstream(std::string) override {}
  void abort_response(std::string_view) override { CHECK(false); }

  void respond(proto::HttpResponseHead head, std::string_view body) override {
    begin(std::move(head));
    body_ = std::string(body);
    ended_ = true;
  }
  void respond_error(int status, std::string_view detail) override {
    (void)detail;
    proto::HttpResponseHead h;
    h.status = status;
    begin(std::move(h));
    ended_ = true;
  }
  void start_response(proto::HttpResponseHead head) override {
    begin(std::move(head));
    started_ = true;
  }
  void write_body(Bytes chunk) override {
    CHECK(started_);
    CHECK_FALSE(ended_);
    CHECK_FALSE(is_head_);
    ++writes_;
    max_chunk_ = std::max(max_chunk_, chunk.size());
    buffered_ += chunk.size();
    max_buffered_ = std::max(max_buffered_, buffered_);
    body_ += as_chars(chunk);
  }
  void end_response() override {
    CHECK(started_);
    CHECK_FALSE(ended_);
    ended_ = true;
  }
  std::size_t buffered_amount() const noexcept override { return buffered_; }

  // --- what the test inspects ---
  int status() const { return head_ ? head_->status : 0; }
  std::optional<std::string> header(std::string_view name) const {
    REQUIRE(head_);
    const auto v = head_->headers.get(name);
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> fields() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& f : head_->headers) out.emplace_back(f.name, f.value);
    return out;
  }
  const std::string& body() const { return body_; }
  bool ended() const { return ended_; }
  bool started() const { return started_; }
  std::size_t max_buffered() const { return max_buffered_; }
  std::size_t max_chunk() const { return max_chunk_; }
  int writes() const { return writes_; }
  void drain() { buffered_ = 0; }

 private:
  void begin(proto::HttpResponseHead h) {
    CHECK_FALSE(head_.has_value());  // exactly one response per exchange
    head_ = std::move(h);
  }

  const RouteConfig& route_;
  proto::HttpRequestHead req_;
  std::string path_;
  bool is_head_;
  std::optional<proto::HttpResponseHead> head_;
  std::string body_;
  bool started_ = false;
  bool ended_ = false;
  std::size_t buffered_ = 0;
  std::size_t max_buffered_ = 0;
  std::size_t max_chunk_ = 0;
  int writes_ = 0;
};

RouteConfig static_route(const fs::path& root, std::string path = "/") {
  RouteConfig r;
  r.path = std::move(path);
  r.kind = RouteKind::static_files;
  r.static_files.root = root.string();
  return r;
}

// One request through a fresh service and handler; returns the handler for streaming tests.
struct Run {
  std::unique_ptr<Service> service;
  std::unique_ptr<HttpHandler> handler;
};
Run run(const RouteConfig& route, FakeExchange& ex) {
  Run r{make_static_service(route), nullptr};
  r.handler = r.service->new_http_handler();
  REQUIRE(r.handler);
  r.handler->on_request(ex);
  return r;
}

// GET `target` on `route` with optional request headers; the whole response must be complete.
FakeExchange get(const RouteConfig& route, const std::string& target,
                 std::vector<std::pair<std::string, std::string>> headers = {}, bool head = false) {
  FakeExchange ex(route, target, head);
  for (auto& [n, v] : headers) ex.req().headers.add(n, v);
  run(route, ex);
  REQUIRE(ex.ended());
  return ex;
}

std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

std::string pattern(std::size_t size) {
  std::string s(size, '\0');
  std::uint32_t x = 2463534242u;  // xorshift: no period a misplaced chunk could hide in
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return s;
}

const char* kEtag12 = "\"17979cfe3d85cd15-c\"";  // kMtime/kMtimeNs and 12 bytes

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pure helpers

TEST_CASE("static: content types by extension", "[proxy][static]") {
  const std::vector<std::pair<std::string, std::string>> rows{
      {"index.html", "text/html; charset=utf-8"},
      {"a.HTM", "text/html; charset=utf-8"},
      {"s.css", "text/css; charset=utf-8"},
      {"app.js", "text/javascript; charset=utf-8"},
      {"m.mjs", "text/javascript; charset=utf-8"},
      {"d.json", "application/json; charset=utf-8"},
      {"app.js.map", "application/json; charset=utf-8"},
      {"r.txt", "text/plain; charset=utf-8"},
      {"README.md", "text/markdown; charset=utf-8"},
      {"f.xml", "application/xml; charset=utf-8"},
      {"i.svg", "image/svg+xml; charset=utf-8"},
      {"i.PNG", "image/png"},
      {"p.jpg", "image/jpeg"},
      {"p.jpeg", "image/jpeg"},
      {"g.gif", "image/gif"},
      {"w.webp", "image/webp"},
      {"a.avif", "image/avif"},
      {"favicon.ico", "image/x-icon"},
      {"m.wasm", "application/wasm"},
      {"f.woff", "font/woff"},
      {"f.woff2", "font/woff2"},
      {"f.ttf", "font/ttf"},
      {"f.otf", "font/otf"},
      {"d.pdf", "application/pdf"},
      {"s.mp3", "audio/mpeg"},
      {"v.mp4", "video/mp4"},
      {"v.webm", "video/webm"},
      {"s.ogg", "audio/ogg"},
      {"s.wav", "audio/wav"},
      {"a.zip", "application/zip"},
      {"a.tar.gz", "application/gzip"},
      {"a.tar", "application/x-tar"},
      {"t.csv", "text/csv; charset=utf-8"},
      {"noext", "application/octet-stream"},
      {"x.unknownext", "application/octet-stream"},
      {"trailingdot.", "application/octet-stream"},
      {"/dir.html/file", "application/octet-stream"},  // only the last segment counts
      {"/a/b/c.Css", "text/css; charset=utf-8"},
  };
  for (const auto& [name, type] : rows) {
    INFO(name);
    CHECK(content_type_for(name) == type);
  }
}

TEST_CASE("static: etag format", "[proxy][static]") {
  CHECK(make_etag(0, 0) == "\"0-0\"");
  CHECK(make_etag(0x5f3a1c2b, 0x1a2b) == "\"5f3a1c2b-1a2b\"");
  CHECK(make_etag(kMtime * 1'000'000'000 + kMtimeNs, 12) == kEtag12);
  CHECK(make_etag(-1, UINT64_MAX) == "\"ffffffffffffffff-ffffffffffffffff\"");
}

TEST_CASE("static: if-none-match weak comparison and if-match strong", "[proxy][static]") {
  const std::string e = "\"abc-1\"";
  CHECK(none_match("\"abc-1\"", e));
  CHECK(none_match("W/\"abc-1\"", e));
  CHECK(none_match("\"x\", W/\"abc-1\" ,\"y\"", e));
  CHECK(none_match("*", e));
  CHECK(none_match(" , \"abc-1\"", e));
  CHECK_FALSE(none_match("\"abc-2\"", e));
  CHECK_FALSE(none_match("abc-1", e));        // unquoted is not our tag
  CHECK_FALSE(none_match("w/\"abc-1\"", e));  // the W is case-sensitive
  CHECK_FALSE(none_match("", e));
  CHECK(strong_match("\"abc-1\"", e));
  CHECK(strong_match("\"z\", \"abc-1\"", e));
  CHECK(strong_match("*", e));
  CHECK_FALSE(strong_match("W/\"abc-1\"", e));
  CHECK_FALSE(strong_match("\"abc-2\"", e));
}

TEST_CASE("static: range decisions", "[proxy][static]") {
  using O = RangeOutcome;
  struct Row {
    std::string header;
    std::uint64_t size;
    O outcome;
    std::uint64_t first, last;
  };
  const std::vector<Row> rows{
      {"bytes=0-99", 1000, O::partial, 0, 99},
      {"bytes=10-10", 1000, O::partial, 10, 10},
      {"bytes=500-", 1000, O::partial, 500, 999},
      {"bytes=-100", 1000, O::partial, 900, 999},
      {"bytes=-1000", 1000, O::partial, 0, 999},
      {"bytes=-5000", 1000, O::partial, 0, 999},                  // suffix longer than the file
      {"bytes=990-5000", 1000, O::partial, 990, 999},             // end clamped
      {"bytes=0-99999999999999999999999", 10, O::partial, 0, 9},  // saturates, then clamps
      {"BYTES=0-0", 10, O::partial, 0, 0},                        // unit case-insensitive
      {"bytes=0-1, ", 10, O::partial, 0, 1},                      // empty list elements skipped
      {"bytes=1000-", 1000, O::unsatisfiable, 0, 0},              // first == size
      {"bytes=2000-3000", 1000, O::unsatisfiable, 0, 0},
      {"bytes=99999999999999999999999-", 10, O::unsatisfiable, 0, 0},
      {"bytes=-0", 1000, O::unsatisfiable, 0, 0},
      {"bytes=0-", 0, O::unsatisfiable, 0, 0},  // empty file has no byte 0
      {"bytes=-5", 0, O::ignore, 0, 0},         // nothing to send but the empty whole
      {"bytes=0-1,5-6", 10, O::ignore, 0, 0},   // several ranges: whole file
      {"bytes=0-1,100-200", 10, O::ignore, 0, 0},
      {"bytes=5-2", 10, O::ignore, 0, 0},  // last < first: invalid
      {"bytes=a-5", 10, O::ignore, 0, 0},
      {"bytes=1-b", 10, O::ignore, 0, 0},
      {"bytes=+1-5", 10, O::ignore, 0, 0},
      {"bytes= 1-5", 10, O::partial, 1, 5},  // OWS around list elements is trimmed
      {"bytes=1 -5", 10, O::ignore, 0, 0},
      {"bytes=-", 10, O::ignore, 0, 0},
      {"bytes=", 10, O::ignore, 0, 0},
      {"bytes=5", 10, O::ignore, 0, 0},
      {"bytes 0-5", 10, O::ignore, 0, 0},
      {"items=0-5", 10, O::ignore, 0, 0},
      {"", 10, O::ignore, 0, 0},
      {"=0-5", 10, O::ignore, 0, 0},
  };
  for (const Row& r : rows) {
    INFO(r.header << " size " << r.size);
    const RangeDecision d = decide_range(r.header, r.size);
    CHECK(d.outcome == r.outcome);
    if (r.outcome == O::partial) CHECK(d.range == ByteRange{r.first, r.last});
  }
}

TEST_CASE("static: path below route, hidden segments, containment, location", "[proxy][static]") {
  CHECK(path_below_route("/a/b.css", "/") == std::optional<std::string_view>("/a/b.css"));
  CHECK(path_below_route("/", "/") == std::optional<std::string_view>("/"));
  CHECK(path_below_route("/assets/a.css", "/assets") == std::optional<std::string_view>("/a.css"));
  CHECK(path_below_route("/assets", "/assets") == std::optional<std::string_view>(""));
  CHECK(path_below_route("/assets/", "/assets") == std::optional<std::string_view>("/"));
  CHECK(path_below_route("/assets/a.css", "/assets/") == std::optional<std::string_view>("/a.css"));
  CHECK_FALSE(path_below_route("/assetsX/a", "/assets"));
  CHECK_FALSE(path_below_route("/other", "/assets"));

  CHECK(has_hidden_segment("/.env"));
  CHECK(has_hidden_segment("/.git/config"));
  CHECK(has_hidden_segment("/a/.hidden/b"));
  CHECK(has_hidden_segment(".x"));
  CHECK_FALSE(has_hidden_segment("/a.b/c.d"));
  CHECK_FALSE(has_hidden_segment("/"));
  CHECK_FALSE(has_hidden_segment(""));

  CHECK(is_within("/srv/www", "/srv/www"));
  CHECK(is_within("/srv/www/a/b", "/srv/www"));
  CHECK_FALSE(is_within("/srv/www2", "/srv/www"));
  CHECK_FALSE(is_within("/srv", "/srv/www"));
  CHECK_FALSE(is_within("/etc/passwd", "/srv/www"));
  CHECK(is_within("/etc/passwd", "/"));

  CHECK(directory_location("/docs", "") == "/docs/");
  CHECK(directory_location("/docs", "a=1&b=2") == "/docs/?a=1&b=2");
  CHECK(directory_location("/my dir/%?#\xc3\xa9", "") == "/my%20dir/%25%3F%23%C3%A9/");
  CHECK(directory_location("/a-b_c.d~e!$&'()*+,;=:@", "") == "/a-b_c.d~e!$&'()*+,;=:@/");
}

// ---------------------------------------------------------------------------------------------
// Requests through the handler

TEST_CASE("static: service methods", "[proxy][static]") {
  TempTree t;
  const auto svc = make_static_service(static_route(t.www()));
  const auto m = svc->http_methods();
  REQUIRE(m.size() == 2);
  CHECK(m[0] == "GET");
  CHECK(m[1] == "HEAD");
  CHECK_FALSE(svc->takes_websocket());
}

TEST_CASE("static: plain file 200 with exact headers", "[proxy][static]") {
  TempTree t;
  t.write("www/hello.txt", "hello world\n");
  RouteConfig route = static_route(t.www());
  {
    const FakeExchange ex = get(route, "/hello.txt");
    CHECK(ex.status() == 200);
    CHECK_FALSE(ex.started());
    const std::vector<std::pair<std::string, std::string>> want{
        {"ETag", kEtag12},
        {"Last-Modified", kLastModified},
        {"Content-Type", "text/plain; charset=utf-8"},
        {"Content-Length", "12"},
        {"Accept-Ranges", "bytes"},
        {"X-Content-Type-Options", "nosniff"},
    };
    CHECK(ex.fields() == want);
    CHECK(ex.body() == "hello world\n");
  }
  route.static_files.cache_control = "public, max-age=60";
  const FakeExchange ex = get(route, "/hello.txt");
  CHECK(ex.header("Cache-Control") == "public, max-age=60");
}

TEST_CASE("static: HEAD gives the GET headers and no body", "[proxy][static]") {
  TempTree t;
  t.write("www/hello.txt", "hello world\n");
  t.write("www/big.bin", pattern(200'000));
  const RouteConfig route = static_route(t.www());
  for (const char* target : {"/hello.txt", "/big.bin"}) {
    INFO(target);
    const FakeExchange g = get(route, target);
    const FakeExchange h = get(route, target, {}, true);
    CHECK(h.status() == 200);
    CHECK_FALSE(h.started());  // one respond(), no reads
    CHECK(h.body().empty());
    CHECK(h.fields() == g.fields());
  }
  // Range does not apply to HEAD.
  const FakeExchange h = get(route, "/hello.txt", {{"Range", "bytes=0-1"}}, true);
  CHECK(h.status() == 200);
  CHECK(h.header("Content-Length") == "12");
}

TEST_CASE("static: missing and hidden files answer 404", "[proxy][static]") {
  TempTree t;
  t.write("www/.env", "SECRET=1");
  t.write("www/.git/config", "[core]");
  t.write("www/a/.hidden/x.txt", "x");
  t.write("www/file.txt", "x");
  const RouteConfig route = static_route(t.www());
  for (const std::string& target : std::vector<std::string>{
           "/.env", "/.git/config", "/.git/", "/a/.hidden/x.txt", "/nope.txt", "/nope/deeper.txt",
           "/file.txt/", "/file.txt/more", "/" + std::string(5000, 'n')}) {
    INFO(target);
    CHECK(get(route, target).status() == 404);
  }
}

TEST_CASE("static: directories redirect, serve the index, or answer 404", "[proxy][static]") {
  TempTree t;
  t.write("www/docs/index.html", "<p>docs</p>");
  t.write("www/empty/readme.txt", "no index here");
  t.write("www/my dir/index.html", "x");
  t.write("www/index.html", "<p>home</p>");
  RouteConfig route = static_route(t.www());

  FakeExchange r = get(route, "/docs?a=1&b=%20");
  CHECK(r.status() == 301);
  CHECK(r.header("Location") == "/docs/?a=1&b=%20");
  CHECK(get(route, "/docs").header("Location") == "/docs/");
  CHECK(get(route, "/my%20dir").header("Location") == "/my%20dir/");

  FakeExchange idx = get(route, "/docs/");
  CHECK(idx.status() == 200);
  CHECK(idx.body() == "<p>docs</p>");
  CHECK(idx.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(get(route, "/").body() == "<p>home</p>");
  CHECK(get(route, "/empty/").status() == 404);

  route.static_files.index = "";
  CHECK(get(route, "/docs/").status() == 404);
  CHECK(get(route, "/docs").status() == 301);
}

TEST_CASE("static: a route prefix is stripped", "[proxy][static]") {
  TempTree t;
  t.write("www/a.css", "body{}");
  t.write("www/index.html", "home");
  const RouteConfig route = static_route(t.www(), "/assets");
  const FakeExchange css = get(route, "/assets/a.css");
  CHECK(css.status() == 200);
  CHECK(css.body() == "body{}");
  CHECK(get(route, "/assets").header("Location") == "/assets/");
  CHECK(get(route, "/assets/").body() == "home");
  CHECK(get(route, "/assetsX").status() == 404);  // the router never sends it
}

TEST_CASE("static: symlinks inside the root are served, escaping ones are 403", "[proxy][static]") {
  TempTree t;
  t.write("www/real/file.txt", "inside");
  t.write("outside/secret.txt", "secret");
  t.write("outside/dir/index.html", "outside index");
  fs::create_symlink("real/file.txt", t.www() / "link.txt");
  fs::create_directory_symlink("real", t.www() / "linkdir");
  fs::create_symlink(t.outside() / "secret.txt", t.www() / "escape.txt");
  fs::create_directory_symlink(t.outside(), t.www() / "escdir");
  fs::create_symlink("../outside/secret.txt", t.www() / "relescape.txt");
  fs::create_symlink("missing.txt", t.www() / "dangling.txt");
  const RouteConfig route = static_route(t.www());

  CHECK(get(route, "/link.txt").body() == "inside");
  CHECK(get(route, "/linkdir/file.txt").body() == "inside");
  CHECK(get(route, "/escape.txt").status() == 403);
  CHECK(get(route, "/relescape.txt").status() == 403);
  // ".." cannot arrive (the router normalises), but a symlinked directory can still lead out.
  CHECK(get(route, "/escdir/secret.txt").status() == 403);
  CHECK(get(route, "/escdir/dir/").status() == 403);
  CHECK(get(route, "/escdir").status() == 403);  // not even a redirect
  CHECK(get(route, "/dangling.txt").status() == 404);

  // A root reached through a symlink: the canonical root is compared, so its files are inside.
  fs::create_directory_symlink(t.www(), t.outside() / "wwwlink");
  const RouteConfig via_link = static_route(t.outside() / "wwwlink");
  CHECK(get(via_link, "/link.txt").body() == "inside");
  CHECK(get(via_link, "/escape.txt").status() == 403);
}

TEST_CASE("static: an index symlink escaping the root is 403", "[proxy][static]") {
  TempTree t;
  t.write("outside/index.html", "outside");
  fs::create_directories(t.www() / "d");
  fs::create_symlink(t.outside() / "index.html", t.www() / "d" / "index.html");
  CHECK(get(static_route(t.www()), "/d/").status() == 403);
}

TEST_CASE("static: special files and unreadable files are 403", "[proxy][static]") {
  TempTree t;
  REQUIRE(::mkfifo((t.www() / "fifo").c_str(), 0600) == 0);  // must not block the open
  t.write("www/locked.txt", "x");
  fs::permissions(t.www() / "locked.txt", fs::perms::none);
  const RouteConfig route = static_route(t.www());
  CHECK(get(route, "/fifo").status() == 403);
  if (::geteuid() != 0) {  // root reads anything
    CHECK(get(route, "/locked.txt").status() == 403);
  }
}

TEST_CASE("static: a vanished root answers 404", "[proxy][static]") {
  TempTree t;
  const RouteConfig route = static_route(t.www() / "not-there");
  CHECK(get(route, "/").status() == 404);
  CHECK(get(route, "/x.txt").status() == 404);
}

TEST_CASE("static: conditional GET with If-None-Match", "[proxy][static]") {
  TempTree t;
  t.write("www/hello.txt", "hello world\n");
  RouteConfig route = static_route(t.www());
  route.static_files.cache_control = "no-cache";
  const std::string weak = std::string("W/") + kEtag12;
  for (const std::string& inm : {std::string(kEtag12), weak, "\"zz\", " + weak, std::string("*")}) {
    for (const bool head : {false, true}) {
      INFO(inm << (head ? " HEAD" : " GET"));
      const FakeExchange ex = get(route, "/hello.txt", {{"If-None-Match", inm}}, head);
      CHECK(ex.status() == 304);
      const std::vector<std::pair<std::string, std::string>> want{
          {"ETag", kEtag12}, {"Last-Modified", kLastModified}, {"Cache-Control", "no-cache"}};
      CHECK(ex.fields() == want);  // no Content-Length, no Content-Type
      CHECK(ex.body().empty());
    }
  }
  // Repeated fields are one list.
  FakeExchange two(route, "/hello.txt");
  two.req().headers.add("If-None-Match", "\"a\"");
  two.req().headers.add("If-None-Match", kEtag12);
  run(route, two);
  CHECK(two.status() == 304);

  CHECK(get(route, "/hello.txt", {{"If-None-Match", "\"17979cfe3d85cd15-d\""}}).status() == 200);
  // Touching the file changes the tag.
  TempTree::touch(t.www() / "hello.txt", kMtime, kMtimeNs + 1);
  CHECK(get(route, "/hello.txt", {{"If-None-Match", kEtag12}}).status() == 200);
}

TEST_CASE("static: conditional GET with If-Modified-Since", "[proxy][static]") {
  TempTree t;
  t.write("www/hello.txt", "hello world\n");
  const RouteConfig route = static_route(t.www());
  CHECK(get(route, "/hello.txt", {{"If-Modified-Since", kLastModified}}).status() == 304);
  CHECK(
      get(route, "/hello.txt", {{"If-Modified-Since", "Wed, 15 Nov 2023 00:00:00 GMT"}}).status() ==
      304);
  CHECK(
      get(route, "/hello.txt", {{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:19 GMT"}}).status() ==
      200);
  CHECK(get(route, "/hello.txt", {{"If-Modified-Since", "Tuesday, 14-Nov-23 22:13:20 GMT"}})
            .status() == 304);  // RFC 850 form
  CHECK(get(route, "/hello.txt", {{"If-Modified-Since", "yesterday"}}).status() == 200);
  // If-None-Match present: If-Modified-Since is ignored either way.
  CHECK(get(route, "/hello.txt",
            {{"If-None-Match", "\"other\""}, {"If-Modified-Since", kLastModified}})
            .status() == 200);
  CHECK(get(route, "/hello.txt",
            {{"If-None-Match", kEtag12}, {"If-Modified-Since", "Mon, 01 Jan 1990 00:00:00 GMT"}})
            .status() == 304);
}

TEST_CASE("static: If-Match and If-Unmodified-Since give 412", "[proxy][static]") {
  TempTree t;
  t.write("www/hello.txt", "hello world\n");
  const RouteConfig route = static_route(t.www());
  CHECK(get(route, "/hello.txt", {{"If-Match", kEtag12}}).status() == 200);
  CHECK(get(route, "/hello.txt", {{"If-Match", "*"}}).status() == 200);
  CHECK(get(route, "/hello.txt", {{"If-Match", "\"other\""}}).status() == 412);
  CHECK(get(route, "/hello.txt", {{"If-Match", std::string("W/") + kEtag12}}).status() == 412);
  CHECK(get(route, "/hello.txt", {{"If-Unmodified-Since", kLastModified}}).status() == 200);
  CHECK(get(route, "/hello.txt", {{"If-Unmodified-Since", "Tue, 14 Nov 2023 22:13:19 GMT"}})
            .status() == 412);
  CHECK(get(route, "/hello.txt", {{"If-Unmodified-Since", "garbage"}}).status() == 200);
}

TEST_CASE("static: byte ranges", "[proxy][static]") {
  TempTree t;
  t.write("www/digits.txt", "0123456789");
  const RouteConfig route = static_route(t.www());
  struct Row {
    std::string range;
    int status;
    std::string content_range;
    std::string body;
  };
  const std::vector<Row> rows{
      {"bytes=0-3", 206, "bytes 0-3/10", "0123"},
      {"bytes=7-", 206, "bytes 7-9/10", "789"},
      {"bytes=-2", 206, "bytes 8-9/10", "89"},
      {"bytes=-20", 206, "bytes 0-9/10", "0123456789"},
      {"bytes=8-100", 206, "bytes 8-9/10", "89"},
      {"bytes=10-", 416, "bytes */10", "416 Range Not Satisfiable\n"},
      {"bytes=-0", 416, "bytes */10", "416 Range Not Satisfiable\n"},
      {"bytes=3-1", 200, "", "0123456789"},
      {"bytes=x", 200, "", "0123456789"},
      {"bytes=0-1,3-4", 200, "", "0123456789"},
  };
  for (const Row& r : rows) {
    INFO(r.range);
    const FakeExchange ex = get(route, "/digits.txt", {{"Range", r.range}});
    CHECK(ex.status() == r.status);
    CHECK(ex.body() == r.body);
    CHECK(ex.header("Accept-Ranges") == "bytes");
    if (r.content_range.empty()) {
      CHECK_FALSE(ex.header("Content-Range"));
    } else {
      CHECK(ex.header("Content-Range") == r.content_range);
    }
    if (r.status != 416) {
      CHECK(ex.header("Content-Length") == std::to_string(r.body.size()));
      CHECK(ex.header("Content-Type") == "text/plain; charset=utf-8");
    }
  }
}

TEST_CASE("static: If-Range", "[proxy][static]") {
  TempTree t;
  t.write("www/hello.txt", "hello world\n");
  const RouteConfig route = static_route(t.www());
  auto with_if_range = [&](const std::string& v) {
    return get(route, "/hello.txt", {{"Range", "bytes=0-4"}, {"If-Range", v}});
  };
  FakeExchange ok = with_if_range(kEtag12);
  CHECK(ok.status() == 206);
  CHECK(ok.body() == "hello");
  CHECK(with_if_range(kLastModified).status() == 206);
  CHECK(with_if_range("\"other\"").status() == 200);
  CHECK(with_if_range(std::string("W/") + kEtag12).status() == 200);      // strong comparison
  CHECK(with_if_range("Tue, 14 Nov 2023 22:13:21 GMT").status() == 200);  // exact date only
  CHECK(with_if_range("Tue, 14 Nov 2023 22:13:19 GMT").status() == 200);
  CHECK(with_if_range("not a date").status() == 200);
  CHECK(with_if_range("\"other\"").body() == "hello world\n");
}

TEST_CASE("static: a large file streams with bounded buffering and closes its fd",
          "[proxy][static]") {
  TempTree t;
  const std::string content = pattern(5 * 1024 * 1024 + 123);
  t.write("www/big.bin", content);
  const RouteConfig route = static_route(t.www());
  const std::size_t fds_before = open_fd_count();
  {
    FakeExchange ex(route, "/big.bin");
    Run r = run(route, ex);
    REQUIRE(ex.started());
    CHECK(ex.status() == 200);
    CHECK(ex.header("Content-Length") == std::to_string(content.size()));
    CHECK(ex.header("Content-Type") == "application/octet-stream");
    CHECK_FALSE(ex.ended());
    // Production stops once the queue reaches the cap (4 chunks = exactly the cap), where the
    // connection's high watermark guarantees a drain.
    CHECK(ex.buffered_amount() >= HttpExchange::kProduceBelow);
    CHECK(ex.body().size() < HttpExchange::kProduceBelow + kChunkSize);
    CHECK(open_fd_count() == fds_before + 1);
    // A drain without room produces nothing.
    const std::size_t before = ex.body().size();
    r.handler->on_drain(ex);
    CHECK(ex.body().size() == before);
    int drains = 0;
    while (!ex.ended()) {
      REQUIRE(++drains < 1000);
      ex.drain();
      r.handler->on_drain(ex);
    }
    CHECK(drains >= 16);  // 5 MiB in <= 256 KiB steps
    CHECK(ex.max_buffered() <= HttpExchange::kProduceBelow + kChunkSize);
    CHECK(ex.max_chunk() == kChunkSize);
    CHECK(ex.body() == content);
    CHECK(open_fd_count() == fds_before);  // closed at the end, before the handler dies
    r.handler->on_drain(ex);               // a late drain after the end is harmless
  }
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("static: a large range streams the right slice", "[proxy][static]") {
  TempTree t;
  const std::string content = pattern(3 * 1024 * 1024);
  t.write("www/big.bin", content);
  const RouteConfig route = static_route(t.www());
  FakeExchange ex(route, "/big.bin");
  ex.req().headers.add("Range", "bytes=100000-2100000");
  Run r = run(route, ex);
  REQUIRE(ex.started());
  CHECK(ex.status() == 206);
  CHECK(ex.header("Content-Range") == "bytes 100000-2100000/" + std::to_string(content.size()));
  CHECK(ex.header("Content-Length") == "2000001");
  while (!ex.ended()) {
    ex.drain();
    r.handler->on_drain(ex);
  }
  CHECK(ex.body() == content.substr(100000, 2000001));
}

TEST_CASE("static: on_abort closes the file of a stream", "[proxy][static]") {
  TempTree t;
  t.write("www/big.bin", pattern(2 * 1024 * 1024));
  const RouteConfig route = static_route(t.www());
  const std::size_t fds_before = open_fd_count();
  FakeExchange ex(route, "/big.bin");
  Run r = run(route, ex);
  REQUIRE(ex.started());
  CHECK(open_fd_count() == fds_before + 1);
  r.handler->on_abort();
  CHECK(open_fd_count() == fds_before);
  r.handler.reset();
  CHECK(open_fd_count() == fds_before);
  CHECK_FALSE(ex.ended());
}

TEST_CASE("static: a file that shrinks while streaming ends the response short",
          "[proxy][static]") {
  TempTree t;
  t.write("www/big.bin", pattern(1024 * 1024));
  const RouteConfig route = static_route(t.www());
  const std::size_t fds_before = open_fd_count();
  FakeExchange ex(route, "/big.bin");
  Run r = run(route, ex);
  REQUIRE(ex.started());
  fs::resize_file(t.www() / "big.bin", 400'000);
  int drains = 0;
  while (!ex.ended()) {
    REQUIRE(++drains < 100);
    ex.drain();
    r.handler->on_drain(ex);
  }
  CHECK(ex.header("Content-Length") == "1048576");
  CHECK(ex.body().size() == 400'000);  // short: the server must close the connection
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("static: the largest one-shot file and the smallest streamed one", "[proxy][static]") {
  TempTree t;
  t.write("www/small.bin", pattern(kWholeFileMax));
  t.write("www/large.bin", pattern(kWholeFileMax + 1));
  const RouteConfig route = static_route(t.www());
  const FakeExchange s = get(route, "/small.bin");
  CHECK_FALSE(s.started());
  CHECK(s.body() == pattern(kWholeFileMax));
  FakeExchange l(route, "/large.bin");
  run(route, l);
  CHECK(l.started());  // below the cap: the whole body goes out at once
  CHECK(l.ended());
  CHECK(l.writes() == 2);
  CHECK(l.body() == pattern(kWholeFileMax + 1));
}
