// ws_codec_tool: a command-line front end to wsgate's WebSocket codecs, so that an independent
// implementation (the Python `websockets` library, tests/interop/test_websockets_interop.py) can
// exchange bytes with them. Test-only: not installed, no I/O beyond stdin/stdout.
//
//   decode --role server|client [--deflate PARAMS] [--max-message N] [--chunk N]
//       stdin: wire bytes from the peer, fed to MessageAssembler N bytes at a time (default: all
//       at once). stdout: one JSON object per line and event, in order:
//         {"type":"text"|"binary","data":HEX,"compressed":BOOL}   (inflated, UTF-8 checked)
//         {"type":"ping"|"pong","data":HEX}    {"type":"close","code":N,"reason":HEX}
//       and last, if the input was refused, {"type":"error","close_code":N,"error":TEXT}.
//   encode --role client|server [--deflate PARAMS] [--fragment N]
//       stdin: one message per line: "text|binary HEX [plain]", "ping|pong HEX" or
//       "close CODE HEX" ("-" is an empty HEX; "plain" sends a data message uncompressed).
//       stdout: the frames (masked in the client role, compressed when PARAMS are given, data split
//       into frames of at most N payload bytes).
//   server-handshake [DEFLATE] [--subprotocols a,b]
//       stdin: a client's upgrade request. stdout: one JSON object, {"response":HEX,
//       "extensions":TEXT|null,"params":AGREED|null,"subprotocol":TEXT|null} or
//       {"error":TEXT,"status":N}.
//   client-request [--key KEY] [--host H] [--target T] [DEFLATE] [--subprotocols a,b]
//       stdout: our upgrade request (raw bytes; the key is random unless given).
//   client-verify --key KEY [DEFLATE] [--subprotocols a,b]
//       stdin: the server's response. stdout: {"params":AGREED|null,"subprotocol":TEXT|null} or
//       {"error":TEXT}.
//
// PARAMS: agreed permessage-deflate parameters as S_NCT,C_NCT,S_BITS,C_BITS, e.g. "1,0,15,10"
// (server_no_context_takeover, the client compressing within 2^10 bytes). AGREED: the same as a
// JSON object with DeflateParams' field names. DEFLATE: our DeflateConfig, from --no-deflate,
// --server-no-context-takeover, --client-no-context-takeover, --server-max-window-bits N and
// --client-max-window-bits N. HEX: bytes in lowercase hex. Exit status: 0 (also when an "error"
// is printed), 2 on misuse.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "proto/http1_parser.hpp"
#include "proto/http1_writer.hpp"
#include "proto/http_error.hpp"
#include "proto/utf8.hpp"
#include "proto/ws_close.hpp"
#include "proto/ws_deflate.hpp"
#include "proto/ws_extensions.hpp"
#include "proto/ws_frame.hpp"
#include "proto/ws_handshake.hpp"
#include "proto/ws_message.hpp"

namespace {

using namespace wsgate;
using namespace wsgate::proto;

[[noreturn]] void usage(std::string_view why) {
  std::cerr << "ws_codec_tool: " << why << " (see the comment at the top of ws_codec_tool.cpp)\n";
  std::exit(2);
}

// ---- command line -----------------------------------------------------------------------------

struct Args {
  std::map<std::string, std::string, std::less<>> values;  ///< --name value
  std::vector<std::string> flags;                          ///< --name

