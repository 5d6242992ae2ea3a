// The state file: the admin API's changes to pool membership, persisted as
// JSON with an atomic replace so that a crash never leaves half a file.
#include "proxy/control/state_file.hpp"

#include "proxy/config/config.hpp"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <initializer_list>
#include <set>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

namespace keel::control {
namespace {

namespace json = boost::json;

constexpr std::int64_t kMinWeight = config::kMinWeight;
constexpr std::int64_t kMaxWeight = config::kMaxWeight;
constexpr std::size_t kMaxFileBytes = 64 * 1'024 * 1'024;

std::string errno_text(int error) { return std::generic_category().message(error); }

std::string json_string(std::string_view text) { return json::serialize(json::string_view(text)); }

std::string backend_path(const std::string& pool, std::size_t index) {
  return "pools." + pool + "[" + std::to_string(index) + "]";
}

// The rules both the writer and the reader apply, so that keel never writes
// a file it would refuse at the next start.
std::vector<std::string> check(const PersistedState& state) {
  std::vector<std::string> problems;
  for (const auto& [pool, backends] : state.pools) {
    if (pool.empty()) problems.push_back("a pool name is empty");
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < backends.size(); ++i) {
      const PersistedBackend& backend = backends[i];
      const std::string path = backend_path(pool, i);
      std::string problem;
      if (!config::split_host_port(backend.address, problem, false))
        problems.push_back(path + ".address " + json_string(backend.address) +
                           " is not host:port: " + problem);
      if (backend.weight < kMinWeight || backend.weight > kMaxWeight)
        problems.push_back(path + ".weight must be between " + std::to_string(kMinWeight) + " and " +
                           std::to_string(kMaxWeight) + ", got " +
                           std::to_string(backend.weight));
      if (!seen.insert(backend.address).second)
        problems.push_back(path + ": duplicate backend " + json_string(backend.address) + " in pool " +
                           json_string(pool));
    }
  }
  return problems;
}

std::string join(const std::vector<std::string>& problems) {
  std::string text;
  for (const auto& problem : problems) text += (text.empty() ? "" : "; ") + problem;
  return text;
}

// One backend a line: readable, and a change shows as a one-line diff.
std::string to_json_text(const PersistedState& state) {
  std::string text = "{\n  \"version\": " + std::to_string(kStateFileVersion) + ",\n  \"pools\": {";
  bool first_pool = true;
  for (const auto& [pool, backends] : state.pools) {
    text += first_pool ? "\n    " : ",\n    ";
    first_pool = false;
    text += json_string(pool) + ": [";
    for (std::size_t i = 0; i < backends.size(); ++i) {
      const PersistedBackend& backend = backends[i];
      text += i == 0 ? "\n      " : ",\n      ";
      text += "{\"address\": " + json_string(backend.address) +
              ", \"weight\": " + std::to_string(backend.weight) +
              ", \"state\": " + (backend.draining ? "\"draining\"" : "\"active\"") + "}";
    }
    text += backends.empty() ? "]" : "\n    ]";
  }
  text += first_pool ? "}\n}\n" : "\n  }\n}\n";
  return text;
}

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closing can report a late write error (NFS); it must be checked.
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

// Writes, syncs and closes `tmp`; on failure says why.
std::optional<std::string> write_synced(const std::string& tmp, std::string_view data) {
  Descriptor file(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (file.get() < 0) return "cannot create " + tmp + ": " + errno_text(errno);
  while (!data.empty()) {
    const ssize_t n = ::write(file.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return "cannot write " + tmp + ": " + errno_text(errno);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(file.get()) != 0) return "cannot fsync " + tmp + ": " + errno_text(errno);
  if (file.close() != 0) return "cannot close " + tmp + ": " + errno_text(errno);
  return std::nullopt;
}

// The rename is durable only once the directory entry is.
std::optional<std::string> sync_directory(const std::string& path) {
  std::string directory = std::filesystem::path(path).parent_path().string();
  if (directory.empty()) directory = ".";
  Descriptor handle(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (handle.get() < 0) return "cannot open directory " + directory + ": " + errno_text(errno);
  if (::fsync(handle.get()) != 0) return "cannot fsync directory " + directory + ": " + errno_text(errno);
  return std::nullopt;
}

// Boost.JSON keeps the last of duplicate keys; a hand-edited file with a pool
// written twice would silently lose one. This pass finds them first.
class DuplicateKeyFinder {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  std::optional<std::string> duplicate;  // "duplicate key "web" in pools"

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) {
    levels_.push_back({take_name(), true, {}});
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) { return end_level(); }
  bool on_array_begin(boost::system::error_code&) {
    levels_.push_back({take_name() + "[]", false, {}});
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) { return end_level(); }
  bool on_key_part(std::string_view part, std::size_t, boost::system::error_code&) {
    key_ += part;
    return true;
  }
  bool on_key(std::string_view part, std::size_t, boost::system::error_code&) {
    key_ += part;
    Level& level = levels_.back();
    if (!level.keys.insert(key_).second && !duplicate) {
      duplicate = "duplicate key " + json_string(key_) +
                  (level.name.empty() ? std::string(" at the top level") : " in " + level.name);
    }
    pending_name_ = level.name.empty() ? key_ : level.name + "." + key_;
    key_.clear();
    return true;
  }
  bool on_string_part(std::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string(std::string_view, std::size_t, boost::system::error_code&) { return scalar(); }
  bool on_number_part(std::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t, std::string_view, boost::system::error_code&) { return scalar(); }
  bool on_uint64(std::uint64_t, std::string_view, boost::system::error_code&) { return scalar(); }
  bool on_double(double, std::string_view, boost::system::error_code&) { return scalar(); }
  bool on_bool(bool, boost::system::error_code&) { return scalar(); }
  bool on_null(boost::system::error_code&) { return scalar(); }
  bool on_comment_part(std::string_view, boost::system::error_code&) { return true; }
  bool on_comment(std::string_view, boost::system::error_code&) { return true; }

 private:
  struct Level {
    std::string name;  // "pools.web[]"
    bool is_object;
    std::set<std::string> keys;
  };

  // The name of the value about to start: the last key in an object, or the
  // array's own name with [] for an element.
  std::string take_name() {
    if (levels_.empty()) return "";
    if (!levels_.back().is_object) return levels_.back().name;
    return std::exchange(pending_name_, "");
  }
  bool scalar() {
    pending_name_.clear();
    return true;
  }
  bool end_level() {
    levels_.pop_back();
    return true;
  }

  std::vector<Level> levels_;
  std::string key_;
  std::string pending_name_;
};

// "line 3, column 7" of a byte offset, for syntax errors.
std::string position_text(std::string_view text, std::size_t offset) {
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

std::string kind_of(const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
      return "an integer";
    case json::kind::double_:
      return "a number with a fraction";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "something else";
}

// Type checks while converting; the value rules come after, in check().
class Converter {
 public:
  std::optional<PersistedState> convert(const json::value& root) {
    const json::object* top = root.if_object();
    if (top == nullptr) {
      problems_.push_back("expected a JSON object at the top level, got " + kind_of(root));
      return std::nullopt;
    }
    unknown_keys(*top, {"version", "pools"}, "at the top level");
    const json::value* version = top->if_contains("version");
    if (version == nullptr) {
      problems_.push_back("missing \"version\"");
    } else if (!version->is_int64() && !version->is_uint64()) {
      problems_.push_back("\"version\" must be an integer, got " + kind_of(*version));
    } else if (!version->is_int64() || version->as_int64() != kStateFileVersion) {
      problems_.push_back("unsupported version " + json::serialize(*version) + " (this keel reads version " +
                          std::to_string(kStateFileVersion) + ")");
      return std::nullopt;  // a newer format: its other problems would only mislead
    }
    PersistedState state;
    const json::value* pools = top->if_contains("pools");
    if (pools == nullptr) {
      problems_.push_back("missing \"pools\"");
    } else if (!pools->is_object()) {
      problems_.push_back("\"pools\" must be an object, got " + kind_of(*pools));
    } else {
      for (const auto& [name, backends] : pools->as_object())
        state.pools[std::string(name)] = convert_pool(std::string(name), backends);
    }
    if (!problems_.empty()) return std::nullopt;
    return state;
  }

  std::vector<std::string>& problems() { return problems_; }

 private:
  std::vector<PersistedBackend> convert_pool(const std::string& name, const json::value& value) {
    std::vector<PersistedBackend> backends;
    const json::array* items = value.if_array();
    if (items == nullptr) {
      problems_.push_back("pools." + name + " must be an array of backends, got " + kind_of(value));
      return backends;
    }
    for (std::size_t i = 0; i < items->size(); ++i) {
      if (auto backend = convert_backend(backend_path(name, i), (*items)[i])) backends.push_back(*backend);
    }
    return backends;
  }

  std::optional<PersistedBackend> convert_backend(const std::string& path, const json::value& value) {
    const json::object* fields = value.if_object();
    if (fields == nullptr) {
      problems_.push_back(path + " must be an object, got " + kind_of(value));
      return std::nullopt;
    }
    const std::size_t problems_before = problems_.size();
    unknown_keys(*fields, {"address", "weight", "state"}, "in " + path);
    PersistedBackend backend;
    if (const json::value* address = fields->if_contains("address"); address == nullptr)
      problems_.push_back(path + ": missing \"address\"");
    else if (!address->is_string())
      problems_.push_back(path + ".address must be a string, got " + kind_of(*address));
    else
      backend.address = std::string(address->as_string());
    if (const json::value* weight = fields->if_contains("weight")) {
      const auto number = weight->is_int64()    ? std::optional<std::int64_t>(weight->as_int64())
                          : weight->is_uint64() ? std::optional<std::int64_t>(kMaxWeight + 1)
                                                : std::nullopt;
      if (!number)
        problems_.push_back(path + ".weight must be an integer, got " + kind_of(*weight));
      else if (*number < kMinWeight || *number > kMaxWeight)
        problems_.push_back(path + ".weight must be between " + std::to_string(kMinWeight) + " and " +
                            std::to_string(kMaxWeight) + ", got " + json::serialize(*weight));
      else
        backend.weight = static_cast<std::uint32_t>(*number);
    }
    if (const json::value* state = fields->if_contains("state")) {
      if (!state->is_string())
        problems_.push_back(path + ".state must be a string, got " + kind_of(*state));
      else if (state->as_string() == "draining")
        backend.draining = true;
      else if (state->as_string() != "active")
        problems_.push_back(path + ".state must be \"active\" or \"draining\", got " +
                            json::serialize(*state));
    }
    if (problems_.size() != problems_before) return std::nullopt;
    return backend;
  }

  void unknown_keys(const json::object& object, std::initializer_list<std::string_view> known,
                    const std::string& where) {
    for (const auto& entry : object)
      if (std::find(known.begin(), known.end(), entry.key()) == known.end())
        problems_.push_back("unknown key " + json_string(entry.key()) + " " + where);
  }

  std::vector<std::string> problems_;
};

StateLoad failed(const std::string& path, const std::string& problem) {
  return StateLoad{.state = std::nullopt, .missing = false, .error = "state file " + path + ": " + problem};
}

}  // namespace

std::optional<std::string> write_state_file(const std::string& path, const PersistedState& state) {
  const std::string prefix = "cannot write state file " + path + ": ";
  try {
    if (const auto problems = check(state); !problems.empty()) return prefix + join(problems);
    const std::string tmp = path + ".tmp";
    if (auto problem = write_synced(tmp, to_json_text(state))) {
      ::unlink(tmp.c_str());
      return prefix + *problem;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      const int error = errno;
      ::unlink(tmp.c_str());
      return prefix + "cannot rename " + tmp + ": " + errno_text(error);
    }
    if (auto problem = sync_directory(path)) return prefix + *problem;
    return std::nullopt;
  } catch (const std::exception& unexpected) {
    return prefix + unexpected.what();
  }
}

StateLoad read_state_file(const std::string& path) {
  try {
    Descriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0) {
      if (errno == ENOENT) return StateLoad{.state = std::nullopt, .missing = true, .error = {}};
      return failed(path, "cannot read it: " + errno_text(errno));
    }
    struct stat info {};
    if (::fstat(file.get(), &info) != 0) return failed(path, "cannot read it: " + errno_text(errno));
    if (S_ISDIR(info.st_mode)) return failed(path, "cannot read it: it is a directory");
    std::string text;
    char buffer[64 * 1'024];
    for (;;) {
      const ssize_t n = ::read(file.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return failed(path, "cannot read it: " + errno_text(errno));
      if (n == 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
      if (text.size() > kMaxFileBytes) return failed(path, "larger than 64 MiB");
    }
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
      return failed(path, "it is empty (expected a JSON object with \"version\" and \"pools\")");

    json::basic_parser<DuplicateKeyFinder> syntax{json::parse_options{}};
    boost::system::error_code ec;
    const std::size_t consumed = syntax.write_some(false, text.data(), text.size(), ec);
    if (ec) return failed(path, "invalid JSON at " + position_text(text, consumed) + ": " + ec.message());
    // The parser stops after one value; anything but whitespace after it is an error.
    if (const auto extra = text.find_first_not_of(" \t\r\n", consumed); extra != std::string::npos)
      return failed(path,
                    "invalid JSON at " + position_text(text, extra) + ": data after the end of the object");
    if (syntax.handler().duplicate) return failed(path, *syntax.handler().duplicate);

    const json::value root = json::parse(text, ec);
    if (ec) return failed(path, "invalid JSON: " + ec.message());
    Converter converter;
    auto state = converter.convert(root);
    if (state) converter.problems() = check(*state);
    if (!converter.problems().empty()) return failed(path, join(converter.problems()));
    return StateLoad{.state = std::move(state), .missing = false, .error = {}};
  } catch (const std::exception& unexpected) {
    return failed(path, std::string("cannot read it: ") + unexpected.what());
  }
}

std::optional<PersistedState> load_state_file(const std::string& path) {
  if (path.empty()) return std::nullopt;
  StateLoad loaded = read_state_file(path);
  if (loaded.missing) return std::nullopt;
  if (!loaded.state) throw std::runtime_error(loaded.error);
  return std::move(loaded.state);
}

}  // namespace keel::control
