// The control plane's section of the config: the admin API (address and
// bearer token) and the state file that persists its changes.
#include "proxy/config/loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <system_error>

namespace keel::config::detail {
namespace {

constexpr std::size_t kMaxTokenBytes = 4'096;
constexpr const char* kTokenVariable = "KEEL_ADMIN_TOKEN";

// A Bearer token travels in one header line: visible ASCII, no spaces.
bool is_token_text(std::string_view token) {
  return std::all_of(token.begin(), token.end(), [](char c) { return c > ' ' && c < '\x7f'; });
}

}  // namespace

// Problems name the file, never its content: the secret must not reach a log.
std::optional<std::string> read_secret_file(const std::string& path, std::string& problem) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    problem = "it is a directory";
    return std::nullopt;
  }
  const std::unique_ptr<std::FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    problem = "cannot read it: " + std::generic_category().message(errno);
    return std::nullopt;
  }
  std::string text;
  char buffer[1'024];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, file.get())) {
    text.append(buffer, n);
    if (text.size() > kMaxTokenBytes) {
      problem = "it is larger than " + std::to_string(kMaxTokenBytes) + " bytes";
      return std::nullopt;
    }
  }
  if (std::ferror(file.get()) != 0) {
    problem = "cannot read it: " + std::generic_category().message(errno);
    return std::nullopt;
  }
  while (!text.empty() &&
         (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t'))
    text.pop_back();
  if (text.empty()) {
    problem = "it is empty";
    return std::nullopt;
  }
  if (!is_token_text(text)) {
    problem = "it must be one line of visible ASCII characters, without spaces";
    return std::nullopt;
  }
  return text;
}

namespace {

bool is_loopback(const boost::asio::ip::address& address) {
  if (address.is_v4()) return address.to_v4().is_loopback();
  const auto v6 = address.to_v6();
  return v6.is_loopback() || (v6.is_v4_mapped() &&
                              boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).is_loopback());
}

// Whether two sockets could not both bind, or (with SO_REUSEPORT, which the
// listeners set) would silently share connections. [::] is dual-stack.
bool is_same_socket(const boost::asio::ip::tcp::endpoint& a, const boost::asio::ip::tcp::endpoint& b) {
  if (a.port() == 0 || a.port() != b.port()) return false;
  if (a.address() == b.address()) return true;
  const auto covers = [](const boost::asio::ip::address& wildcard, const boost::asio::ip::address& other) {
    return wildcard.is_unspecified() && (wildcard.is_v6() || other.is_v4());
  };
  return covers(a.address(), b.address()) || covers(b.address(), a.address());
}

}  // namespace

void Loader::load_admin(const Value& value) {
  const auto fields = mapping(value, Keys{.known = {"address", "token_file"}});
  if (!fields) return;
  const std::size_t errors_before = errors_.size();
  AdminConfig admin;
  const auto address_field = require(*fields, "address");
  auto parsed = address_field ? address(*address_field, true) : std::nullopt;
  // A token_file that cannot be used is an error of its own; it still means
  // the operator wants a token, so it does not also earn the loopback error.
  bool wants_token = false;
  if (const Value* field = fields->find("token_file")) {
    wants_token = true;
    if (const auto path = string(*field)) {
      admin.token_file = *path;
      std::string problem;
      if (path->empty())
        error(field->mark, field->path + " must not be empty");
      else if (auto token = read_secret_file(*path, problem))
        admin.token = std::move(*token);
      else
        error(field->mark, field->path + " '" + *path + "': " + problem);
    }
  } else if (const char* token = std::getenv(kTokenVariable); token != nullptr && *token != '\0') {
    wants_token = true;
    if (is_token_text(token))
      admin.token = token;
    else
      error(value.mark,
            std::string(kTokenVariable) + " must be one line of visible ASCII characters, without spaces");
  }
  if (parsed) {
    if (!wants_token && !is_loopback(parsed->endpoint.address()))
      error(address_field->mark, "admin.address " + parsed->text +
                                     " is not a loopback address: set admin.token_file or " + kTokenVariable);
    const auto same =
        std::find_if(config_.listeners.begin(), config_.listeners.end(), [&](const Listener& listener) {
          return is_same_socket(listener.address.endpoint, parsed->endpoint);
        });
    if (same != config_.listeners.end())
      error(address_field->mark, "admin.address " + parsed->text + " overlaps the listener " +
                                     same->address.text + ": the admin API needs its own port");
    admin.address = std::move(*parsed);
  }
  if (errors_.size() == errors_before) config_.admin = std::move(admin);
}

// Only the directory is checked: the file itself appears with the first change.
void Loader::load_state_file(const Value& value) {
  const auto text = string(value);
  if (!text) return;
  if (text->empty()) {
    error(value.mark, "state_file must not be empty");
    return;
  }
  const std::filesystem::path path(*text);
  std::filesystem::path directory = path.parent_path();
  if (directory.empty()) directory = ".";
  std::error_code ec;
  if (!path.has_filename() || std::filesystem::is_directory(path, ec)) {
    error(value.mark, "state_file '" + *text + "' must name a file, not a directory");
    return;
  }
  if (!std::filesystem::is_directory(directory, ec)) {
    const bool exists = std::filesystem::exists(directory, ec);
    error(value.mark, "the directory of state_file '" + *text + "' " +
                          (exists ? "is not a directory: " : "does not exist: ") + directory.string());
    return;
  }
  config_.state_file = *text;
}

}  // namespace keel::config::detail