  bool has(std::string_view f) const {
    return std::find(flags.begin(), flags.end(), f) != flags.end();
  }
  std::optional<std::string> get(std::string_view name) const {
    const auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
  std::uint64_t number(std::string_view name, std::uint64_t fallback) const {
    const std::optional<std::string> v = get(name);
    if (!v) return fallback;
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0') usage("not a number: " + *v);
    return n;
  }
};

Args parse_args(int argc, char** argv) {
  static const std::vector<std::string_view> kBoolFlags = {
      "--no-deflate", "--server-no-context-takeover", "--client-no-context-takeover"};
  Args a;
  for (int i = 2; i < argc; ++i) {
    const std::string name = argv[i];
    if (name.rfind("--", 0) != 0) usage("unexpected argument " + name);
    if (std::find(kBoolFlags.begin(), kBoolFlags.end(), name) != kBoolFlags.end()) {
      a.flags.push_back(name);
    } else if (i + 1 < argc) {
      a.values[name] = argv[++i];
    } else {
      usage("missing value for " + name);
    }
  }
  return a;
}

Role role_of(const Args& a) {
  const std::optional<std::string> r = a.get("--role");
  if (r == "server") return Role::server;
  if (r == "client") return Role::client;
  usage("--role must be server or client");
}

DeflateConfig deflate_config(const Args& a) {
  DeflateConfig c;
  c.enabled = !a.has("--no-deflate");
  c.server_no_context_takeover = a.has("--server-no-context-takeover");
  c.client_no_context_takeover = a.has("--client-no-context-takeover");
  c.server_max_window_bits = static_cast<int>(a.number("--server-max-window-bits", 15));
  c.client_max_window_bits = static_cast<int>(a.number("--client-max-window-bits", 15));
  return c;
}

std::vector<std::string> subprotocols(const Args& a) {
  std::vector<std::string> out;
  std::istringstream in(a.get("--subprotocols").value_or(""));
  for (std::string p; std::getline(in, p, ',');) out.push_back(p);
  return out;
}

// --deflate PARAMS (see the top of the file).
std::optional<DeflateParams> agreed_params(const Args& a) {
  const std::optional<std::string> text = a.get("--deflate");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  int v[4] = {};
  char comma[3] = {};
  in >> v[0] >> comma[0] >> v[1] >> comma[1] >> v[2] >> comma[2] >> v[3];
  if (!in || !in.eof() || std::string_view(comma, 3) != ",,,") usage("bad --deflate " + *text);
  DeflateParams p;
  p.server_no_context_takeover = v[0] != 0;
  p.client_no_context_takeover = v[1] != 0;
  p.server_max_window_bits = v[2];
  p.client_max_window_bits = v[3];
  return p;
}

// ---- bytes and JSON ---------------------------------------------------------------------------

Bytes read_stdin() {
  const std::string s{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  return to_bytes(s);
}

std::string hex(ByteView b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (const std::byte c : b) {
    s += kDigits[std::to_integer<unsigned>(c) >> 4];
    s += kDigits[std::to_integer<unsigned>(c) & 0xFu];
  }
  return s;
}

Bytes unhex(std::string_view s) {
  if (s == "-") return {};
  if (s.size() % 2 != 0) usage("odd-length hex");
  Bytes out;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    const std::string pair{s.substr(i, 2)};
    char* end = nullptr;
    const unsigned long v = std::strtoul(pair.c_str(), &end, 16);
    if (*end != '\0') usage("bad hex: " + pair);
    out.push_back(static_cast<std::byte>(v));
  }
  return out;
}

std::string quote(std::string_view s) {
  std::string q = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      q += '\\';
      q += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
      q += buf;
    } else {
      q += c;
    }
  }
  return q + '"';
}

std::string quote_or_null(const std::optional<std::string>& s) {
  return s ? quote(*s) : "null";
}

/// Builds one JSON object from already-encoded values, printed as one line.
class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::string_view json_value) {
    text_ += text_.size() > 1 ? "," : "";
    text_ += quote(key) + ':';
    text_ += json_value;
    return *this;
  }
  JsonObject& add_bool(std::string_view key, bool v) { return add(key, v ? "true" : "false"); }
  JsonObject& add_str(std::string_view key, std::string_view v) { return add(key, quote(v)); }
  JsonObject& add_num(std::string_view key, std::uint64_t v) { return add(key, std::to_string(v)); }
  std::string str() const { return text_ + '}'; }
  void print() const { std::cout << str() << '\n'; }

 private:
  std::string text_ = "{";
};

