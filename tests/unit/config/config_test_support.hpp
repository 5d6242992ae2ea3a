#pragma once

// Helpers shared by the config loader's tests.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/config.hpp"

namespace keel::config {

// Two lines each, valid: the context most cases need.
inline const std::string kListener = "listeners:\n  - address: 127.0.0.1:0\n";
inline const std::string kPool = "pools:\n  - name: web\n";

// Raw strings start on the line after R"( so that line 1 of the YAML is the
// first line shown.
inline std::string yaml(std::string_view text) {
  if (text.starts_with('\n')) text.remove_prefix(1);
  return std::string(text);
}

inline Config load_ok(const std::string& text) {
  auto loaded = parse_config(text, "test.yaml");
  std::string errors;
  for (const auto& error : loaded.errors) errors += error.to_string() + "\n";
  EXPECT_TRUE(loaded.config) << errors;
  EXPECT_TRUE(loaded.errors.empty()) << errors;
  return loaded.config.value_or(Config{});
}

struct ErrorCase {
  std::string yaml;
  std::vector<std::string> errors;  // "LINE:COL: message", in order
};

inline std::vector<std::string> errors_of(const std::string& yaml) {
  const auto loaded = parse_config(yaml, "test.yaml");
  EXPECT_FALSE(loaded.config);
  std::vector<std::string> rendered;
  for (const auto& error : loaded.errors) {
    EXPECT_EQ(error.file, "test.yaml");
    rendered.push_back(std::to_string(error.line) + ":" + std::to_string(error.column) + ": " +
                       error.message);
  }
  return rendered;
}

inline void expect_errors(const std::vector<ErrorCase>& cases) {
  for (const auto& c : cases) EXPECT_EQ(errors_of(c.yaml), c.errors) << "--- config:\n" << c.yaml;
}

// Sets (or, with nullopt, unsets) an environment variable for one scope.
// Tests run one at a time in a process, so this is safe there.
class ScopedEnvironment {
 public:
  ScopedEnvironment(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value)
      ::setenv(name_.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;
  ~ScopedEnvironment() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// A fresh directory under ::testing::TempDir(), removed with everything in it.
// Unique per process and object, since ctest may run tests in parallel.
class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    static std::atomic<int> counter{0};
    path_ = ::testing::TempDir() + "keel-config-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter++);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ignored);
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const { return path_; }
  // Writes `content` to `name` in the directory and returns its path.
  std::string file(const std::string& name, const std::string& content) const {
    const std::string file_path = path_ + "/" + name;
    std::ofstream(file_path, std::ios::binary) << content;
    return file_path;
  }

 private:
  std::string path_;
};

}  // namespace keel::config
