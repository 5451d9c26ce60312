#include <catch2/catch.hpp>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "base/bytes.hpp"
#include "net/address.hpp"
#include "net/loop.hpp"
#include "net/net_harness.hpp"
#include "net/tcp.hpp"
#include "net/timer_wheel.hpp"
#include "net/tls.hpp"

using namespace wsgate;
using namespace wsgate::net;
using namespace wsgate::net::test;

namespace {

// --- Certificates, made at run time with libcrypto ----------------------------------------------

struct KeyPair {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
};

EVP_PKEY* new_key() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  REQUIRE(k != nullptr);
  return k;
}

void add_ext(X509* issuer, X509* x, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  REQUIRE(ext != nullptr);
  REQUIRE(X509_add_ext(x, ext, -1) == 1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn` with `san` ("DNS:a.test,IP:127.0.0.1", "" = none), valid from
// `from_days` to `to_days` (relative to now), signed by `ca` (null: self-signed CA).
KeyPair make_cert(const std::string& cn, const std::string& san, const KeyPair* ca,
                  long from_days = -1, long to_days = 30) {
  static long serial = 1;
  KeyPair kp;
  kp.key = new_key();
  kp.cert = X509_new();
  X509* x = kp.cert;
  REQUIRE(X509_set_version(x, 2) == 1);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
  REQUIRE(X509_set_pubkey(x, kp.key) == 1);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer = ca != nullptr ? ca->cert : x;
  REQUIRE(X509_set_issuer_name(x, X509_get_subject_name(issuer)) == 1);
  if (ca == nullptr) {
    add_ext(issuer, x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(issuer, x, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(issuer, x, NID_basic_constraints, "CA:FALSE");
  }
  if (!san.empty()) add_ext(issuer, x, NID_subject_alt_name, san.c_str());
  REQUIRE(X509_sign(x, ca != nullptr ? ca->key : kp.key, EVP_sha256()) > 0);
  return kp;
}

void write_pem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f != nullptr);
  if (cert != nullptr) REQUIRE(PEM_write_X509(f, cert) == 1);
  if (key != nullptr) {
    REQUIRE(PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  }
  std::fclose(f);
}

// Every file the tests need, made once per process in a temporary directory.
struct Pki {
  std::string dir;
  std::string ca, other_ca;  // CA certificates (PEM)
  TlsCertificate localhost, a, wild_b, expired, mismatched;

  Pki() {
    char tmpl[] = "/tmp/wsgate-tls-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    KeyPair root = make_cert("wsgate test CA", "", nullptr);
    KeyPair other = make_cert("some other CA", "", nullptr);
    ca = dir + "/ca.pem";
    other_ca = dir + "/other-ca.pem";
    write_pem(ca, root.cert, nullptr);
    write_pem(other_ca, other.cert, nullptr);
    localhost = leaf("localhost", "DNS:localhost,IP:127.0.0.1", root, -1, 30);
    a = leaf("a.test", "DNS:a.test", root, -1, 30);
    wild_b = leaf("*.b.test", "DNS:*.b.test", root, -1, 30);
    expired = leaf("expired", "DNS:localhost", root, -30, -1);
    // A certificate whose key file holds another key.
    KeyPair stray = make_cert("stray", "DNS:stray.test", &root);
    mismatched = {localhost.cert_file, dir + "/stray-key.pem"};
    write_pem(mismatched.key_file, nullptr, stray.key);
    free(stray);
    free(root);
    free(other);
  }
  ~Pki() { std::filesystem::remove_all(dir); }

  TlsCertificate leaf(const std::string& cn, const std::string& san, const KeyPair& root, long from,
                      long to) {
    KeyPair kp = make_cert(cn, san, &root, from, to);
    std::string base = cn == "*.b.test" ? "wild-b" : cn;
    TlsCertificate c{dir + "/" + base + ".crt", dir + "/" + base + ".key"};
    write_pem(c.cert_file, kp.cert, nullptr);
    write_pem(c.key_file, nullptr, kp.key);
    free(kp);
    return c;
  }
  static void free(KeyPair& kp) {
    X509_free(kp.cert);
    EVP_PKEY_free(kp.key);
  }
};

const Pki& pki() {
  static const Pki p;
  return p;
}

std::shared_ptr<const TlsServerContext> server_ctx(std::vector<TlsCertificate> certs) {
  TlsServerOptions o;
  o.certificates = std::move(certs);
  std::string error;
  auto r = TlsServerContext::create(o, error);
  INFO(error);
  REQUIRE(r.ok());
  return *r;
}

std::shared_ptr<const TlsClientContext> client_ctx(const std::string& ca_file, bool verify = true,
                                                   std::vector<std::string> alpn = {}) {
  TlsClientOptions o;
  o.ca_file = ca_file;
  o.verify = verify;
  o.alpn = std::move(alpn);
  std::string error;
  auto r = TlsClientContext::create(o, error);
  INFO(error);
  REQUIRE(r.ok());
  return *r;
}

Listener* tls_listener(Loop& loop, AcceptHandler& h, std::shared_ptr<const TlsServerContext> ctx) {
  ListenOptions opts;
  opts.tls = std::move(ctx);
  Result<Listener*> l = Listener::open(loop, loopback(), opts, h);
  REQUIRE(l.ok());
  return *l;
}

// What one connect_tls() reported.
struct ClientResult {
  int calls = 0;
  std::error_code error;
  TlsInfo info;
};

// Connects with TLS, records the outcome and closes (the handshake is what is tested).
void probe(Loop& loop, const SocketAddress& to, std::shared_ptr<const TlsClientContext> ctx,
           const std::string& name, ClientResult& out, std::function<void()> then) {
  TcpConnection::connect_tls(loop, to, 3000, std::move(ctx), name,
                             [&out, then](Result<TcpConnection*> r) {
                               ++out.calls;
                               if (r) {
                                 CHECK((*r)->is_tls());
                                 out.info = *(*r)->tls_info();
                                 (*r)->close();
                               } else {
                                 out.error = r.error();
                               }
                               then();
                             });
}

// Runs one probe per (name, context) against a listener with `certs`, then stops.
std::vector<ClientResult> probe_all(
    std::vector<TlsCertificate> certs,
    std::vector<std::pair<std::string, std::shared_ptr<const TlsClientContext>>> probes) {
  auto loop = Loop::create();
  Watchdog dog(*loop, 5000);
  OnAccept acc;
  std::vector<Stats> servers(probes.size() * 2);
  std::size_t accepted = 0;
  for (Stats& s : servers) s.on_eof = [](TcpConnection& c) { c.close(); };
  acc.fn = [&](TcpConnection& c) {
    if (accepted < servers.size()) attach(c, servers[accepted++]);
  };
  Listener* l = tls_listener(*loop, acc, server_ctx(std::move(certs)));
  std::vector<ClientResult> results(probes.size());
  std::size_t next = 0;
  std::function<void()> step = [&] {
    if (next == probes.size()) {
      l->close();
      loop->request_stop();
      return;
    }
    const std::size_t i = next++;
    probe(*loop, l->address(), probes[i].second, probes[i].first, results[i], step);
  };
  step();
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(TcpConnection::live_count() == 0);
  return results;
}

}  // namespace

TEST_CASE("tls echo both ways, writes before the handshake, shutdown is on_eof", "[tls][net]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 5000);
  Stats server, client;
  TlsInfo server_info;
  bool tls_at_accept = false, info_empty_at_accept = false;
  std::size_t buffered_at_accept = 0;
  server.on_read = [&](TcpConnection& c, MutableByteView d) {
    if (server_info.version.empty()) server_info = *c.tls_info();
    c.write_copy(d);
  };
  server.on_eof = [](TcpConnection& c) { c.close_gracefully(); };
  OnAccept acc;
  acc.fn = [&](TcpConnection& c) {
    tls_at_accept = c.is_tls();
    info_empty_at_accept = c.tls_info() != nullptr && c.tls_info()->version.empty();
    attach(c, server);
    c.write(to_bytes("hello "));  // before the handshake: kept, encrypted when it completes
    buffered_at_accept = c.buffered_bytes();
  };
  Listener* l = tls_listener(*loop, acc, server_ctx({pki().localhost}));
  const Bytes msg = pattern(300'000);
  TlsInfo client_info;
  client.on_eof = [&](TcpConnection& c) {
    c.close();
    l->close();
    loop->request_stop();
  };
  TcpConnection::connect_tls(*loop, l->address(), 3000, client_ctx(pki().ca, true, {"http/1.1"}),
                             "localhost", [&](Result<TcpConnection*> r) {
                               REQUIRE(r.ok());
                               client_info = *(*r)->tls_info();
                               attach(**r, client);
                               (*r)->write(msg);
                               (*r)->shutdown();
                               (*r)->write(to_bytes("dropped"));
                             });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(tls_at_accept);
  CHECK(info_empty_at_accept);
  CHECK(buffered_at_accept == 6);
  Bytes expected = to_bytes("hello ");
  append(expected, msg);
  CHECK(client.received.size() == expected.size());
  CHECK(client.received == expected);
  CHECK(server.received == msg);
  CHECK(server.eofs == 1);
  CHECK(client.eofs == 1);
  CHECK(server.errors + client.errors == 0);
  CHECK(client_info.version == "TLSv1.3");
  CHECK(client_info.alpn == "http/1.1");
  CHECK(client_info.server_name == "localhost");
  CHECK(client_info.peer_subject == "CN=localhost");
  CHECK_FALSE(client_info.cipher.empty());
  CHECK(server_info.alpn == "http/1.1");
  CHECK(server_info.server_name == "localhost");
  CHECK(server_info.version == "TLSv1.3");
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tls SNI selects the certificate by exact name, then wildcard, else the default",
          "[tls][net]") {
  auto insecure = client_ctx("", false);
  const auto r = probe_all({pki().localhost, pki().a, pki().wild_b}, {{"a.test", insecure},
                                                                      {"x.b.test", insecure},
                                                                      {"y.x.b.test", insecure},
                                                                      {"b.test", insecure},
                                                                      {"A.TEST", insecure},
                                                                      {"127.0.0.1", insecure}});
  REQUIRE(r.size() == 6);
  for (const ClientResult& c : r) {
    CHECK(c.calls == 1);
    CHECK_FALSE(c.error);
  }
  CHECK(r[0].info.peer_subject == "CN=a.test");
  CHECK(r[1].info.peer_subject == "CN=*.b.test");
  CHECK(r[2].info.peer_subject == "CN=localhost");  // a wildcard covers one label only
  CHECK(r[3].info.peer_subject == "CN=localhost");
  CHECK(r[4].info.peer_subject == "CN=a.test");     // names compare case-insensitively
  CHECK(r[5].info.peer_subject == "CN=localhost");  // no SNI for an IP literal
  CHECK(r[5].info.server_name.empty());
}

TEST_CASE("tls ALPN agrees http/1.1, and a client offering only others still connects",
          "[tls][net]") {
  const auto r =
      probe_all({pki().localhost}, {{"localhost", client_ctx(pki().ca, true, {"h2", "http/1.1"})},
                                    {"localhost", client_ctx(pki().ca, true, {"h2"})},
                                    {"localhost", client_ctx(pki().ca, true)}});
  REQUIRE(r.size() == 3);
  for (const ClientResult& c : r) CHECK_FALSE(c.error);
  CHECK(r[0].info.alpn == "http/1.1");
  CHECK(r[1].info.alpn.empty());
  CHECK(r[2].info.alpn.empty());
}

TEST_CASE("tls verification: untrusted CA, expired, wrong name fail; trusted and skip succeed",
          "[tls][net]") {
  auto trusted = client_ctx(pki().ca);
  auto other = client_ctx(pki().other_ca);
  auto insecure = client_ctx("", false);
  SECTION("localhost certificate") {
    const auto r = probe_all({pki().localhost}, {{"localhost", other},
                                                 {"wrong.test", trusted},
                                                 {"localhost", trusted},
                                                 {"127.0.0.1", trusted},
                                                 {"wrong.test", insecure}});
    REQUIRE(r.size() == 5);
    CHECK(r[0].error == TlsErrc::certificate_verify_failed);
    CHECK(r[0].error.category() == tls_category());
    CHECK_THAT(r[0].error.message(), Catch::Contains("unable to get local issuer certificate"));
    CHECK(r[1].error == TlsErrc::certificate_verify_failed);
    CHECK_THAT(r[1].error.message(), Catch::Contains("hostname mismatch"));
    CHECK_FALSE(r[2].error);
    CHECK_FALSE(r[3].error);  // checked against the IP SAN
    CHECK_FALSE(r[4].error);
  }
  SECTION("expired certificate") {
    const auto r = probe_all({pki().expired}, {{"localhost", trusted}, {"localhost", insecure}});
    REQUIRE(r.size() == 2);
    CHECK(r[0].error == TlsErrc::certificate_verify_failed);
    CHECK_THAT(r[0].error.message(), Catch::Contains("certificate has expired"));
    CHECK_FALSE(r[1].error);
  }
}

TEST_CASE("tls a second connection resumes the session", "[tls][net]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 5000);
  OnAccept acc;
  std::vector<Stats> servers(2);
  std::vector<bool> server_resumed;
  int accepted = 0;
  for (Stats& s : servers) {
    s.on_read = [&](TcpConnection& c, MutableByteView d) {
      server_resumed.push_back(c.tls_info()->resumed);
      c.write_copy(d);
    };
    s.on_eof = [](TcpConnection& c) { c.close(); };
  }
  acc.fn = [&](TcpConnection& c) { attach(c, servers[static_cast<std::size_t>(accepted++ % 2)]); };
  Listener* l = tls_listener(*loop, acc, server_ctx({pki().localhost}));
  auto ctx = client_ctx(pki().ca);
  std::vector<Stats> clients(2);
  std::vector<bool> resumed;
  std::function<void(std::size_t)> run = [&](std::size_t i) {
    if (i == clients.size()) {
      l->close();
      loop->request_stop();
      return;
    }
    clients[i].on_read = [&, i](TcpConnection& c, MutableByteView) {
      c.close();  // the echo came back after the server's session tickets
      run(i + 1);
    };
    TcpConnection::connect_tls(*loop, l->address(), 3000, ctx, "localhost",
                               [&, i](Result<TcpConnection*> r) {
                                 REQUIRE(r.ok());
                                 resumed.push_back((*r)->tls_info()->resumed);
                                 attach(**r, clients[i]);
                                 (*r)->write(to_bytes("ping"));
                               });
  };
  run(0);
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  REQUIRE(resumed.size() == 2);
  CHECK_FALSE(resumed[0]);
  CHECK(resumed[1]);
  REQUIRE(server_resumed.size() == 2);
  CHECK(server_resumed[1]);
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tls 8 MiB to a reader that pauses: backpressure, one drain, bytes in order",
          "[tls][net]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 8000);
  constexpr std::size_t kSize = 8u << 20;
  const Bytes data = pattern(kSize);
  Stats server, client;
  TcpConnection* server_conn = nullptr;
  TcpConnection* client_conn = nullptr;
  Listener* l = nullptr;
  std::size_t buffered_at_accept = 0, buffered_at_end = 1;
  bool above_at_accept = false, finished = false;
  int pauses = 0;
  auto finish_if_done = [&] {
    if (finished || client.received.size() < kSize || server.drains == 0) return;
    finished = true;
    buffered_at_end = server_conn->buffered_bytes();
    server_conn->close();
    client_conn->close();
    l->close();
    loop->request_stop();
  };
  server.on_drain = [&](TcpConnection&) { finish_if_done(); };
  After resume([&] { client_conn->resume_reading(); });
  client.on_read = [&](TcpConnection& c, MutableByteView) {
    if (client.reads % 16 == 15 && pauses < 4) {  // pause in mid-buffer: input is held
      ++pauses;
      c.pause_reading();
      resume.arm(*loop, 50);
      return;
    }
    finish_if_done();
  };
  OnAccept acc;
  acc.fn = [&](TcpConnection& c) {
    server_conn = &c;
    attach(c, server);
    c.write(Bytes(data.begin(), data.begin() + kSize / 2));
    c.write(std::make_shared<const Bytes>(data), kSize / 2);
    buffered_at_accept = c.buffered_bytes();
    above_at_accept = c.above_high_watermark();
  };
  l = tls_listener(*loop, acc, server_ctx({pki().localhost}));
  TcpConnection::connect_tls(*loop, l->address(), 3000, client_ctx(pki().ca), "localhost",
                             [&](Result<TcpConnection*> r) {
                               REQUIRE(r.ok());
                               client_conn = *r;
                               attach(**r, client);
                             });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(buffered_at_accept == kSize);  // all plaintext, kept for the handshake
  CHECK(above_at_accept);
  CHECK(pauses == 4);
  CHECK(server.drains == 1);
  CHECK(buffered_at_end == 0);
  REQUIRE(client.received.size() == kSize);
  CHECK(client.received == data);
  CHECK(TcpConnection::live_count() == 0);
}

namespace {

// A TLS client on raw OpenSSL over a plain connection, for what connect_tls cannot be made to do
// (offer only TLS 1.1).
struct RawTlsClient {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  BIO* rbio = nullptr;
  BIO* wbio = nullptr;
  int handshake_rc = 0;
  bool sent_hello = false;

  explicit RawTlsClient(int version) {
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL_CTX_set_security_level(ctx, 0);  // TLS 1.1 needs SECLEVEL 0 in OpenSSL 3
    SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
    ssl = SSL_new(ctx);
    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_connect_state(ssl);
  }
  ~RawTlsClient() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  // Runs the handshake on `in`; returns what to send.
  Bytes step(ByteView in) {
    if (!in.empty()) BIO_write(rbio, in.data(), static_cast<int>(in.size()));
    handshake_rc = SSL_do_handshake(ssl);
    Bytes out(static_cast<std::size_t>(BIO_ctrl_pending(wbio)));
    if (!out.empty()) BIO_read(wbio, out.data(), static_cast<int>(out.size()));
    return out;
  }
};

}  // namespace

TEST_CASE("tls a TLS 1.1 client and plain HTTP are handshake errors, not crashes", "[tls][net]") {
  const bool plain_http = GENERATE(false, true);
  auto loop = Loop::create();
  Watchdog dog(*loop, 5000);
  Stats server, client;
  OnAccept acc;
  acc.fn = [&](TcpConnection& c) { attach(c, server); };
  Listener* l = tls_listener(*loop, acc, server_ctx({pki().localhost}));
  int ended = 0;
  auto end = [&] {
    if (++ended < 2) return;
    l->close();
    loop->request_stop();
  };
  server.on_error = [&](TcpConnection&, std::error_code) { end(); };
  RawTlsClient raw(TLS1_1_VERSION);
  client.on_read = [&](TcpConnection& c, MutableByteView d) {
    if (!plain_http) c.write(raw.step(d));
  };
  client.on_eof = [&](TcpConnection& c) {
    c.close();
    end();
  };
  client.on_error = [&](TcpConnection& c, std::error_code) {
    c.close();
    end();
  };
  TcpConnection::connect(*loop, l->address(), 3000, [&](Result<TcpConnection*> r) {
    REQUIRE(r.ok());
    attach(**r, client);
    if (plain_http) {
      (*r)->write(to_bytes("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    } else {
      Bytes hello = raw.step({});
      raw.sent_hello = !hello.empty();
      (*r)->write(std::move(hello));
    }
  });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  if (!plain_http) CHECK(raw.sent_hello);
  CHECK(server.errors == 1);
  CHECK(server.reads == 0);
  CHECK(server.error.category() == tls_category());
  CHECK(server.error == TlsErrc::handshake_failed);
  INFO(server.error.message());
  CHECK_THAT(server.error.message(),
             Catch::Contains(plain_http ? "http request" : "unsupported protocol"));
  if (!plain_http) CHECK(raw.handshake_rc <= 0);
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tls connect_tls times out when the server never answers the handshake", "[tls][net]") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // accepts, never reads
  REQUIRE(fd >= 0);
  const SocketAddress any = loopback();
  REQUIRE(::bind(fd, any.sockaddr_ptr(), any.length()) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0);
  const SocketAddress silent = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
  auto loop = Loop::create();
  Watchdog dog(*loop, 4000);
  int calls = 0;
  std::error_code ec;
  const std::uint64_t start = loop->now_ms();
  std::uint64_t done_at = 0;
  TcpConnection::connect_tls(*loop, silent, 300, client_ctx(pki().ca), "localhost",
                             [&](Result<TcpConnection*> r) {
                               ++calls;
                               ec = r.error();
                               done_at = loop->now_ms();
                               loop->request_stop();
                             });
  REQUIRE(loop->run() == 0);
  ::close(fd);
  CHECK_FALSE(dog.fired);
  CHECK(calls == 1);
  CHECK(ec == std::errc::timed_out);
  CHECK(done_at - start >= 300);
  CHECK(TcpConnection::live_count() == 0);
}

TEST_CASE("tls Listener::set_tls applies to connections accepted afterwards", "[tls][net]") {
  auto loop = Loop::create();
  Watchdog dog(*loop, 5000);
  OnAccept acc;
  Stats server;
  server.on_eof = [](TcpConnection& c) { c.close(); };
  acc.fn = [&](TcpConnection& c) { attach(c, server); };
  Result<Listener*> opened = Listener::open(*loop, loopback(), ListenOptions{}, acc);
  REQUIRE(opened.ok());
  Listener* l = *opened;
  l->set_tls(server_ctx({pki().a}));
  ClientResult r;
  probe(*loop, l->address(), client_ctx(pki().ca), "a.test", r, [&] {
    l->close();
    loop->request_stop();
  });
  REQUIRE(loop->run() == 0);
  CHECK_FALSE(dog.fired);
  CHECK(r.calls == 1);
  CHECK_FALSE(r.error);
  CHECK(r.info.peer_subject == "CN=a.test");
}

TEST_CASE("tls contexts report the file and OpenSSL's reason", "[tls][net]") {
  std::string error;
  TlsServerOptions o;
  auto none = TlsServerContext::create(o, error);
  CHECK_FALSE(none.ok());
  o.certificates = {{pki().dir + "/missing.crt", pki().localhost.key_file}};
  auto missing = TlsServerContext::create(o, error);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error() == TlsErrc::bad_config);
  CHECK_THAT(error, Catch::Contains("missing.crt"));
  o.certificates = {pki().mismatched};
  auto mismatch = TlsServerContext::create(o, error);
  REQUIRE_FALSE(mismatch.ok());
  CHECK_THAT(error, Catch::Contains("stray-key.pem"));
  CHECK_THAT(error, Catch::Contains("mismatch"));
  o.certificates = {pki().localhost};
  o.ciphers = "NO-SUCH-CIPHER";
  auto ciphers = TlsServerContext::create(o, error);
  REQUIRE_FALSE(ciphers.ok());
  CHECK_THAT(error, Catch::Contains("NO-SUCH-CIPHER"));
  TlsClientOptions co;
  co.ca_file = pki().dir + "/missing-ca.pem";
  auto ca = TlsClientContext::create(co, error);
  REQUIRE_FALSE(ca.ok());
  CHECK_THAT(error, Catch::Contains("missing-ca.pem"));
}
