#pragma once
// `wsgate token`: mints a demo HS256 JWT for the chat and broker routes (docs/CHAT.md), so that
// trying them out needs no other tool.

namespace wsgate::app {

/// The usage text of `wsgate token`, as `wsgate token --help` prints it.
extern const char* const kTokenUsage;

/// Runs `wsgate token ARGS...` (argv[0] is "token"). On success prints the token and a newline
/// to stdout and returns 0 (also for --help, which prints kTokenUsage). On a bad command line
/// or a missing secret prints "wsgate token: <why>" to stderr and returns 2.
/// Reads the system clock ("iat" is now, "exp" now + --ttl) and, with --secret-env, the
/// environment. Startup-only code: it may allocate freely and never runs on the loop.
int run_token_command(int argc, char** argv);

}  // namespace wsgate::app