std::string params_json(const std::optional<DeflateParams>& p) {
  if (!p) return "null";
  return JsonObject{}
      .add_bool("server_no_context_takeover", p->server_no_context_takeover)
      .add_bool("client_no_context_takeover", p->client_no_context_takeover)
      .add_num("server_max_window_bits", static_cast<std::uint64_t>(p->server_max_window_bits))
      .add_num("client_max_window_bits", static_cast<std::uint64_t>(p->client_max_window_bits))
      .str();
}

// ---- decode -----------------------------------------------------------------------------------

/// Prints the assembler's events; inflates compressed messages and checks their UTF-8 as a
/// connection would. After the first error it prints nothing more.
class DecodePrinter final : public MessageEvents {
 public:
  DecodePrinter(std::optional<WsInflater> inflater, std::size_t max_message)
      : inflater_(std::move(inflater)), max_message_(max_message) {}

  void on_message(Opcode op, ByteView payload, bool compressed) override {
    if (error_) return;
    Bytes inflated;
    if (compressed) {
      // RSV1 is allowed only when --deflate gave us an inflater.
      if (const std::error_code ec = inflater_->inflate(payload, inflated, max_message_)) {
        error_ = ec;
        return;
      }
      if (op == Opcode::text && !is_valid_utf8(inflated)) {
        error_ = WsErrc::invalid_utf8;
        return;
      }
      payload = inflated;
    }
    JsonObject{}
        .add_str("type", op == Opcode::text ? "text" : "binary")
        .add_str("data", hex(payload))
        .add_bool("compressed", compressed)
        .print();
  }
  void on_ping(ByteView payload) override { control("ping", payload); }
  void on_pong(ByteView payload) override { control("pong", payload); }
  void on_close(CloseCode code, std::string_view reason) override {
    if (error_) return;
    JsonObject{}
        .add_str("type", "close")
        .add_num("code", static_cast<std::uint64_t>(code))
        .add_str("reason", hex(as_bytes(reason)))
        .print();
  }

  std::error_code error() const noexcept { return error_; }

 private:
  void control(std::string_view type, ByteView payload) {
    if (!error_) JsonObject{}.add_str("type", type).add_str("data", hex(payload)).print();
  }

  std::optional<WsInflater> inflater_;
  std::size_t max_message_;
  std::error_code error_;  ///< first error found while inflating or validating
};

int cmd_decode(const Args& a) {
  const Role role = role_of(a);
  const std::optional<DeflateParams> deflate = agreed_params(a);
  const std::uint64_t max_message = a.number("--max-message", std::uint64_t{16} << 20);
  const std::size_t chunk = static_cast<std::size_t>(a.number("--chunk", 0));

  MessageConfig cfg;
  cfg.role = role;
  cfg.max_frame_size = max_message;
  cfg.max_message_size = max_message;
  cfg.rsv1_allowed = deflate.has_value();
  MessageAssembler assembler(cfg);

  std::optional<WsInflater> inflater;
  if (deflate) {
    const DeflateRole self = role == Role::server ? DeflateRole::server : DeflateRole::client;
    inflater.emplace(inflater_options(*deflate, self));
  }
  DecodePrinter printer(std::move(inflater), static_cast<std::size_t>(max_message));

  Bytes wire = read_stdin();
  std::error_code ec;
  for (std::size_t pos = 0; pos < wire.size() && !ec && !printer.error();) {
    const std::size_t n = chunk == 0 ? wire.size() - pos : std::min(chunk, wire.size() - pos);
    const Result<std::size_t> r = assembler.feed(MutableByteView(wire).subspan(pos, n), printer);
    ec = r.error();
    pos += n;
  }
  if (!ec) ec = printer.error();
  if (ec) {
    JsonObject{}
        .add_str("type", "error")
        .add_num("close_code", static_cast<std::uint64_t>(close_code_for(ec)))
        .add_str("error", ec.message())
        .print();
  }
  return 0;
}

