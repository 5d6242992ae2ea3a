// A config (or any) file in the test's temp dir, removed by the destructor.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace keel::test {

class TempConfig {
 public:
  explicit TempConfig(const std::string& yaml, const std::string& suffix = ".yaml")
      : path_(::testing::TempDir() + "keel-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++) +
              suffix) {
    write(yaml);
  }
  ~TempConfig() { std::remove(path_.c_str()); }
  TempConfig(const TempConfig&) = delete;
  TempConfig& operator=(const TempConfig&) = delete;

  void write(const std::string& yaml) const { std::ofstream(path_) << yaml; }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

}  // namespace keel::test
