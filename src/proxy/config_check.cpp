#include "proxy/config_check.hpp"

#include <toml++/toml.h>
#include <algorithm>
#include <string_view>

namespace wsgate::proxy {

namespace {

enum class Shape { table, array_of_tables };

struct Section {
  std::string_view name;
  Shape shape;
};

constexpr Section kSections[] = {
    {"server", Shape::table},
    {"listen", Shape::array_of_tables},
    {"route", Shape::array_of_tables},
    {"upstream", Shape::table},
};

ConfigDiagnostic at(const std::string& file, const toml::source_region& where, std::string msg) {
  return ConfigDiagnostic{file, static_cast<unsigned>(where.begin.line),
                          static_cast<unsigned>(where.begin.column), std::move(msg)};
}

void check_section(const std::string& file, const Section& s, const toml::node& node,
                   std::vector<ConfigDiagnostic>& out) {
  const std::string name(s.name);
  if (s.shape == Shape::table && !node.is_table()) {
    out.push_back(at(file, node.source(), "'" + name + "' must be a table ([" + name + "])"));
  } else if (s.shape == Shape::array_of_tables && !node.is_array_of_tables()) {
    out.push_back(
        at(file, node.source(), "'" + name + "' must be an array of tables ([[" + name + "]])"));
  }
}

}  // namespace

std::string ConfigDiagnostic::to_string() const {
  std::string s = file;
  if (line != 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
  return s + ": " + message;
}

std::vector<ConfigDiagnostic> check_config_file(const std::string& path) {
  std::vector<ConfigDiagnostic> out;
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& err) {
    out.push_back(at(path, err.source(), std::string(err.description())));
    return out;
  }
  for (const auto& [key, node] : root) {
    const Section* found = nullptr;
    for (const Section& s : kSections) {
      if (s.name == key.str()) found = &s;
    }
    if (found == nullptr) {
      out.push_back(at(path, key.source(),
                       "unknown top-level key '" + std::string(key.str()) +
                           "' (expected server, listen, route or upstream)"));
      continue;
    }
    check_section(path, *found, node, out);
  }
  // toml++ iterates keys in sorted order; report in file order, as a compiler would.
  std::stable_sort(out.begin(), out.end(),
                   [](const ConfigDiagnostic& a, const ConfigDiagnostic& b) {
                     return a.line != b.line ? a.line < b.line : a.column < b.column;
                   });
  return out;
}

}  // namespace wsgate::proxy
