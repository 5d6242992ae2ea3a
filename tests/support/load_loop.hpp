// A load loop for tests that change keel under traffic: a few connections send
// GETs until stopped and count every answer that is not 200.
#pragma once

#include "tests/support/test_client.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace keel::test {

class LoadLoop {
 public:
  explicit LoadLoop(std::string address, int connections = 4) {
    for (int i = 0; i < connections; ++i)
      threads_.emplace_back([this, address] {
        TestClient client{address};
        while (!stop_) {
          auto response = client.get("/load");
          ++requests_;
          if (response.result() != http::status::ok) {
            ++failures_;
            client.reconnect();
          }
        }
      });
  }
  ~LoadLoop() { stop(); }
  LoadLoop(const LoadLoop&) = delete;
  LoadLoop& operator=(const LoadLoop&) = delete;

  void stop() {
    stop_ = true;
    for (auto& thread : threads_)
      if (thread.joinable()) thread.join();
  }
  int failures() const { return failures_; }
  int requests() const { return requests_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> failures_{0};
  std::atomic<int> requests_{0};
  std::vector<std::thread> threads_;
};

}  // namespace keel::test
