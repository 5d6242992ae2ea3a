#include "tests/support/recorded_request.hpp"

#include <boost/beast/core/string.hpp>

#include <stdexcept>

namespace keel::test {

namespace {

bool same_name(std::string_view a, std::string_view b) { return boost::beast::iequals(a, b); }

}  // namespace

bool RecordedRequest::has(std::string_view name) const { return count(name) > 0; }

std::size_t RecordedRequest::count(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& [field, value] : headers) n += same_name(field, name) ? 1 : 0;
  return n;
}

std::optional<std::string> RecordedRequest::header(std::string_view name) const {
  for (const auto& [field, value] : headers)
    if (same_name(field, name)) return value;
  return std::nullopt;
}

const std::string& RecordedRequest::at(std::string_view name) const {
  for (const auto& [field, value] : headers)
    if (same_name(field, name)) return value;
  throw std::out_of_range("request has no header '" + std::string(name) + "'");
}

std::vector<std::string> RecordedRequest::all(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [field, value] : headers)
    if (same_name(field, name)) values.push_back(value);
  return values;
}

}  // namespace keel::test