// ---- encode -----------------------------------------------------------------------------------

struct Encoder {
  Role role;
  std::size_t fragment;  ///< 0: never fragment
  std::optional<WsDeflater> deflater;
  Bytes out;

  std::optional<MaskKey> mask() const {
    return role == Role::client ? std::optional<MaskKey>(random_mask_key()) : std::nullopt;
  }

  void data(Opcode op, ByteView payload, bool plain) {
    Bytes compressed;
    const bool rsv1 = deflater && !plain;
    if (rsv1) {
      deflater->compress(payload, compressed);
      payload = compressed;
    }
    const std::size_t step = fragment == 0 ? payload.size() : fragment;
    std::size_t pos = 0;
    do {
      const std::size_t n = std::min(step, payload.size() - pos);
      const bool first = pos == 0;
      const bool fin = pos + n == payload.size();
      append_frame(out, first ? op : Opcode::continuation, payload.subspan(pos, n), fin, mask(),
                   first && rsv1);
      pos += n;
    } while (pos < payload.size());
  }

  void control(Opcode op, ByteView payload) { append_frame(out, op, payload, true, mask()); }
};

int cmd_encode(const Args& a) {
  const Role role = role_of(a);
  Encoder enc{role, static_cast<std::size_t>(a.number("--fragment", 0)), std::nullopt, {}};
  if (const std::optional<DeflateParams> deflate = agreed_params(a)) {
    const DeflateRole self = role == Role::server ? DeflateRole::server : DeflateRole::client;
    enc.deflater.emplace(deflater_options(*deflate, self));
  }
  for (std::string line; std::getline(std::cin, line);) {
    std::istringstream words(line);
    std::string type;
    std::string payload_hex = "-";
    std::string extra;
    words >> type;
    if (type.empty()) continue;
    if (type == "close") {
      std::uint64_t code = 0;
      words >> code >> payload_hex;
      const Bytes reason = unhex(payload_hex);
      enc.control(Opcode::close,
                  make_close_payload(static_cast<CloseCode>(code), as_chars(reason)));
      continue;
    }
    words >> payload_hex >> extra;
    const Bytes payload = unhex(payload_hex);
    if (type == "text") {
      enc.data(Opcode::text, payload, extra == "plain");
    } else if (type == "binary") {
      enc.data(Opcode::binary, payload, extra == "plain");
    } else if (type == "ping") {
      enc.control(Opcode::ping, payload);
    } else if (type == "pong") {
      enc.control(Opcode::pong, payload);
    } else {
      usage("unknown message type " + type);
    }
  }
  std::cout.write(reinterpret_cast<const char*>(enc.out.data()),
                  static_cast<std::streamsize>(enc.out.size()));
  return 0;
}

// ---- handshakes -------------------------------------------------------------------------------

/// Keep the first head a parser delivers and stop there.
struct RequestCatcher final : HttpRequestEvents {
  std::optional<HttpRequestHead> head;
  Http1Action on_request_head(HttpRequestHead& h) override {
    head = std::move(h);
    return Http1Action::pause;
  }
  void on_body(ByteView) override {}
  Http1Action on_message_complete() override { return Http1Action::pause; }
};

struct ResponseCatcher final : HttpResponseEvents {
  std::optional<HttpResponseHead> head;
  Http1Action on_response_head(HttpResponseHead& h) override {
    head = std::move(h);
    return Http1Action::pause;
  }
  void on_body(ByteView) override {}
  Http1Action on_message_complete() override { return Http1Action::pause; }
};

void print_error(std::error_code ec, std::optional<int> status = std::nullopt) {
  JsonObject o;
  o.add_str("error", ec.message());
  if (status) o.add_num("status", static_cast<std::uint64_t>(*status));
  o.print();
}

