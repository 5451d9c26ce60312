#pragma once
// The whole server: loads the configuration, starts the workers (one HttpServer each on its own
// loop), and runs the main thread's signal loop until SIGINT/SIGTERM.
//
//   SIGINT, SIGTERM  graceful stop: stop accepting, close 1001 to every WebSocket, finish
//                    in-flight responses, exit when drained or after shutdown_timeout.
//   SIGHUP           reload the file: new connections use the new routes and handler settings
//                    (and a reopened access log); existing ones keep theirs. A file with errors
//                    is reported and the running configuration kept. [[listen]] and `workers`
//                    changes need a restart (a warning says so).

#include <string>

namespace wsgate::proxy {

/// Runs wsgate with the configuration at `config_path` until it is told to stop. Returns the
/// process exit code: 0 after a graceful stop, 1 if the configuration or a listener failed.
int run_server(const std::string& config_path);

}  // namespace wsgate::proxy
