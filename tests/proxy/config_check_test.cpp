#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "proxy/config_check.hpp"

using wsgate::proxy::check_config_file;

namespace {

// Writes `text` to a fresh file in the temp directory and returns its path.
std::string write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("wsgate_test_" + name + ".toml");
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("config check accepts the known sections", "[proxy][config]") {
  const auto path = write_temp("ok", R"(
[server]
workers = 2
[[listen]]
address = "127.0.0.1:8080"
[[route]]
path = "/echo"
kind = "echo"
[upstream.app]
servers = ["127.0.0.1:3000"]
)");
  CHECK(check_config_file(path).empty());
}

TEST_CASE("config check reports a syntax error with line and column", "[proxy][config]") {
  const auto path = write_temp("syntax", "[server]\nworkers = = 2\n");
  const auto problems = check_config_file(path);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].file == path);
  CHECK(problems[0].line == 2);
  CHECK(problems[0].column > 0);
  CHECK(problems[0].to_string().rfind(path + ":2:", 0) == 0);
}

TEST_CASE("config check names unknown keys and wrong shapes", "[proxy][config]") {
  const auto path = write_temp("unknown", "[sever]\nworkers = 1\n\n[listen]\naddress = \"x\"\n");
  const auto problems = check_config_file(path);
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].line == 1);
  CHECK(problems[0].message.find("unknown top-level key 'sever'") != std::string::npos);
  CHECK(problems[1].line == 4);
  CHECK(problems[1].message.find("[[listen]]") != std::string::npos);
}

TEST_CASE("config check reports a missing file", "[proxy][config]") {
  const auto problems = check_config_file("/nonexistent/wsgate.toml");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].file == "/nonexistent/wsgate.toml");
}
