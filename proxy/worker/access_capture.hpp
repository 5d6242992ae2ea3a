// What the access log needs from a request head, copied before the head's bytes
// are consumed (the parser's views die with them). Only filled when the access
// log is on; the strings keep their capacity, so no allocation once grown.
#pragma once

#include "proxy/http/head_parser.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace keel::worker {

struct AccessCapture {
  bool captured = false;
  int version = 11;
  std::chrono::system_clock::time_point time{};
  std::string method;
  std::string target;
  std::string host;
  std::string referer;
  std::string user_agent;

  // Forgets the request, keeping the strings' capacity.
  void clear() {
    captured = false;
    method.clear();
    target.clear();
    host.clear();
    referer.clear();
    user_agent.clear();
  }

  void capture(const http::RequestParser& parser, std::string_view host_value) {
    captured = true;
    version = parser.version();
    time = std::chrono::system_clock::now();
    method.assign(parser.method_text());
    target.assign(parser.target());
    host.assign(host_value);
    referer.clear();
    user_agent.clear();
    for (const auto& field : parser.fields()) {
      if (field.id == http::beast_http::field::referer)
        referer.assign(field.value);
      else if (field.id == http::beast_http::field::user_agent)
        user_agent.assign(field.value);
    }
  }
};

}  // namespace keel::worker
