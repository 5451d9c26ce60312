#pragma once
// Syntax and top-level structure check of a wsgate TOML file (what `wsgate --check` runs).
// The full typed configuration (every key of docs/CONFIG.md) arrives with the server layer;
// this check already reports every problem compiler-style as file:line:col: message.

#include <string>
#include <vector>

namespace wsgate::proxy {

/// One problem found in a config file. line/column are 1-based; 0 when unknown.
struct ConfigDiagnostic {
  std::string file;
  unsigned line = 0;
  unsigned column = 0;
  std::string message;

  /// "file:line:col: message"
  std::string to_string() const;
};

/// Parses `path` as TOML and checks that every top-level key is one wsgate knows
/// (`server`, `listen`, `route`, `upstream`) with the right shape (table, array of tables).
/// Returns every problem found; empty means the file passed. Never throws.
std::vector<ConfigDiagnostic> check_config_file(const std::string& path);

}  // namespace wsgate::proxy