int cmd_server_handshake(const Args& a) {
  const Bytes in = read_stdin();
  HttpRequestParser parser;
  RequestCatcher catcher;
  if (const Result<std::size_t> r = parser.feed(in, catcher); !r || !catcher.head) {
    print_error(r ? make_error_code(HttpErrc::unexpected_eof) : r.error(), 400);
    return 0;
  }
  const Result<UpgradeRequest> req = validate_upgrade(*catcher.head);
  if (!req) {
    print_error(req.error(), http_status_for(req.error()));
    return 0;
  }
  std::optional<DeflateAgreement> agreement;
  if (const DeflateConfig cfg = deflate_config(a); cfg.enabled) {
    Result<std::optional<DeflateAgreement>> n = negotiate_deflate(req->extensions, cfg);
    if (!n) {
      print_error(n.error(), 400);
      return 0;
    }
    agreement = std::move(*n);
  }
  const std::vector<std::string> supported = subprotocols(a);
  const std::optional<std::string> sub = select_subprotocol(req->subprotocols, supported);
  const std::optional<std::string> ext =
      agreement ? std::optional<std::string>(agreement->response) : std::nullopt;
  Bytes out;
  if (const std::error_code ec = write_response_head(out, make_upgrade_response(*req, sub, ext))) {
    print_error(ec);
    return 0;
  }
  JsonObject{}
      .add_str("response", hex(out))
      .add("extensions", quote_or_null(ext))
      .add("params", params_json(agreement ? std::optional(agreement->params) : std::nullopt))
      .add("subprotocol", quote_or_null(sub))
      .print();
  return 0;
}

int cmd_client_request(const Args& a) {
  const DeflateConfig cfg = deflate_config(a);
  const std::string offer = deflate_offer(cfg);
  const HttpRequestHead head = make_client_request(
      a.get("--host").value_or("example.com"), a.get("--target").value_or("/chat"),
      a.get("--key").value_or(generate_key()), subprotocols(a),
      cfg.enabled ? std::optional<std::string_view>(offer) : std::nullopt, HttpHeaders{});
  Bytes out;
  if (const std::error_code ec = write_request_head(out, head)) usage(ec.message());
  std::cout.write(reinterpret_cast<const char*>(out.data()),
                  static_cast<std::streamsize>(out.size()));
  return 0;
}

int cmd_client_verify(const Args& a) {
  const std::optional<std::string> key = a.get("--key");
  if (!key) usage("client-verify needs --key");
  const DeflateConfig cfg = deflate_config(a);
  const Bytes in = read_stdin();
  HttpResponseParser parser;
  ResponseCatcher catcher;
  if (const Result<std::size_t> r = parser.feed(in, catcher); !r || !catcher.head) {
    print_error(r ? make_error_code(HttpErrc::unexpected_eof) : r.error());
    return 0;
  }
  const std::vector<std::string> offered = subprotocols(a);
  const Result<ClientHandshakeResult> res =
      verify_response(*catcher.head, *key, offered, cfg.enabled);
  if (!res) {
    print_error(res.error());
    return 0;
  }
  std::optional<DeflateParams> params;
  if (cfg.enabled) {
    const Result<std::optional<DeflateParams>> p =
        accept_deflate_response(res->extensions, deflate_offer(cfg));
    if (!p) {
      print_error(p.error());
      return 0;
    }
    params = *p;
  }
  JsonObject{}
      .add("params", params_json(params))
      .add("subprotocol", quote_or_null(res->subprotocol))
      .print();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  if (argc < 2) usage("missing command");
  const std::string_view cmd = argv[1];
  const Args args = parse_args(argc, argv);
  if (cmd == "decode") return cmd_decode(args);
  if (cmd == "encode") return cmd_encode(args);
  if (cmd == "server-handshake") return cmd_server_handshake(args);
  if (cmd == "client-request") return cmd_client_request(args);
  if (cmd == "client-verify") return cmd_client_verify(args);
  usage("unknown command " + std::string(cmd));
}
