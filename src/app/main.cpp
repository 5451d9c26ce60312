// wsgate entry point: the command line, then the server (src/proxy/server.hpp) until a signal
// stops it.
#include <cstdio>
#include <cstring>
#include <string>

#include "app/token_cli.hpp"
#include "proxy/config.hpp"
#include "proxy/server.hpp"
#include "proxy/tls_setup.hpp"

namespace {

constexpr const char* kDefaultConfig = "configs/wsgate.toml";

constexpr const char* kUsage =
    "usage: wsgate [-c FILE] [--check]\n"
    "       wsgate --check FILE\n"
    "       wsgate --version | --help\n"
    "       wsgate token (--secret S | --secret-env NAME) --sub ID [OPTIONS]\n"
    "\n"
    "  -c, --config FILE   configuration file (TOML; see docs/CONFIG.md);\n"
    "                      default configs/wsgate.toml\n"
    "  --check             check the configuration and exit: 0 if valid, 1 otherwise\n"
    "  --version           print the version and exit\n"
    "  --help              print this help and exit\n"
    "  token               print a demo HS256 JWT for the chat and broker routes\n"
    "                      (wsgate token --help lists its options)\n"
    "\n"
    "signals: SIGINT/SIGTERM stop gracefully (WebSockets get close 1001),\n"
    "         SIGHUP reloads the configuration file\n";

struct Args {
  std::string config;
  bool check = false;
  bool version = false;
  bool help = false;
};

// Returns false (after printing why) when the command line is malformed.
bool parse_args(int argc, char** argv, Args& args) {
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const bool has_next = i + 1 < argc;
    if (std::strcmp(a, "-c") == 0 || std::strcmp(a, "--config") == 0) {
      if (!has_next) {
        std::fprintf(stderr, "wsgate: %s needs a file name\n", a);
        return false;
      }
      args.config = argv[++i];
    } else if (std::strcmp(a, "--check") == 0) {
      args.check = true;
      if (has_next && argv[i + 1][0] != '-') args.config = argv[++i];
    } else if (std::strcmp(a, "--version") == 0 || std::strcmp(a, "-V") == 0) {
      args.version = true;
    } else if (std::strcmp(a, "--help") == 0 || std::strcmp(a, "-h") == 0) {
      args.help = true;
    } else {
      std::fprintf(stderr, "wsgate: unknown argument '%s'\n", a);
      return false;
    }
  }
  return true;
}

int run_check(const std::string& file) {
  auto load = wsgate::proxy::load_config(file);
  const auto& problems = load.problems;
  for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.to_string().c_str());
  if (!problems.empty()) {
    std::fprintf(stderr, "wsgate: %s: %zu problem(s)\n", file.c_str(), problems.size());
    return 1;
  }
  try {
    (void)wsgate::proxy::build_tls(*load.config);  // certificates and keys load and match
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsgate: %s: %s\n", file.c_str(), e.what());
    return 1;
  }
  std::printf("wsgate: %s: configuration ok\n", file.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "token") == 0) {
    return wsgate::app::run_token_command(argc - 1, argv + 1);
  }
  Args args;
  if (!parse_args(argc, argv, args)) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (args.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args.version) {
    std::printf("wsgate %s\n", WSGATE_VERSION);
    return 0;
  }
  if (args.config.empty()) args.config = kDefaultConfig;
  if (args.check) return run_check(args.config);
  return wsgate::proxy::run_server(args.config);
}
